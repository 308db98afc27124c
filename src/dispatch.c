/* dispatch.c — invoking functions within their concurrency, and the fate of a batch afterwards. */
#include "dispatch.h"

#include <ev.h>
#include <string.h>

#include "config.h"
#include "fate.h"
#include "connectors/connector.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "retry.h"
#include "route.h"

/* A direct invocation (Invoke API) waiting for or using capacity. */
struct direct_job {
    struct trg_job job;
    struct trg_list link;      /* in the function's directs */
    struct trg_function *fn;
    char *payload;
    size_t len;
    char request_id[40];
    trg_invoke_cb cb;
    void *arg;
};

static struct trg_list *directs_of(struct trg_function *fn);

/* Functions keep their direct jobs in a list hidden behind the waiting list's owner. */
struct function_private {
    struct trg_function pub;
    struct trg_list directs;
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

void trg_function_destroy(struct trg_function *fn)
{
    if (!fn)
        return;
    if (fn->inst)
        fn->conf->ops->destroy(fn->inst);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, directs_of(fn))
    {
        struct direct_job *d = trg_list_entry(pos, struct direct_job, link);
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1, .function_error = "Shutdown",
                                        .retry_after_ms = -1};
        trg_list_remove(&d->link);
        d->cb(d->arg, &res);
        trg_free(d->payload);
        trg_free(d);
    }
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

void trg_dispatch_unqueue(struct trg_function *fn, struct trg_job *job)
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

/* Start waiting jobs while there is capacity, then let the routes cut new batches. */
static void capacity_freed(struct trg_function *fn)
{
    while (fn->inst && fn->inflight < fn->conf->max_concurrency && !trg_list_empty(&fn->waiting)) {
        struct trg_job *job = trg_list_first(&fn->waiting, struct trg_job, link);
        trg_list_remove(&job->link);
        PRIV(fn)->n_waiting--;
        job->run(job);
    }
    fn->owner->has_capacity(fn->owner->arg, fn);
}

static void enqueue_or_run(struct trg_function *fn, struct trg_job *job)
{
    if (fn->inst && fn->inflight < fn->conf->max_concurrency && trg_list_empty(&fn->waiting)) {
        job->run(job);
        return;
    }
    trg_list_push_back(&fn->waiting, &job->link);
    PRIV(fn)->n_waiting++;
}

/* --- batches --- */

static void invoke_batch(struct trg_job *job);
static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Split the batch: the second half leaves it, to the front of an ordered lane (after the first half in
 * order) or as a batch of its own in the unordered lane. Returns the new batch, or NULL. */
static struct trg_batch *split_batch(struct trg_batch *b)
{
    size_t keep = b->n / 2;
    struct trg_list *p = b->entries.next;
    for (size_t i = 0; i < keep; i++)
        p = p->next;
    struct trg_route *r = b->route;
    struct trg_lane *l = b->lane;
    if (l->key) {
        /* Put the second half back at the front of the lane, keeping its order. */
        struct trg_list *at = &l->queue;
        while (p != &b->entries) {
            struct trg_list *next = p->next;
            struct trg_entry *en = trg_list_entry(p, struct trg_entry, link);
            trg_list_remove(p);
            trg_list_insert_after(at, p);
            at = p;
            l->n++;
            l->bytes += en->ev->len;
            b->n--;
            p = next;
        }
        l->first_ms = trg_core_mono_ms(r->core) - r->conf->batch_window_ms; /* ready as soon as the lane is free */
        return NULL;
    }
    struct trg_batch *b2 = trg_calloc(1, sizeof *b2);
    if (!b2)
        return NULL; /* retry whole: bisecting is an optimisation */
    *b2 = (struct trg_batch){.route = r, .lane = l, .last_status = b->last_status};
    trg_list_init(&b2->entries);
    trg_list_init(&b2->job.link);
    trg_request_id(b2->request_id);
    b2->last_error = trg_strdup(b->last_error);
    if (b->last_body)
        b2->last_body = trg_strndup(b->last_body, b->last_body_len), b2->last_body_len = b->last_body_len;
    while (p != &b->entries) {
        struct trg_list *next = p->next;
        trg_list_remove(p);
        trg_list_push_back(&b2->entries, p);
        b->n--;
        b2->n++;
        p = next;
    }
    l->unfinished++;
    trg_list_push_back(&r->batches, &b2->link);
    return b2;
}

