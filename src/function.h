/* function.h — a function: one invoker instance (src/invoke/) with a concurrency limit shared by every
 * route that uses it, the jobs waiting for its capacity (batches and direct invocations, oldest first),
 * and the direct invocations of the Invoke API.
 *
 * Engine-internal. function.c owns struct trg_function and is the only file that creates or destroys an
 * invoker instance. Going up, it calls its owner's has_capacity callback.
 */
#ifndef TRG_FUNCTION_H
#define TRG_FUNCTION_H

#include <stdbool.h>
#include <stddef.h>

#include "invoke/invoke.h"
#include "list.h"

struct trg_config;
struct trg_core;
struct trg_function;
struct trg_function_conf;

/* Something waiting for a function's capacity: a batch, or a direct invocation. */
struct trg_job {
    struct trg_list link;     /* in fn->waiting */
    void (*run)(struct trg_job *job);
};

/* What a function tells its owner (from the loop). */
struct trg_function_owner {
    /* The function has capacity again (an invocation finished): let the routes that use it cut batches.
     * Also called for a retired function, which may be freed once it has no users and nothing in flight. */
    void (*has_capacity)(void *arg, struct trg_function *fn);
    void *arg;
};

struct trg_function {
    struct trg_list link;      /* in the engine's functions */
    char *name;
    struct trg_core *core;     /* borrowed from the owner */
    const struct trg_function_owner *owner;
    struct trg_config *cfg;    /* holds conf and the invoker's options; referenced */
    const struct trg_function_conf *conf;
    void *inst;                /* the invoker instance */
    int inflight;
    struct trg_list waiting;   /* jobs waiting for capacity, oldest first */
    int users;                 /* routes and direct invocations referring to it */
    bool retired;
};

/* Create a function and its invoker instance. core and owner are borrowed and must outlive it; cfg is
 * referenced for the function's lifetime. */
int trg_function_create(struct trg_core *core, const struct trg_function_owner *owner, struct trg_config *cfg,
                        const struct trg_function_conf *conf, struct trg_function **out);
/* Destroy: in-flight invocations are cancelled without callbacks; direct invocations (waiting or in flight)
 * hear a "Shutdown" error. NULL is a no-op. */
void trg_function_destroy(struct trg_function *fn);
/* Cancel every invocation in flight (shutdown's abandon): the invoker instance is destroyed without its
 * callbacks and the function takes no more work. */
void trg_function_cancel(struct trg_function *fn);
/* Answer every direct invocation, waiting or in flight, with a "Shutdown" error (outcome error, status -1,
 * function_error "Shutdown") and forget it: shutdown's abandon, after trg_function_cancel(). */
void trg_function_fail_directs(struct trg_function *fn);
/* How many direct invocations the function holds (waiting or in flight): shutdown drains them too. */
size_t trg_function_directs(const struct trg_function *fn);
/* Could one more job start now (in flight plus waiting below max_concurrency)? */
bool trg_function_has_capacity(const struct trg_function *fn);

/* Run job now when there is capacity and nobody waits, else queue it (job->run is called later). */
void trg_function_submit(struct trg_function *fn, struct trg_job *job);
/* Take job out of the waiting queue (no-op when it is not waiting). */
void trg_function_unqueue(struct trg_function *fn, struct trg_job *job);
/* Start one invocation on the invoker. It counts as in flight from now: call trg_function_done() once
 * when its result is in — also when this returns an error, after which cb is never called (the caller
 * makes the result). */
int trg_function_invoke(struct trg_function *fn, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg);
/* An invocation's result is in: it no longer counts in flight; the invocation metrics are counted. */
void trg_function_done(struct trg_function *fn, const struct trg_invoke_result *res);
/* Start waiting jobs while there is capacity, then tell the owner (has_capacity). */
void trg_function_pump(struct trg_function *fn);

/* Direct invocation (Invoke API, Event invocations), within the concurrency limit; call is copied; cb called
 * once, later. TRG_EFULL (and cb never called) when call->no_wait and the function has no capacity
 * (trg_function_has_capacity). */
int trg_function_invoke_direct(struct trg_function *fn, const struct trg_direct_call *call, trg_invoke_cb cb,
                               void *arg);

#endif
