/* dispatch.c — running a batch on its function and applying its fate (src/fate.c) afterwards. */
#include "dispatch.h"

#include <ev.h>
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "failure.h"
#include "fate.h"
#include "function.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "retry.h"
#include "route.h"

/* --- batches --- */

static void invoke_batch(struct trg_job *job);
static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

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
    if (kind == TRG_FATE_SUCCESS) { /* fate.h: every event is released; the hot path needs no verdicts */
        struct trg_list *pos, *tmp;
        trg_list_each(pos, tmp, &b->entries)
        {
            trg_list_remove(pos);
            b->n--;
            trg_route_release(r, trg_list_entry(pos, struct trg_entry, link), TRG_DONE_OK, res);
        }
        trg_route_batch_finished(b);
        return;
    }
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
            trg_failure_send(r, &dlq[k], n_dlq[k], order[k], b);
    if (b->n == 0) {
        trg_route_batch_finished(b);
        return;
    }
    if (kind == TRG_FATE_BEFORE) {
        b->job.run = invoke_batch;
        ev_timer_init(&b->retry, retry_cb, 0., 0.);
        b->retry.data = b;
        trg_function_submit(r->fn, &b->job);
        return;
    }
    struct trg_batch *b2 = fate.split ? trg_route_split(b) : NULL;
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
    trg_function_done(fn, res);
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
    trg_function_pump(fn);
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
            trg_failure_send(r, &all, n, TRG_DLQ_PAYLOAD_TOO_LARGE, b);
            trg_route_batch_finished(b);
            return;
        }
        struct trg_batch *b2 = trg_route_split(b);
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
    if (trg_function_invoke(fn, &req, batch_result, b) != 0) {
        struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1,
                                        .function_error = (char *)"InvokeFailed", .retry_after_ms = -1};
        batch_result(b, &res);
        return;
    }
    b->invoking = true;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_batch *b = w->data;
    trg_dispatch_batch(b);
}

