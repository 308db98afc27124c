/* route.c — filtering, lanes and batch cutting; releasing events; the route's side of the DLQ. */
#include "route.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "dispatch.h"
#include "engine.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"

/* A DLQ write in progress (or waiting to be retried) for some of a route's entries. */
struct dlq_job {
    struct trg_list link;      /* in route->dlq_jobs */
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

static void window_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void dlq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

int trg_route_create(struct trg_engine *e, struct trg_config *cfg, const struct trg_route_conf *conf,
                     struct trg_source *src, struct trg_function *fn, struct trg_route **out)
{
    struct trg_route *r = trg_calloc(1, sizeof *r);
    if (!r)
        return TRG_ENOMEM;
    r->name = trg_strdup(conf->name);
    if (!r->name) {
        trg_free(r);
        return TRG_ENOMEM;
    }
    r->engine = e;
    r->cfg = cfg;
    trg_engine_config_ref(cfg);
    r->conf = conf;
    r->source = src;
    r->fn = fn;
    fn->users++;
    trg_list_init(&r->link);
    trg_list_init(&r->src_link);
    trg_list_init(&r->lanes);
    r->entries = (struct trg_pool)TRG_POOL_INIT(struct trg_entry, 65536);
    trg_list_init(&r->batches);
    trg_list_init(&r->dlq_jobs);
    ev_timer_init(&r->window, window_cb, 0., 0.);
    r->window.data = r;
    ev_timer_init(&r->dlq_retry, dlq_retry_cb, 0., 0.);
    r->dlq_retry.data = r;
    *out = r;
    return 0;
}

static void lane_free(struct trg_route *r, struct trg_lane *l)
{
    if (r->last_lane == l)
        r->last_lane = NULL;
    trg_list_remove(&l->link);
    trg_free(l->key);
    trg_free(l);
}

void trg_route_destroy(struct trg_route *r)
{
    if (!r)
        return;
    struct ev_loop *loop = trg_engine_loop(r->engine);
    ev_timer_stop(loop, &r->window);
    ev_timer_stop(loop, &r->dlq_retry);
    /* a route of the same name that is still active sets it again at the next scrape */
    trg_metrics_remove(trg_engine_metrics(r->engine), TRG_M_QUEUED, r->name, NULL);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->lanes) lane_free(r, trg_list_entry(pos, struct trg_lane, link));
    trg_pool_clear(&r->entries);
    trg_list_remove(&r->link);
    trg_list_remove(&r->src_link);
    r->fn->users--;
    trg_engine_config_unref(r->cfg);
    trg_free(r->name);
    trg_free(r);
}

bool trg_route_can_accept(const struct trg_route *r)
{
    return !r->retired && !r->dlq_blocked && r->held < (size_t)r->conf->max_queued_events;
}

void trg_route_update_metrics(struct trg_route *r)
{
    trg_metrics_set(trg_engine_metrics(r->engine), TRG_M_QUEUED, r->name, NULL, (double)r->held);
    trg_metrics_set(trg_engine_metrics(r->engine), TRG_M_DLQ_BLOCKED, r->name, NULL, r->dlq_blocked ? 1. : 0.);
}

static bool lane_is(const struct trg_lane *l, const char *key)
{
    return (!key && !l->key) || (key && l->key && strcmp(key, l->key) == 0);
}

static struct trg_lane *lane_get(struct trg_route *r, const char *key)
{
    if (r->last_lane && lane_is(r->last_lane, key))
        return r->last_lane;
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->lanes)
    {
        struct trg_lane *l = trg_list_entry(pos, struct trg_lane, link);
        if (lane_is(l, key))
            return r->last_lane = l;
    }
    struct trg_lane *l = trg_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (key && !(l->key = trg_strdup(key))) {
        trg_free(l);
        return NULL;
    }
    trg_list_init(&l->queue);
    trg_list_push_back(&r->lanes, &l->link);
    return r->last_lane = l;
}

static bool filter_matches(struct trg_route *r, const struct trg_event *ev)
{
    const struct trg_filter *f = r->conf->filter;
    if (!f)
        return true;
    cJSON *doc = trg_engine_filter_view(r->source, ev);
    bool match = doc && trg_filter_match(f, doc);
    cJSON_Delete(doc);
    return match;
}

