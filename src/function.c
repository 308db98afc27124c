/* function.c — functions: an invoker instance within its concurrency limit, the queue of jobs waiting for
 * capacity, and direct invocations (Invoke API). The only place that creates and destroys invokers. */
#include "function.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "metrics.h"

/* A direct invocation (Invoke API) waiting for or using capacity. */
struct direct_job {
    struct trg_job job;
    struct trg_list link;      /* in the function's directs */
    struct trg_function *fn;
    char *payload;
    size_t len;
    char *client_context; /* or NULL */
    char request_id[40];
    trg_invoke_cb cb;
    void *arg;
};

static struct trg_list *directs_of(struct trg_function *fn);

/* Functions keep their direct jobs in a list hidden behind the waiting list's owner. */
struct function_private {
    struct trg_function pub;
    struct trg_list directs;
    size_t n_directs; /* in directs */
    size_t n_waiting;
};
#define PRIV(fn) ((struct function_private *)(fn))

static struct trg_list *directs_of(struct trg_function *fn) { return &PRIV(fn)->directs; }

int trg_function_create(struct trg_core *core, const struct trg_function_owner *owner, struct trg_config *cfg,
                        const struct trg_function_conf *conf, struct trg_function **out)
{
    struct function_private *p = trg_calloc(1, sizeof *p);
    if (!p)
        return TRG_ENOMEM;
    struct trg_function *fn = &p->pub;
    fn->name = trg_strdup(conf->name);
    if (!fn->name) {
        trg_free(p);
        return TRG_ENOMEM;
    }
    int rc = conf->ops->create(core->loop, conf->name, conf->opts, &fn->inst);
    if (rc != 0) {
        trg_error("function", conf->name, "cannot create the %s function: %s", conf->type, trg_strerror(rc));
        trg_free(fn->name);
        trg_free(p);
        return rc;
    }
    if (conf->ops->bind)
        conf->ops->bind(fn->inst,
                        &(struct trg_invoke_host){core->metrics, conf->max_concurrency, conf->timeout_ms});
    fn->core = core;
    fn->owner = owner;
    fn->cfg = cfg;
    trg_config_ref(cfg);
    fn->conf = conf;
    trg_list_init(&fn->link);
    trg_list_init(&fn->waiting);
    trg_list_init(&p->directs);
    *out = fn;
    return 0;
}

/* Take d out of the function's lists and free it (its callback was called). */
static void direct_free(struct trg_function *fn, struct direct_job *d)
{
    trg_list_remove(&d->link);
    PRIV(fn)->n_directs--;
    trg_free(d->payload);
    trg_free(d->client_context);
    trg_free(d);
    fn->users--;
}

void trg_function_fail_directs(struct trg_function *fn)
{
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, directs_of(fn))
    {
        struct direct_job *d = trg_list_entry(pos, struct direct_job, link);
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1, .function_error = "Shutdown",
                                        .retry_after_ms = -1};
        trg_function_unqueue(fn, &d->job);
        d->cb(d->arg, &res);
        direct_free(fn, d);
    }
}

size_t trg_function_directs(const struct trg_function *fn) { return PRIV(fn)->n_directs; }

void trg_function_destroy(struct trg_function *fn)
{
    if (!fn)
        return;
    if (fn->inst)
        fn->conf->ops->destroy(fn->inst);
    fn->inst = NULL;
    trg_function_fail_directs(fn);
    trg_list_remove(&fn->link);
    trg_config_unref(fn->cfg);
    trg_free(fn->name);
    trg_free(PRIV(fn));
}

void trg_function_cancel(struct trg_function *fn)
{
    if (fn->inst) {
        fn->conf->ops->destroy(fn->inst);
        fn->inst = NULL;
    }
}

bool trg_function_has_capacity(const struct trg_function *fn)
{
    return fn->inst && (size_t)fn->inflight + PRIV(fn)->n_waiting < (size_t)fn->conf->max_concurrency;
}

void trg_function_unqueue(struct trg_function *fn, struct trg_job *job)
{
    if (!trg_list_linked(&job->link))
        return;
    trg_list_remove(&job->link);
    PRIV(fn)->n_waiting--;
}

