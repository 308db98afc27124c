/* route.c — filtering, lanes, cutting and splitting batches, releasing events (failed ones go to failure.c). */
#include "route.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "dispatch.h"
#include "function.h"
#include "core.h"
#include "failure.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "source.h"

static void window_cb(struct ev_loop *loop, ev_timer *w, int revents);

int trg_route_create(struct trg_core *core, const struct trg_route_owner *owner, struct trg_config *cfg,
                     const struct trg_route_conf *conf, struct trg_source *src, struct trg_function *fn,
                     struct trg_route **out)
{
    struct trg_route *r = trg_calloc(1, sizeof *r);
    if (!r)
        return TRG_ENOMEM;
    r->name = trg_strdup(conf->name);
    if (!r->name) {
        trg_free(r);
        return TRG_ENOMEM;
    }
    r->core = core;
    r->owner = owner;
    r->cfg = cfg;
    trg_config_ref(cfg);
    r->conf = conf;
    r->source = src;
    r->fn = fn;
    fn->users++;
    trg_list_init(&r->link);
    trg_list_init(&r->src_link);
    trg_list_init(&r->lanes);
    r->keyed = (struct trg_map)TRG_MAP_INIT;
    r->entries = (struct trg_pool)TRG_POOL_INIT(struct trg_entry, 65536);
    trg_list_init(&r->batches);
    ev_timer_init(&r->window, window_cb, 0., 0.);
    r->window.data = r;
    trg_failure_init(r);
    *out = r;
    return 0;
}

static void lane_free(struct trg_route *r, struct trg_lane *l)
{
    if (r->last_lane == l)
        r->last_lane = NULL;
    if (l->key)
        trg_map_remove(&r->keyed, &l->node);
    else
        r->unordered = NULL;
    trg_list_remove(&l->link);
    trg_free(l->key);
    trg_free(l);
}

void trg_route_destroy(struct trg_route *r)
{
    if (!r)
        return;
    struct ev_loop *loop = r->core->loop;
    ev_timer_stop(loop, &r->window);
    trg_failure_stop(r);
    /* a route of the same name that is still active sets it again at the next scrape */
    trg_metrics_remove(r->core->metrics, TRG_M_QUEUED, r->name, NULL);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->lanes) lane_free(r, trg_list_entry(pos, struct trg_lane, link));
    trg_map_clear(&r->keyed);
    trg_pool_clear(&r->entries);
    trg_list_remove(&r->link);
    trg_list_remove(&r->src_link);
    r->fn->users--;
    trg_config_unref(r->cfg);
    trg_free(r->name);
    trg_free(r);
}

bool trg_route_can_accept(const struct trg_route *r)
{
    return !r->retired && !r->failure.blocked && r->held < (size_t)r->conf->max_queued_events;
}

size_t trg_route_room(const struct trg_route *r)
{
    return trg_route_can_accept(r) ? (size_t)r->conf->max_queued_events - r->held : 0;
}

void trg_route_update_metrics(struct trg_route *r)
{
    trg_metrics_set(r->core->metrics, TRG_M_QUEUED, r->name, NULL, (double)r->held);
    trg_metrics_set(r->core->metrics, TRG_M_DLQ_BLOCKED, r->name, NULL, r->failure.blocked ? 1. : 0.);
}

static bool lane_is(const struct trg_lane *l, const char *key)
{
    return (!key && !l->key) || (key && l->key && strcmp(key, l->key) == 0);
}

