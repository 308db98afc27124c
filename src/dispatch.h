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

struct trg_engine;
struct trg_config;
struct trg_function_conf;
struct trg_batch;
struct trg_job;

struct trg_function {
    struct trg_list link;      /* in the engine's functions */
    char *name;
    struct trg_engine *engine;
    struct trg_config *cfg;    /* holds conf and the invoker's options; referenced */
    const struct trg_function_conf *conf;
    void *inst;                /* the invoker instance */
    int inflight;
    struct trg_list waiting;   /* jobs waiting for capacity, oldest first */
    int users;                 /* routes and direct invocations referring to it */
    bool retired;
};

/* Create a function and its invoker instance. cfg is referenced for the function's lifetime. */
int trg_function_create(struct trg_engine *e, struct trg_config *cfg, const struct trg_function_conf *conf,
                        struct trg_function **out);
/* Destroy: in-flight invocations are cancelled without callbacks. */
void trg_function_destroy(struct trg_function *fn);
bool trg_function_has_capacity(const struct trg_function *fn);

/* Send a batch to its route's function now or as soon as the function has capacity. */
void trg_dispatch_batch(struct trg_batch *b);
/* Direct invocation (Invoke API); payload copied; cb called once, later. */
int trg_dispatch_direct(struct trg_function *fn, const char *payload, size_t len, trg_invoke_cb cb, void *arg);
/* Remove a job from the function's waiting list (no-op when it is not waiting). */
void trg_dispatch_unqueue(struct trg_function *fn, struct trg_job *job);

#endif