static void set_inflight(struct trg_function *fn)
{
    trg_metrics_set(fn->core->metrics, TRG_M_INFLIGHT, fn->name, NULL, (double)fn->inflight);
}

void trg_function_pump(struct trg_function *fn)
{
    while (fn->inst && fn->inflight < fn->conf->max_concurrency && !trg_list_empty(&fn->waiting)) {
        struct trg_job *job = trg_list_first(&fn->waiting, struct trg_job, link);
        trg_list_remove(&job->link);
        PRIV(fn)->n_waiting--;
        job->run(job);
    }
    fn->owner->has_capacity(fn->owner->arg, fn);
}

void trg_function_submit(struct trg_function *fn, struct trg_job *job)
{
    if (fn->inst && fn->inflight < fn->conf->max_concurrency && trg_list_empty(&fn->waiting)) {
        job->run(job);
        return;
    }
    trg_list_push_back(&fn->waiting, &job->link);
    PRIV(fn)->n_waiting++;
}

int trg_function_invoke(struct trg_function *fn, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    fn->inflight++;
    set_inflight(fn);
    int rc = fn->conf->ops->invoke(fn->inst, req, cb, arg);
    if (rc != 0)
        trg_error("function", fn->name, "cannot invoke: %s", trg_strerror(rc));
    return rc;
}

void trg_function_done(struct trg_function *fn, const struct trg_invoke_result *res)
{
    fn->inflight--;
    set_inflight(fn);
    trg_metrics_add(fn->core->metrics, TRG_M_INVOCATIONS, fn->name, trg_outcome_name(res->outcome), 1);
    trg_metrics_observe(fn->core->metrics, TRG_M_INVOCATION_DURATION, fn->name, res->duration_ms / 1000.0);
}

/* --- direct invocations --- */

static void direct_result(void *arg, struct trg_invoke_result *res)
{
    struct direct_job *d = arg;
    struct trg_function *fn = d->fn;
    trg_function_done(fn, res);
    d->cb(d->arg, res);
    direct_free(fn, d);
    trg_function_pump(fn);
}

static void run_direct(struct trg_job *job)
{
    struct direct_job *d = (struct direct_job *)job;
    struct trg_function *fn = d->fn;
    struct trg_invoke_req req = {.function = fn->name,
                                 .request_id = d->request_id,
                                 .payload = d->payload,
                                 .len = d->len,
                                 .timeout_ms = fn->conf->timeout_ms,
                                 .client_context = d->client_context};
    if (trg_function_invoke(fn, &req, direct_result, d) != 0) {
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1,
                                        .function_error = (char *)"InvokeFailed", .retry_after_ms = -1};
        direct_result(d, &res);
    }
}

int trg_function_invoke_direct(struct trg_function *fn, const struct trg_direct_call *call, trg_invoke_cb cb,
                               void *arg)
{
    if (call->no_wait && !trg_function_has_capacity(fn)) {
        trg_metrics_add(fn->core->metrics, TRG_M_INVOCATIONS, fn->name, trg_outcome_name(TRG_OUT_THROTTLED), 1);
        return TRG_EFULL;
    }
    const char *request_id = call->request_id;
    struct direct_job *d = trg_calloc(1, sizeof *d);
    if (!d || !(d->payload = trg_strndup(call->payload, call->len)) ||
        (call->client_context && !(d->client_context = trg_strdup(call->client_context)))) {
        if (d)
            trg_free(d->payload);
        trg_free(d);
        return TRG_ENOMEM;
    }
    d->len = call->len;
    d->fn = fn;
    d->cb = cb;
    d->arg = arg;
    d->job.run = run_direct;
    trg_list_init(&d->job.link);
    if (request_id && *request_id)
        snprintf(d->request_id, sizeof d->request_id, "%s", request_id);
    else
        trg_core_request_id(fn->core, d->request_id);
    trg_list_push_back(directs_of(fn), &d->link);
    PRIV(fn)->n_directs++;
    fn->users++;
    trg_function_submit(fn, &d->job);
    return 0;
}