void trg_route_push(struct trg_route *r, struct trg_event *ev)
{
    struct trg_entry *en = trg_pool_get(&r->entries);
    if (!en) {
        trg_error("route", r->name, "out of memory: event not taken (its source will redeliver it)");
        trg_engine_event_done(r->engine, ev, TRG_DONE_ABANDONED, NULL);
        return;
    }
    en->ev = ev;
    /* A record redelivered by its queue (a reclaim after a crash) has used up attempts already. */
    en->attempts = en->invokes = ev->receive_count > 1 ? ev->receive_count - 1 : 0;
    r->held++;
    if (!filter_matches(r, ev)) {
        trg_metrics_add(trg_engine_metrics(r->engine), TRG_M_EVENTS_FILTERED, r->name, NULL, 1);
        trg_route_release(r, en, TRG_DONE_OK, NULL);
        return;
    }
    if ((r->conf->max_retry_attempts >= 0 && en->attempts > r->conf->max_retry_attempts) ||
        (ev->max_receives > 0 && ev->receive_count > ev->max_receives)) {
        struct trg_list one;
        trg_list_init(&one);
        trg_list_push_back(&one, &en->link);
        trg_warn("route", r->name, "a record was received %d times (its attempts are used up): to the DLQ",
                 ev->receive_count);
        trg_route_to_dlq(r, &one, 1, TRG_DLQ_RETRIES_EXHAUSTED, NULL);
        return;
    }
    struct trg_lane *l = lane_get(r, ev->order_key);
    if (!l) {
        trg_error("route", r->name, "out of memory: event not taken (its source will redeliver it)");
        trg_route_release(r, en, TRG_DONE_ABANDONED, NULL);
        return;
    }
    if (l->n == 0)
        l->first_ms = trg_mono_ms();
    trg_list_push_back(&l->queue, &en->link);
    l->n++;
    l->bytes += ev->len;
    if (r->held >= (size_t)r->conf->max_queued_events && !r->full) {
        r->full = true;
        trg_warn("route", r->name, "full (%zu events held, max_queued_events): pausing its source", r->held);
        trg_engine_route_changed(r->engine, r);
    }
    /* Only a lane's first event (its window starts) or one that makes it full can let a batch be cut
     * now: with fewer events the lane waits for its window, its batch in flight or the function's
     * capacity, and each of those pumps when it ends. */
    size_t max_bytes = (size_t)r->conf->max_batch_bytes;
    if (l->n == 1 || l->n == (size_t)r->conf->batch_size || (l->bytes >= max_bytes && l->bytes - ev->len < max_bytes))
        trg_route_pump(r);
}

bool trg_lane_ready(size_t n, size_t bytes, int64_t first_ms, int64_t now_ms, int64_t batch_size,
                    int64_t max_batch_bytes, int64_t window_ms, bool draining)
{
    if (n == 0)
        return false;
    return draining || n >= (size_t)batch_size || bytes >= (size_t)max_batch_bytes || now_ms - first_ms >= window_ms;
}

bool trg_lane_fits(size_t taken, size_t bytes, size_t len, int64_t batch_size, int64_t max_batch_bytes)
{
    /* Each record costs its length and a separator; the envelope's own bytes are checked exactly once the
     * payload is built. */
    if (taken == 0)
        return true;
    return taken < (size_t)batch_size && bytes + len + 1 <= (size_t)max_batch_bytes;
}

/* Cut one batch from the front of the lane and hand it to the dispatcher. */
static void cut_batch(struct trg_route *r, struct trg_lane *l)
{
    struct trg_batch *b = trg_calloc(1, sizeof *b);
    if (!b) {
        trg_error("route", r->name, "out of memory cutting a batch; will try again");
        return;
    }
    b->route = r;
    b->lane = l;
    b->last_status = -1;
    trg_list_init(&b->entries);
    trg_list_init(&b->job.link);
    trg_request_id(b->request_id);
    size_t bytes = 0;
    while (l->n > 0) {
        struct trg_entry *en = trg_list_entry(l->queue.next, struct trg_entry, link);
        size_t len = en->ev->len;
        if (!trg_lane_fits(b->n, bytes, len, r->conf->batch_size, r->conf->max_batch_bytes))
            break;
        bytes += len + 1;
        trg_list_remove(&en->link);
        trg_list_push_back(&b->entries, &en->link);
        l->n--;
        l->bytes -= len;
        b->n++;
    }
    l->first_ms = trg_mono_ms(); /* the rest waits a window of its own */
    l->unfinished++;
    trg_list_push_back(&r->batches, &b->link);
    trg_metrics_observe(trg_engine_metrics(r->engine), TRG_M_BATCH_SIZE, r->name, (double)b->n);
    trg_dispatch_batch(b);
}

