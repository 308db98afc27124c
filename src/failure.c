/* failure.c — a route's events that finally failed: written to the DLQ as a Lambda on-failure record, or
 * handed to the source's on_failure target (kafka://TOPIC); released once durable. While a write fails
 * the route is blocked (its source paused) and the writes are retried every second. */
#include "failure.h"

#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "source.h"

/* A DLQ write in progress (or waiting to be retried) for some of a route's entries. */
struct dlq_job {
    struct trg_list link;      /* in route->failure.jobs */
    struct trg_route *route;   /* NULL once the route abandoned it */
    struct trg_list entries;
    size_t n;
    enum trg_dlq_condition cond;
    char *record;
    size_t len;
    bool writing;
    /* on_failure other than "dlq" (ops->on_failure) */
    char request_id[40];
    char *error;
};

static void dlq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

void trg_failure_init(struct trg_route *r)
{
    trg_list_init(&r->failure.jobs);
    ev_timer_init(&r->failure.retry, dlq_retry_cb, 0., 0.);
    r->failure.retry.data = r;
}

void trg_failure_stop(struct trg_route *r) { ev_timer_stop(r->core->loop, &r->failure.retry); }


static void dlq_job_free(struct dlq_job *j)
{
    trg_list_remove(&j->link);
    trg_free(j->record);
    trg_free(j->error);
    trg_free(j);
}

static void dlq_put(struct dlq_job *j);

/* The route's on_failure is not "dlq" (kafka://TOPIC): the source delivers the events there. */
static bool to_target(const struct trg_route *r) { return r->conf->on_failure && strcmp(r->conf->on_failure, "dlq"); }

static void dlq_done(void *arg, int err, const char *id)
{
    struct dlq_job *j = arg;
    struct trg_route *r = j->route;
    j->writing = false;
    if (!r) { /* abandoned while writing */
        dlq_job_free(j);
        return;
    }
    if (err != 0) {
        bool target = to_target(r) && r->source;
        double now = ev_now(r->core->loop);
        trg_metrics_add(r->core->metrics, TRG_M_DLQ_WRITE_FAILURES, r->name, NULL, 1.);
        if (!r->failure.blocked)
            r->failure.failures = 0;
        r->failure.failures++;
        if (!r->failure.blocked || now - r->failure.logged_at >= 60.) {
            r->failure.logged_at = now;
            trg_error("route", r->name,
                      "cannot write %zu event(s) to %s (%s): pausing the route's source and retrying every "
                      "second (%llu failed attempt(s) so far); %s",
                      j->n, target ? r->conf->on_failure : "the DLQ", trg_strerror(err),
                      (unsigned long long)r->failure.failures,
                      target ? "the source logged why"
                             : "check the DLQ backend (Redis connection, disk space, state_dir permissions)");
        }
        r->failure.blocked = true;
        r->owner->changed(r->owner->arg, r);
        if (!ev_is_active(&r->failure.retry)) {
            ev_timer_set(&r->failure.retry, 1.0, 0.);
            ev_timer_start(r->core->loop, &r->failure.retry);
        }
        return;
    }
    trg_warn("route", r->name, "%zu event(s) written to %s as %s (entry %s)", j->n,
             to_target(r) && r->source ? r->conf->on_failure : "the DLQ", trg_dlq_condition_name(j->cond),
             id ? id : "?");
    trg_metrics_add(r->core->metrics, TRG_M_DLQ_EVENTS, r->name, trg_dlq_condition_name(j->cond),
                    (double)j->n);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &j->entries)
    {
        struct trg_entry *en = trg_list_entry(pos, struct trg_entry, link);
        trg_list_remove(&en->link);
        trg_route_release(r, en, TRG_DONE_OK, NULL);
    }
    dlq_job_free(j);
    bool blocked = false;
    trg_list_each(pos, tmp, &r->failure.jobs) blocked |= !trg_list_entry(pos, struct dlq_job, link)->writing;
    if (r->failure.blocked && !blocked) {
        r->failure.blocked = false;
        trg_info("route", r->name, "the DLQ accepts writes again: resuming the source");
        r->owner->changed(r->owner->arg, r);
    }
}

static int target_put(struct dlq_job *j)
{
    struct trg_route *r = j->route;
    struct trg_event **evs = trg_calloc(j->n ? j->n : 1, sizeof *evs);
    size_t k = 0;
    struct trg_list *pos, *tmp;
    if (!evs)
        return TRG_ENOMEM;
    trg_list_each(pos, tmp, &j->entries) evs[k++] = trg_list_entry(pos, struct trg_entry, link)->ev;
    struct trg_failure_info info = {
        .route = r->name,
        .function = r->fn->name,
        .condition = trg_dlq_condition_name(j->cond),
        .error = j->error ? j->error : trg_dlq_condition_name(j->cond),
        .request_id = j->request_id,
    };
    int rc = trg_source_on_failure(r->source, r->conf->on_failure, evs, k, &info, dlq_done, j);
    trg_free(evs);
    return rc;
}

