/* dispatch.h — functions: invoker instances with a concurrency limit, and what happens to a batch
 * after its invocation (success, partial failure, retry with backoff, bisect, DLQ).
 *
 * Engine-internal.
 */
#ifndef TRG_DISPATCH_H
#define TRG_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "invoke/invoke.h"
#include "list.h"

struct trg_config;
struct trg_core;
struct trg_function;
struct trg_function_conf;
struct trg_batch;
struct trg_job;

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
/* Destroy: in-flight invocations are cancelled without callbacks. */
void trg_function_destroy(struct trg_function *fn);
bool trg_function_has_capacity(const struct trg_function *fn);
/* Cancel every invocation in flight (shutdown's abandon): the invoker instance is destroyed without its
 * callbacks and the function takes no more work. */
void trg_function_cancel(struct trg_function *fn);

/* Send a batch to its route's function now or as soon as the function has capacity. */
void trg_dispatch_batch(struct trg_batch *b);
/* Direct invocation (Invoke API); payload copied; cb called once, later. */
int trg_dispatch_direct(struct trg_function *fn, const char *payload, size_t len, trg_invoke_cb cb, void *arg);
/* Remove a job from the function's waiting list (no-op when it is not waiting). */
void trg_dispatch_unqueue(struct trg_function *fn, struct trg_job *job);

#endif