void trg_route_pump(struct trg_route *r)
{
    struct ev_loop *loop = trg_engine_loop(r->engine);
    bool draining = r->retired || trg_engine_stopping(r->engine);
    int64_t now = trg_mono_ms(), next = INT64_MAX;
    struct trg_list done_lanes;
    trg_list_init(&done_lanes);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->lanes)
    {
        struct trg_lane *l = trg_list_entry(pos, struct trg_lane, link);
        while (l->n > 0 && (!l->key || l->unfinished == 0) && trg_function_has_capacity(r->fn)) {
            if (!trg_lane_ready(l->n, l->bytes, l->first_ms, now, r->conf->batch_size, r->conf->max_batch_bytes,
                                r->conf->batch_window_ms, draining)) {
                if (l->first_ms + r->conf->batch_window_ms < next)
                    next = l->first_ms + r->conf->batch_window_ms;
                break;
            }
            cut_batch(r, l);
        }
        if (l->key && l->n == 0 && l->unfinished == 0)
            lane_free(r, l);
    }
    ev_timer_stop(loop, &r->window);
    if (next != INT64_MAX) {
        double after = (double)(next - now) / 1000.0;
        ev_timer_set(&r->window, after > 0 ? after : 0.001, 0.);
        ev_timer_start(loop, &r->window);
    }
}

static void window_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    trg_route_pump(w->data);
}

/* Unlink a batch from its route, lane, timer and function queue, and free it (its entries are gone). */
static void batch_free(struct trg_batch *b)
{
    struct trg_route *r = b->route;
    ev_timer_stop(trg_engine_loop(r->engine), &b->retry);
    trg_dispatch_unqueue(r->fn, &b->job);
    trg_list_remove(&b->link);
    b->lane->unfinished--;
    trg_free(b->last_error);
    trg_free(b->last_body);
    trg_free(b->payload);
    trg_free(b);
}

void trg_route_batch_finished(struct trg_batch *b)
{
    struct trg_route *r = b->route;
    batch_free(b);
    trg_route_pump(r);
}

void trg_route_release(struct trg_route *r, struct trg_entry *en, int status, const struct trg_invoke_result *res)
{
    struct trg_event *ev = en->ev;
    trg_pool_put(&r->entries, en);
    r->held--;
    trg_engine_event_done(r->engine, ev, status, res);
    if (r->full && r->held * 10 < (size_t)r->conf->max_queued_events * 9) {
        r->full = false;
        trg_info("route", r->name, "drained to %zu events: resuming its source", r->held);
        trg_engine_route_changed(r->engine, r);
    }
    if (r->retired && r->held == 0)
        trg_engine_route_idle(r->engine, r);
}

int trg_route_payload(const struct trg_route *r, const struct trg_list *entries, size_t n, struct trg_buf *out)
{
    struct trg_event **evs = trg_malloc((n ? n : 1) * sizeof *evs);
    if (!evs)
        return TRG_ENOMEM;
    size_t i = 0;
    for (const struct trg_list *p = entries->next; p != entries && i < n; p = p->next)
        evs[i++] = trg_list_entry(p, struct trg_entry, link)->ev;
    int rc = 0;
    if (r->conf->envelope == TRG_ENVELOPE_RAW) {
        if (i != 1)
            rc |= trg_buf_addc(out, '[');
        for (size_t k = 0; k < i; k++) {
            if (k)
                rc |= trg_buf_addc(out, ',');
            rc |= trg_engine_raw(r->source, evs[k], out);
        }
        if (i != 1)
            rc |= trg_buf_addc(out, ']');
    } else {
        rc = trg_engine_envelope(r->source, evs, i, out);
    }
    trg_free(evs);
    return rc ? TRG_ENOMEM : 0;
}