static struct trg_lane *lane_get(struct trg_route *r, const char *key)
{
    if (r->last_lane && lane_is(r->last_lane, key))
        return r->last_lane;
    struct trg_lane *l = r->unordered;
    if (key) {
        struct trg_map_node *node = trg_map_get(&r->keyed, key);
        l = node ? trg_list_entry(node, struct trg_lane, node) : NULL;
    }
    if (l)
        return r->last_lane = l;
    if (!(l = trg_calloc(1, sizeof *l)))
        return NULL;
    if (key && !(l->key = trg_strdup(key))) {
        trg_free(l);
        return NULL;
    }
    if (key) {
        l->node.key = l->key;
        if (trg_map_put(&r->keyed, &l->node) != 0) {
            trg_free(l->key);
            trg_free(l);
            return NULL;
        }
    } else {
        r->unordered = l;
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
    cJSON *doc = trg_source_filter_view(r->source, ev);
    bool match = doc && trg_filter_match(f, doc);
    cJSON_Delete(doc);
    return match;
}

void trg_route_push(struct trg_route *r, struct trg_event *ev)
{
    struct trg_entry *en = trg_pool_get(&r->entries);
    if (!en) {
        trg_error("route", r->name, "out of memory: event not taken (its source will redeliver it)");
        r->owner->event_done(r->owner->arg, ev, TRG_DONE_ABANDONED, NULL);
        return;
    }
    en->ev = ev;
    /* A record redelivered by its queue (a reclaim after a crash) has used up attempts already. */
    en->attempts = en->invokes = ev->receive_count > 1 ? ev->receive_count - 1 : 0;
    r->held++;
    if (!filter_matches(r, ev)) {
        trg_metrics_add(r->core->metrics, TRG_M_EVENTS_FILTERED, r->name, NULL, 1);
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
        trg_failure_send(r, &one, 1, TRG_DLQ_RETRIES_EXHAUSTED, NULL);
        return;
    }
    struct trg_lane *l = lane_get(r, ev->order_key);
    if (!l) {
        trg_error("route", r->name, "out of memory: event not taken (its source will redeliver it)");
        trg_route_release(r, en, TRG_DONE_ABANDONED, NULL);
        return;
    }
    if (l->n == 0)
        l->first_ms = trg_core_mono_ms(r->core);
    trg_list_push_back(&l->queue, &en->link);
    l->n++;
    l->bytes += ev->len;
    if (r->held >= (size_t)r->conf->max_queued_events && !r->full) {
        r->full = true;
        trg_warn("route", r->name, "full (%zu events held, max_queued_events): its source waits (refused, or held "
                 "by trigd)", r->held);
        r->owner->changed(r->owner->arg, r);
    }
    /* Only a lane's first event (its window starts) or one that makes it full can let a batch be cut:
     * with fewer events the lane waits for its window, its batch in flight or the function's capacity,
     * and each of those pumps when it ends. The cut waits for the owner's pump_due call, after the rest
     * of this loop pass's pushes: a lane's first event alone would go out in a batch of its own. */
    size_t max_bytes = (size_t)r->conf->max_batch_bytes;
    if (!r->pump_due &&
        (l->n == 1 || l->n == (size_t)r->conf->batch_size || (l->bytes >= max_bytes && l->bytes - ev->len < max_bytes))) {
        r->pump_due = true;
        r->owner->pump_due(r->owner->arg, r);
    }
}

void trg_route_pump_due(struct trg_route *r)
{
    if (r->pump_due)
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
    trg_core_request_id(r->core, b->request_id);
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
    l->first_ms = trg_core_mono_ms(r->core); /* the rest waits a window of its own */
    l->unfinished++;
    trg_list_push_back(&r->batches, &b->link);
    trg_metrics_observe(r->core->metrics, TRG_M_BATCH_SIZE, r->name, (double)b->n);
    trg_dispatch_batch(b);
}

void trg_route_pump(struct trg_route *r)
{
    struct ev_loop *loop = r->core->loop;
    bool draining = r->retired || r->core->stopping;
    int64_t now = trg_core_mono_ms(r->core), next = INT64_MAX;
    r->pump_due = false;
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
    ev_timer_stop(r->core->loop, &b->retry);
    trg_function_unqueue(r->fn, &b->job);
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

struct trg_batch *trg_route_split(struct trg_batch *b)
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
    trg_core_request_id(r->core, b2->request_id);
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

void trg_route_release(struct trg_route *r, struct trg_entry *en, int status, const struct trg_invoke_result *res)
{
    struct trg_event *ev = en->ev;
    trg_pool_put(&r->entries, en);
    r->held--;
    r->owner->event_done(r->owner->arg, ev, status, res);
    if (r->full && r->held * 10 < (size_t)r->conf->max_queued_events * 9) {
        r->full = false;
        trg_info("route", r->name, "drained to %zu events: taking its source's events again", r->held);
        r->owner->changed(r->owner->arg, r);
    }
    if (r->retired && r->held == 0)
        r->owner->idle(r->owner->arg, r);
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
            rc |= trg_source_raw(r->source, evs[k], out);
        }
        if (i != 1)
            rc |= trg_buf_addc(out, ']');
    } else {
        rc = trg_source_envelope(r->source, evs, i, out);
    }
    trg_free(evs);
    return rc ? TRG_ENOMEM : 0;
}

void trg_route_release_all(struct trg_route *r, struct trg_list *list, int status)
{
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, list)
    {
        trg_list_remove(pos);
        trg_route_release(r, trg_list_entry(pos, struct trg_entry, link), status, NULL);
    }
}

void trg_route_abandon(struct trg_route *r)
{
    struct ev_loop *loop = r->core->loop;
    ev_timer_stop(loop, &r->window);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &r->batches)
    {
        struct trg_batch *b = trg_list_entry(pos, struct trg_batch, link);
        trg_route_release_all(r, &b->entries, TRG_DONE_ABANDONED);
        batch_free(b);
    }
    trg_list_each(pos, tmp, &r->lanes)
        trg_route_release_all(r, &trg_list_entry(pos, struct trg_lane, link)->queue, TRG_DONE_ABANDONED);
    trg_failure_abandon(r);
}