static void schedule_retry(struct trg_batch *b, int64_t delay_ms)
{
    struct trg_route *r = b->route;
    trg_metrics_add(r->core->metrics, TRG_M_RETRIES, r->name, NULL, 1);
    ev_timer_init(&b->retry, retry_cb, (double)delay_ms / 1000.0, 0.);
    b->retry.data = b;
    b->job.run = invoke_batch;
    ev_timer_start(r->core->loop, &b->retry);
}

static void remember_result(struct trg_batch *b, const struct trg_invoke_result *res)
{
    trg_free(b->last_error);
    trg_free(b->last_body);
    b->last_status = res->status;
    b->last_error = trg_strdup(res->function_error);
    b->last_body = NULL;
    b->last_body_len = 0;
    if (res->body) {
        size_t keep = res->body_len > 8192 ? 8192 : res->body_len;
        b->last_body = trg_strndup(res->body, keep);
        b->last_body_len = b->last_body ? keep : 0;
    }
}

static const struct trg_fate_policy *policy(const struct trg_route *r, struct trg_fate_policy *p)
{
    *p = (struct trg_fate_policy){
        .max_retry_attempts = r->conf->max_retry_attempts,
        .max_record_age_s = r->conf->max_record_age_s,
        .retry_base_ms = r->conf->retry_base_ms,
        .retry_max_ms = r->conf->retry_max_ms,
        .bisect_on_error = r->conf->bisect_on_error,
    };
    return p;
}

/* Decide the fate of the batch's events (fate.c) and apply it: release, then the DLQ by condition;
 * what is retried stays in the batch (bisected when the fate says so) and waits out the delay, or is
 * invoked now (TRG_FATE_BEFORE). failed: for TRG_FATE_PARTIAL. Frees the batch when nothing is left. */
static void decide(struct trg_batch *b, enum trg_fate_kind kind, const bool *failed, const struct trg_invoke_result *res)
{
    struct trg_route *r = b->route;
    struct trg_fate_entry *fe = trg_calloc(b->n ? b->n : 1, sizeof *fe);
    if (!fe) {
        trg_error("route", r->name, "out of memory deciding the outcome of batch %s; retrying it", b->request_id);
        schedule_retry(b, r->conf->retry_base_ms);
        return;
    }
    size_t i = 0;
    struct trg_list *pos, *tmp;
    for (pos = b->entries.next; pos != &b->entries; pos = pos->next, i++) {
        const struct trg_entry *en = trg_list_entry(pos, struct trg_entry, link);
        fe[i] = (struct trg_fate_entry){.attempts = en->attempts, .max_receives = en->ev->max_receives,
                                        .created_ms = en->ev->created_ms};
    }
    struct trg_fate_policy p;
    struct trg_fate fate;
    trg_fate_decide(policy(r, &p), kind, failed, b->lane->key != NULL, res ? res->retry_after_ms : -1,
                    trg_core_wall_ms(r->core), fe, b->n, &fate, trg_core_random, r->core);
    /* Release first, then the DLQ in the order of the conditions' checks (exhausted before expired). */
    static const enum trg_dlq_condition order[] = {TRG_DLQ_RETRIES_EXHAUSTED, TRG_DLQ_AGE_EXCEEDED,
                                                   TRG_DLQ_PAYLOAD_TOO_LARGE, TRG_DLQ_REJECTED};
    struct trg_list dlq[TRG_ARRAY_SIZE(order)];
    size_t n_dlq[TRG_ARRAY_SIZE(order)] = {0};
    for (size_t k = 0; k < TRG_ARRAY_SIZE(order); k++)
        trg_list_init(&dlq[k]);
    i = 0;
    trg_list_each(pos, tmp, &b->entries)
    {
        struct trg_entry *en = trg_list_entry(pos, struct trg_entry, link);
        struct trg_fate_entry *f = &fe[i++];
        en->attempts = f->attempts;
        if (f->verdict == TRG_FATE_RETRY)
            continue;
        trg_list_remove(pos);
        b->n--;
        if (f->verdict == TRG_FATE_RELEASE) {
            trg_route_release(r, en, TRG_DONE_OK, res);
            continue;
        }
        for (size_t k = 0; k < TRG_ARRAY_SIZE(order); k++)
            if (order[k] == f->cond) {
                trg_list_push_back(&dlq[k], pos);
                n_dlq[k]++;
            }
    }
    trg_free(fe);
    for (size_t k = 0; k < TRG_ARRAY_SIZE(order); k++)
        if (n_dlq[k])
            trg_route_to_dlq(r, &dlq[k], n_dlq[k], order[k], b);
    if (b->n == 0) {
        trg_route_batch_finished(b);
        return;
    }
    if (kind == TRG_FATE_BEFORE) {
        b->job.run = invoke_batch;
        ev_timer_init(&b->retry, retry_cb, 0., 0.);
        b->retry.data = b;
        enqueue_or_run(r->fn, &b->job);
        return;
    }
    struct trg_batch *b2 = fate.split ? split_batch(b) : NULL;
    if (kind == TRG_FATE_THROTTLED)
        trg_info("function", r->fn->name, "throttled (status %d): batch %s retried in %lld ms", res->status,
                 b->request_id, (long long)fate.delay_ms);
    else
        trg_info("route", r->name, "batch %s (%zu events) failed; retry in %lld ms", b->request_id, b->n,
                 (long long)fate.delay_ms);
    schedule_retry(b, fate.delay_ms);
    if (b2)
        schedule_retry(b2, fate.delay_ms);
}