/* --- DLQ --- */

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
        double now = ev_now(trg_engine_loop(r->engine));
        trg_metrics_add(trg_engine_metrics(r->engine), TRG_M_DLQ_WRITE_FAILURES, r->name, NULL, 1.);
        if (!r->dlq_blocked)
            r->dlq_failures = 0;
        r->dlq_failures++;
        if (!r->dlq_blocked || now - r->dlq_logged_at >= 60.) {
            r->dlq_logged_at = now;
            trg_error("route", r->name,
                      "cannot write %zu event(s) to %s (%s): pausing the route's source and retrying every "
                      "second (%llu failed attempt(s) so far); %s",
                      j->n, target ? r->conf->on_failure : "the DLQ", trg_strerror(err),
                      (unsigned long long)r->dlq_failures,
                      target ? "the source logged why"
                             : "check the DLQ backend (Redis connection, disk space, state_dir permissions)");
        }
        r->dlq_blocked = true;
        trg_engine_route_changed(r->engine, r);
        if (!ev_is_active(&r->dlq_retry)) {
            ev_timer_set(&r->dlq_retry, 1.0, 0.);
            ev_timer_start(trg_engine_loop(r->engine), &r->dlq_retry);
        }
        return;
    }
    trg_warn("route", r->name, "%zu event(s) written to %s as %s (entry %s)", j->n,
             to_target(r) && r->source ? r->conf->on_failure : "the DLQ", trg_dlq_condition_name(j->cond),
             id ? id : "?");
    trg_metrics_add(trg_engine_metrics(r->engine), TRG_M_DLQ_EVENTS, r->name, trg_dlq_condition_name(j->cond),
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
    trg_list_each(pos, tmp, &r->dlq_jobs) blocked |= !trg_list_entry(pos, struct dlq_job, link)->writing;
    if (r->dlq_blocked && !blocked) {
        r->dlq_blocked = false;
        trg_info("route", r->name, "the DLQ accepts writes again: resuming the source");
        trg_engine_route_changed(r->engine, r);
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
    int rc = trg_engine_on_failure(r->source, r->conf->on_failure, evs, k, &info, dlq_done, j);
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
    int rc = trg_dlq_put(trg_engine_dlq(r->engine), r->name, j->record, j->len, dlq_done, j);
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
    trg_list_each(pos, tmp, &r->dlq_jobs)
    {
        struct dlq_job *j = trg_list_entry(pos, struct dlq_job, link);
        if (!j->writing)
            dlq_put(j);
    }
}

void trg_route_to_dlq(struct trg_route *r, struct trg_list *list, size_t n, enum trg_dlq_condition cond,
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
        int brc = trg_engine_batch_info(r->source, evs, k, payload.len, &binfo_key, &binfo);
        trg_free(evs);
        if (brc != 0 || !binfo.data)
            binfo_key = NULL;
    }
    char rid[40];
    trg_request_id(rid);
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
        .timestamp_ms = trg_wall_ms(),
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
    trg_list_push_back(&r->dlq_jobs, &j->link);
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
    trg_list_each(pos, tmp, list)
    {
        trg_list_remove(pos);
        trg_route_release(r, trg_list_entry(pos, struct trg_entry, link), TRG_DONE_ABANDONED, NULL);
    }
}

static void release_all(struct trg_route *r, struct trg_list *list)
{
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, list)
    {
        trg_list_remove(pos);
        trg_route_release(r, trg_list_entry(pos, struct trg_entry, link), TRG_DONE_ABANDONED, NULL);
    }
}

void trg_route_abandon(struct trg_route *r)
{
    struct ev_loop *loop = trg_engine_loop(r->engine);
    ev_timer_stop(loop, &r->window);
    ev_timer_stop(loop, &r->dlq_retry);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->batches)
    {
        struct trg_batch *b = trg_list_entry(pos, struct trg_batch, link);
        release_all(r, &b->entries);
        batch_free(b);
    }
    trg_list_each(pos, tmp, &r->lanes) release_all(r, &trg_list_entry(pos, struct trg_lane, link)->queue);
    trg_list_each(pos, tmp, &r->dlq_jobs)
    {
        struct dlq_job *j = trg_list_entry(pos, struct dlq_job, link);
        release_all(r, &j->entries);
        if (j->writing) {
            j->route = NULL;
            trg_list_remove(&j->link);
        } else {
            dlq_job_free(j);
        }
    }
}