static void dlq_put(struct dlq_job *j)
{
    struct trg_route *r = j->route;
    j->writing = true;
    if (to_target(r) && r->source) {
        int rc = target_put(j);
        if (rc != 0) {
            j->writing = false;
            dlq_done(j, rc, NULL);
        }
        return;
    }
    int rc = trg_dlq_put(r->core->dlq, r->name, j->record, j->len, dlq_done, j);
    if (rc != 0) {
        j->writing = false;
        dlq_done(j, rc, NULL);
    }
}

static void dlq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_route *r = w->data;
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->failure.jobs)
    {
        struct dlq_job *j = trg_list_entry(pos, struct dlq_job, link);
        if (!j->writing)
            dlq_put(j);
    }
}

void trg_failure_send(struct trg_route *r, struct trg_list *list, size_t n, enum trg_dlq_condition cond,
                      const struct trg_batch *b)
{
    struct dlq_job *j = trg_calloc(1, sizeof *j);
    struct trg_buf payload = {0}, rec = {0};
    const char **records = trg_calloc(n ? n : 1, sizeof *records);
    size_t *lens = trg_calloc(n ? n : 1, sizeof *lens);
    if (!j || !records || !lens)
        goto nomem;
    trg_list_init(&j->entries);
    trg_list_init(&j->link);
    int invokes = 0;
    size_t i = 0;
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, list)
    {
        struct trg_entry *en = trg_list_entry(pos, struct trg_entry, link);
        records[i] = en->ev->json;
        lens[i++] = en->ev->len;
        if (en->invokes > invokes)
            invokes = en->invokes;
    }
    if (trg_route_payload(r, list, n, &payload) != 0)
        goto nomem;
    /* The source's batch info (Kafka: KafkaBatchInfo), when it has one. */
    struct trg_buf binfo = {0};
    const char *binfo_key = NULL;
    {
        struct trg_event **evs = trg_calloc(n ? n : 1, sizeof *evs);
        size_t k = 0;
        if (!evs)
            goto nomem;
        trg_list_each(pos, tmp, list) evs[k++] = trg_list_entry(pos, struct trg_entry, link)->ev;
        int brc = trg_source_batch_info(r->source, evs, k, payload.len, &binfo_key, &binfo);
        trg_free(evs);
        if (brc != 0 || !binfo.data)
            binfo_key = NULL;
    }
    char rid[40];
    trg_core_request_id(r->core, rid);
    struct trg_dlq_info info = {
        .request_id = b ? b->request_id : rid,
        .function = r->fn->name,
        .route = r->name,
        .source = r->conf->source,
        .condition = cond,
        .approximate_invoke_count = invokes,
        .status_code = b ? b->last_status : -1,
        .function_error = b ? b->last_error : NULL,
        .request_payload = payload.data,
        .request_payload_len = payload.len,
        .response_payload = b ? b->last_body : NULL,
        .response_payload_len = b ? b->last_body_len : 0,
        .batch_info_key = binfo_key,
        .batch_info_json = binfo_key ? binfo.data : NULL,
        .records = records,
        .record_lens = lens,
        .n_records = n,
        .timestamp_ms = trg_core_wall_ms(r->core),
    };
    int brc = trg_dlq_record_build(&info, &rec);
    trg_buf_free(&binfo);
    if (brc != 0)
        goto nomem;
    trg_list_each(pos, tmp, list)
    {
        trg_list_remove(pos);
        trg_list_push_back(&j->entries, pos);
    }
    j->route = r;
    j->n = n;
    j->cond = cond;
    j->len = rec.len;
    j->record = trg_buf_steal(&rec);
    snprintf(j->request_id, sizeof j->request_id, "%s", info.request_id);
    if (b && b->last_error)
        j->error = trg_strdup(b->last_error);
    else if (b && b->last_status > 0)
        j->error = trg_asprintf("HTTP %d", b->last_status);
    trg_list_push_back(&r->failure.jobs, &j->link);
    trg_buf_free(&payload);
    trg_free(records);
    trg_free(lens);
    dlq_put(j);
    return;
nomem:
    trg_error("route", r->name, "out of memory writing %zu event(s) to the DLQ: abandoning them (their source "
              "may redeliver them)", n);
    trg_buf_free(&payload);
    trg_buf_free(&rec);
    trg_free(records);
    trg_free(lens);
    trg_free(j);
    trg_route_release_all(r, list, TRG_DONE_ABANDONED);
}

void trg_failure_abandon(struct trg_route *r)
{
    trg_failure_stop(r);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->failure.jobs)
    {
        struct dlq_job *j = trg_list_entry(pos, struct dlq_job, link);
        trg_route_release_all(r, &j->entries, TRG_DONE_ABANDONED);
        if (j->writing) {
            j->route = NULL;
            trg_list_remove(&j->link);
        } else {
            dlq_job_free(j);
        }
    }
}