void trg_dispatch_batch(struct trg_batch *b) { decide(b, TRG_FATE_BEFORE, NULL, NULL); }

/* A partial batch response (report_batch_item_failures): the failed items are retried, the others
 * released. A malformed response fails the whole batch. */
static void handle_partial(struct trg_batch *b, const struct trg_invoke_result *res)
{
    bool *failed = trg_calloc(b->n ? b->n : 1, sizeof *failed);
    const char **ids = trg_calloc(b->n ? b->n : 1, sizeof *ids);
    if (!failed || !ids) {
        trg_free(failed);
        trg_free(ids);
        trg_error("route", b->route->name, "out of memory reading the partial response of batch %s: the whole "
                  "batch failed", b->request_id);
        decide(b, TRG_FATE_FAILED, NULL, res);
        return;
    }
    size_t i = 0;
    for (struct trg_list *p = b->entries.next; p != &b->entries; p = p->next, i++)
        ids[i] = trg_list_entry(p, struct trg_entry, link)->ev->item_id;
    char why[256] = "";
    enum trg_partial pr = trg_outcome_parse(res->body, res->body_len, ids, b->n, failed, why, sizeof why);
    if (pr == TRG_PARTIAL_MALFORMED) {
        trg_warn("route", b->route->name, "batch %s: malformed partial batch response (%s): the whole batch failed",
                 b->request_id, why);
        decide(b, TRG_FATE_FAILED, NULL, res);
    } else if (pr == TRG_PARTIAL_NONE) {
        decide(b, TRG_FATE_SUCCESS, NULL, res);
    } else {
        trg_metrics_add(b->route->core->metrics, TRG_M_INVOCATIONS, b->route->fn->name, "partial", 1);
        decide(b, TRG_FATE_PARTIAL, failed, res);
    }
    trg_free(failed);
    trg_free(ids);
}

static void batch_result(void *arg, struct trg_invoke_result *res)
{
    struct trg_batch *b = arg;
    struct trg_route *r = b->route;
    struct trg_function *fn = r->fn;
    b->invoking = false;
    trg_free(b->payload);
    b->payload = NULL;
    fn->inflight--;
    set_inflight(fn);
    struct trg_metrics *m = r->core->metrics;
    trg_metrics_add(m, TRG_M_INVOCATIONS, fn->name, trg_outcome_name(res->outcome), 1);
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, fn->name, res->duration_ms / 1000.0);
    remember_result(b, res);

    switch (res->outcome) {
    case TRG_OUT_SUCCESS:
    case TRG_OUT_PARTIAL:
        if (r->conf->report_batch_item_failures)
            handle_partial(b, res);
        else
            decide(b, TRG_FATE_SUCCESS, NULL, res);
        break;
    case TRG_OUT_ERROR:
        trg_info("function", fn->name, "batch %s of route %s failed: status %d, %s", b->request_id, r->name,
                 res->status, res->function_error ? res->function_error : "error");
        decide(b, TRG_FATE_FAILED, NULL, res);
        break;
    case TRG_OUT_THROTTLED:
        decide(b, TRG_FATE_THROTTLED, NULL, res);
        break;
    case TRG_OUT_REJECTED:
        trg_warn("function", fn->name, "rejected batch %s (status %d): to the DLQ", b->request_id, res->status);
        decide(b, TRG_FATE_REJECTED, NULL, res);
        break;
    }
    capacity_freed(fn);
}

static void invoke_batch(struct trg_job *job)
{
    struct trg_batch *b = (struct trg_batch *)job;
    struct trg_route *r = b->route;
    struct trg_function *fn = r->fn;
    struct trg_buf payload = {0};
    if (trg_route_payload(r, &b->entries, b->n, &payload) != 0) {
        trg_buf_free(&payload);
        trg_error("route", r->name, "out of memory building a payload; retrying");
        schedule_retry(b, r->conf->retry_base_ms);
        return;
    }
    if (payload.len > (size_t)r->conf->max_batch_bytes) {
        trg_buf_free(&payload);
        if (b->n == 1) {
            trg_warn("route", r->name, "an event is larger than max_batch_bytes (%lld): to the DLQ",
                     (long long)r->conf->max_batch_bytes);
            struct trg_list all, *pos, *tmp;
            size_t n = b->n;
            trg_list_init(&all);
            trg_list_each(pos, tmp, &b->entries)
            {
                trg_list_remove(pos);
                trg_list_push_back(&all, pos);
            }
            b->n = 0;
            trg_route_to_dlq(r, &all, n, TRG_DLQ_PAYLOAD_TOO_LARGE, b);
            trg_route_batch_finished(b);
            return;
        }
        struct trg_batch *b2 = split_batch(b);
        invoke_batch(&b->job);
        if (b2)
            trg_dispatch_batch(b2);
        return;
    }
    for (struct trg_list *p = b->entries.next; p != &b->entries; p = p->next)
        trg_list_entry(p, struct trg_entry, link)->invokes++;
    struct trg_invoke_req req = {
        .function = fn->name,
        .request_id = b->request_id,
        .payload = payload.data,
        .len = payload.len,
        .timeout_ms = fn->conf->timeout_ms,
    };
    /* The invoker borrows the payload until its callback; keep it with the batch. */
    trg_free(b->payload);
    b->payload = trg_buf_steal(&payload);
    int rc = fn->conf->ops->invoke(fn->inst, &req, batch_result, b);
    if (rc != 0) {
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1,
                                        .function_error = (char *)"InvokeFailed", .retry_after_ms = -1};
        trg_error("function", fn->name, "cannot invoke: %s", trg_strerror(rc));
        fn->inflight++;
        batch_result(b, &res);
        return;
    }
    b->invoking = true;
    fn->inflight++;
    set_inflight(fn);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_batch *b = w->data;
    trg_dispatch_batch(b);
}

/* --- direct invocations --- */

static void direct_result(void *arg, struct trg_invoke_result *res)
{
    struct direct_job *d = arg;
    struct trg_function *fn = d->fn;
    fn->inflight--;
    set_inflight(fn);
    trg_metrics_add(fn->core->metrics, TRG_M_INVOCATIONS, fn->name, trg_outcome_name(res->outcome), 1);
    trg_metrics_observe(fn->core->metrics, TRG_M_INVOCATION_DURATION, fn->name,
                        res->duration_ms / 1000.0);
    trg_list_remove(&d->link);
    d->cb(d->arg, res);
    trg_free(d->payload);
    trg_free(d);
    fn->users--;
    capacity_freed(fn);
}

static void run_direct(struct trg_job *job)
{
    struct direct_job *d = (struct direct_job *)job;
    struct trg_function *fn = d->fn;
    struct trg_invoke_req req = {fn->name, d->request_id, d->payload, d->len, fn->conf->timeout_ms};
    fn->inflight++;
    set_inflight(fn);
    if (fn->conf->ops->invoke(fn->inst, &req, direct_result, d) != 0) {
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1,
                                        .function_error = (char *)"InvokeFailed", .retry_after_ms = -1};
        direct_result(d, &res);
    }
}

int trg_dispatch_direct(struct trg_function *fn, const char *payload, size_t len, trg_invoke_cb cb, void *arg)
{
    struct direct_job *d = trg_calloc(1, sizeof *d);
    if (!d || !(d->payload = trg_strndup(payload, len))) {
        trg_free(d);
        return TRG_ENOMEM;
    }
    d->len = len;
    d->fn = fn;
    d->cb = cb;
    d->arg = arg;
    d->job.run = run_direct;
    trg_list_init(&d->job.link);
    trg_request_id(d->request_id);
    trg_list_push_back(directs_of(fn), &d->link);
    fn->users++;
    enqueue_or_run(fn, &d->job);
    return 0;
}
