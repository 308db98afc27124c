/* engine.c — building sources, routes and functions from a config; events in and out; reload;
 * shutdown; health, readiness and metrics endpoints. */
#include "engine.h"

#include <ev.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "admin.h"
#include "config.h"
#include "connectors/connector.h"
#include "dispatch.h"
#include "dlq.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "route.h"
#include "rstream.h"

struct trg_source {
    struct trg_list link;       /* in engine->sources */
    char *name;
    struct trg_engine *engine;
    struct trg_config *cfg;
    const struct trg_source_conf *conf;
    void *inst;
    struct trg_list routes;     /* active routes fed by this source */
    size_t outstanding;         /* events emitted and not yet handed back */
    uint64_t received;          /* events received and not yet added to trigd_events_received_total */
    bool started, stopped, retired, paused;
};

/* Events re-submitted from the DLQ by redrive: they have no source, this instead. */
struct redrive {
    size_t remaining;
    int err;
    void (*cb)(void *arg, int err);
    void *arg;
};

/* Durable intake: a route's stream {prefix}intake:{route}, fed by its push sources (trg_source_emit),
 * read through the consumer group "trigd" by every replica; entries are XACKed and XDELed once their
 * events reached their final outcome, so the stream holds only unfinished work. */
struct intake {
    struct trg_list link;       /* in engine->intakes */
    struct trg_engine *e;
    char *route;                /* the route's name: whichever active route has it gets the events */
    char *key;
    struct trg_rstream *rs;
    bool started, paused;
};

/* An event being appended to the intake streams of its source's routes. */
struct intake_add {
    struct trg_list link;       /* in engine->adds */
    struct trg_engine *e;
    struct trg_event *ev;       /* NULL once the engine gave up on it (destroy) */
    int pending;                /* XADD replies still to come */
    int err;
};

struct trg_engine {
    struct ev_loop *loop;
    struct trg_config *cfg;     /* the current config */
    struct trg_http *http;
    struct trg_metrics *metrics;
    struct trg_redis *redis;
    struct trg_config *redis_cfg; /* holds the conf the Redis connections borrow */
    char *consumer;             /* intake consumer name: host-pid */
    struct trg_list intakes, adds;
    ev_timer intake_timer;      /* intake depth metrics */
    struct trg_dlq *dlq;
    struct trg_list sources, functions, routes;
    uint64_t rand_state;
    uint64_t seq;
    int64_t started_ms;
    int emitting;               /* inside trg_source_emit: hand events back later */
    struct trg_event *done_head, *done_tail;
    struct trg_event *accept_head, *accept_tail;
    ev_prepare prepare;         /* each loop iteration: confirms and hands back deferred events, reaps */
    bool stopping, reap;
    ev_timer shutdown_timer;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents);
static void shutdown_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void check_drained(struct trg_engine *e);

/* --- small services --- */

struct ev_loop *trg_engine_loop(const struct trg_engine *e) { return e->loop; }
struct trg_metrics *trg_engine_metrics(const struct trg_engine *e) { return e->metrics; }
struct trg_dlq *trg_engine_dlq(const struct trg_engine *e) { return e->dlq; }
struct trg_http *trg_engine_http(const struct trg_engine *e) { return e->http; }
const struct trg_config *trg_engine_config(const struct trg_engine *e) { return e->cfg; }
bool trg_engine_stopping(const struct trg_engine *e) { return e->stopping; }

uint64_t trg_engine_rand(struct trg_engine *e)
{
    uint64_t x = e->rand_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rand_state = x;
    return (x * 0x2545F4914F6CDD1DULL) | 1;
}

void trg_engine_config_ref(struct trg_config *c) { c->refs++; }

void trg_engine_config_unref(struct trg_config *c)
{
    if (--c->refs == 0)
        trg_config_free(c);
}

/* Deferred work runs in the prepare watcher, which runs on every loop iteration anyway. */
static void wake(struct trg_engine *e) { (void)e; }

/* --- the connector face (connectors/connector.h) --- */

struct ev_loop *trg_source_loop(struct trg_source *src) { return src->engine->loop; }
const char *trg_source_name(struct trg_source *src) { return src->name; }
struct trg_http *trg_source_http(struct trg_source *src) { return src->engine->http; }
struct trg_redis *trg_source_redis(struct trg_source *src) { return src->engine->redis; }
void trg_source_set_lag(struct trg_source *src, double lag)
{
    trg_metrics_set(src->engine->metrics, TRG_M_SOURCE_LAG, src->name, NULL, lag);
}
void trg_source_set_gauge(struct trg_source *src, enum trg_source_gauge which, const char *label, double v)
{
    enum trg_metric f = which == TRG_GAUGE_PARTITION_LAG ? TRG_M_PARTITION_LAG : TRG_M_PAUSED_PARTITIONS;
    const char *l2 = which == TRG_GAUGE_PARTITION_LAG ? label : NULL;
    if (v < 0)
        trg_metrics_remove(src->engine->metrics, f, src->name, l2);
    else
        trg_metrics_set(src->engine->metrics, f, src->name, l2, v);
}
bool trg_source_shutting_down(struct trg_source *src) { return src->engine->stopping; }

void trg_source_count(struct trg_source *src, const char *event, double n)
{
    trg_metrics_add(src->engine->metrics, TRG_M_SOURCE_EVENTS, src->name, event, n);
}

const struct trg_redis_conf *trg_source_redis_conf(struct trg_source *src)
{
    return src->engine->redis ? &src->engine->redis_cfg->redis : NULL;
}

/* Push-source events go through the route's durable intake stream when Redis is configured. */
static bool durable(const struct trg_source *src)
{
    return src->engine->redis && src->conf->ops->durable_intake;
}

/* Every XADD of a's event answered: the source hears accepted (and, stored, done); the event is freed. */
static void intake_finish(struct intake_add *a)
{
    struct trg_event *ev = a->ev;
    int err = a->err;
    trg_list_remove(&a->link);
    trg_free(a);
    if (!ev)
        return;
    struct trg_source *src = ev->src;
    struct trg_engine *e = src->engine;
    if (src->conf->ops->accepted)
        src->conf->ops->accepted(src->inst, ev, err);
    if (err == 0)
        src->conf->ops->done(src->inst, ev, TRG_DONE_OK, NULL);
    else
        trg_metrics_add(e->metrics, TRG_M_REJECTED, src->name, NULL, 1);
    trg_event_free(ev);
    if (--src->outstanding == 0 && src->retired)
        e->reap = true;
}

static void intake_added(void *arg, redisReply *reply)
{
    struct intake_add *a = arg;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (a->ev && !a->err)
            trg_warn("engine", a->ev->src->name, "cannot store an event in a durable intake stream (%s): "
                     "refused to its sender; check the Redis connection and the user's permission for XADD",
                     reply ? reply->str : "connection lost");
        a->err = TRG_EIO;
    }
    if (--a->pending == 0)
        intake_finish(a);
}

/* Append ev to the intake stream of every route of src; the source hears the outcome later. */
static int intake_emit(struct trg_source *src, struct trg_event *ev)
{
    struct trg_engine *e = src->engine;
    struct intake_add *a = trg_calloc(1, sizeof *a);
    char created[24];
    if (!a)
        return TRG_ENOMEM;
    snprintf(created, sizeof created, "%lld", (long long)ev->created_ms);
    a->e = e;
    ev->src = src;
    ev->seq = ++e->seq;
    ev->received_ms = trg_wall_ms();
    struct trg_list *p;
    for (p = src->routes.next; p != &src->routes && a->err == 0; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, src_link);
        char *key = trg_asprintf("%sintake:%s", trg_redis_prefix(e->redis), r->name);
        const char *argv[11] = {"XADD", key, "*", "json", ev->json, "created_ms", created};
        size_t lens[11] = {4, key ? strlen(key) : 0, 1, 4, ev->len, 10, strlen(created)};
        int argc = 7;
        const char *opt[2][2] = {{"item_id", ev->item_id}, {"order_key", ev->order_key}};
        for (int i = 0; i < 2; i++) {
            if (!opt[i][1])
                continue;
            argv[argc] = opt[i][0];
            lens[argc++] = strlen(opt[i][0]);
            argv[argc] = opt[i][1];
            lens[argc++] = strlen(opt[i][1]);
        }
        int rc = key ? trg_redis_command(e->redis, intake_added, a, argc, argv, lens) : TRG_ENOMEM;
        trg_free(key);
        if (rc == 0)
            a->pending++;
        else
            a->err = rc;
    }
    if (a->pending == 0) { /* nothing sent: refuse now, the caller still owns ev */
        int err = a->err ? a->err : TRG_ESTATE;
        trg_free(a);
        trg_metrics_add(e->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return err == TRG_ESTATE ? TRG_EFULL : err;
    }
    a->ev = ev;
    trg_list_push_back(&e->adds, &a->link);
    src->outstanding++;
    src->received++; /* published at scrape (source_publish): no label lookup per event */
    return 0;
}

bool trg_source_can_accept(struct trg_source *src)
{
    if (src->engine->stopping || src->stopped)
        return false;
    if (durable(src)) /* the intake stream takes the backlog; its readers pause on full routes */
        return trg_redis_connected(src->engine->redis);
    struct trg_list *p;
    for (p = src->routes.next; p != &src->routes; p = p->next)
        if (!trg_route_can_accept(trg_list_entry(p, struct trg_route, src_link)))
            return false;
    return true;
}

int trg_source_emit(struct trg_source *src, struct trg_event *ev)
{
    struct trg_engine *e = src->engine;
    if (e->stopping || src->stopped) {
        trg_metrics_add(e->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return TRG_ESTATE;
    }
    if (!trg_source_can_accept(src)) {
        trg_metrics_add(e->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return TRG_EFULL;
    }
    if (trg_list_empty(&src->routes)) { /* nowhere to go: refuse rather than drop it */
        trg_warn("source", src->name, "an event arrived but no enabled route takes this source's events: "
                 "refused (add a route, or enable it)");
        trg_metrics_add(e->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return TRG_ESTATE;
    }
    int64_t now = (int64_t)(ev_now(e->loop) * 1000.0); /* the loop's wall clock: one clock read per pass */
    if (!ev->created_ms)
        ev->created_ms = now;
    if (durable(src) && !ev->no_intake)
        return intake_emit(src, ev);
    ev->src = src;
    ev->seq = ++e->seq;
    ev->received_ms = now;
    ev->status = TRG_DONE_OK;
    ev->refs = 1; /* held by this call until every route has it */
    src->outstanding++;
    if (src->conf->ops->accepted) { /* in memory: accepted as soon as this call returns */
        ev->accept_next = NULL;
        if (e->accept_tail)
            e->accept_tail->accept_next = ev;
        else
            e->accept_head = ev;
        e->accept_tail = ev;
        ev->accept_pending = 1;
    }
    src->received++; /* published at scrape (source_publish): no label lookup per event */
    e->emitting++;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &src->routes) ev->refs++;
    trg_list_each(p, tmp, &src->routes) trg_route_push(trg_list_entry(p, struct trg_route, src_link), ev);
    trg_engine_event_done(e, ev, TRG_DONE_OK, NULL);
    e->emitting--;
    return 0;
}

/* --- durable intake: reading --- */

static struct trg_route *active_route(struct trg_engine *e, const char *name)
{
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (!r->retired && strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

/* An intake reads while its route has room. */
static void intake_update(struct intake *in)
{
    struct trg_route *r = active_route(in->e, in->route);
    bool paused = in->e->stopping || !r || !trg_route_can_accept(r);
    if (paused != in->paused) {
        in->paused = paused;
        trg_rstream_pause(in->rs, paused);
    }
}

static const char *entry_field(const struct trg_rstream_entry *en, const char *name, size_t *len)
{
    for (size_t i = 0; i < en->n_fields; i++)
        if (en->field_lens[i] == strlen(name) && memcmp(en->fields[i], name, en->field_lens[i]) == 0) {
            *len = en->value_lens[i];
            return en->values[i];
        }
    return NULL;
}

static void intake_entry(void *arg, const struct trg_rstream_entry *en)
{
    struct intake *in = arg;
    struct trg_engine *e = in->e;
    struct trg_route *r = active_route(e, in->route);
    if (!r || e->stopping) {
        trg_rstream_release(en->msg);
        intake_update(in);
        return;
    }
    size_t jlen = 0, ilen = 0, klen = 0, clen = 0;
    const char *json = entry_field(en, "json", &jlen), *item = entry_field(en, "item_id", &ilen);
    const char *key = entry_field(en, "order_key", &klen), *created = entry_field(en, "created_ms", &clen);
    if (!json) {
        trg_warn("intake", in->route, "entry %s of %s has no json field (not written by trigd?): deleted", en->id,
                 in->key);
        trg_rstream_ack(en->msg, true);
        return;
    }
    struct trg_event *ev = trg_event_new_copy(json, jlen);
    if (!ev || (item && !(ev->item_id = trg_strndup(item, ilen))) ||
        (key && !(ev->order_key = trg_strndup(key, klen)))) {
        trg_error("intake", in->route, "out of memory taking entry %s: it stays pending and is retried later",
                  en->id);
        trg_event_free(ev);
        trg_rstream_release(en->msg);
        return;
    }
    if (created && clen > 0)
        ev->created_ms = strtoll(created, NULL, 10);
    ev->receive_count = en->delivery_count > 1000000 ? 1000000 : (int)en->delivery_count;
    ev->intake = in;
    ev->intake_msg = en->msg;
    ev->seq = ++e->seq;
    ev->received_ms = trg_wall_ms();
    ev->status = TRG_DONE_OK;
    ev->refs = 1;
    e->emitting++; /* outcomes come back later, from the loop */
    trg_route_push(r, ev);
    e->emitting--;
    intake_update(in);
}

/* An intake event reached its end: XACK and XDEL its entry, or leave it pending to be reclaimed. */
static void intake_done(struct trg_event *ev)
{
    struct intake *in = ev->intake;
    if (ev->status == TRG_DONE_OK)
        trg_rstream_ack(ev->intake_msg, true);
    else
        trg_rstream_release(ev->intake_msg);
    trg_event_free(ev);
    intake_update(in);
}

static void intake_destroy(struct intake *in)
{
    trg_list_remove(&in->link);
    trg_rstream_destroy(in->rs);
    trg_free(in->route);
    trg_free(in->key);
    trg_free(in);
}

static void intake_start(struct intake *in)
{
    if (in->started)
        return;
    int rc = trg_rstream_start(in->rs);
    if (rc != 0)
        trg_error("intake", in->route, "cannot start reading %s: %s", in->key, trg_strerror(rc));
    in->started = rc == 0;
}

/* Give every active route fed by a durable source a reader of its intake stream. Readers of routes that
 * went away stay (paused) so that a route coming back under the same name resumes its backlog. */
static void intakes_sync(struct trg_engine *e)
{
    if (!e->redis)
        return;
    struct trg_list *p, *q;
    for (p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired || !r->source || !durable(r->source))
            continue;
        bool have = false;
        for (q = e->intakes.next; q != &e->intakes && !have; q = q->next)
            have = strcmp(trg_list_entry(q, struct intake, link)->route, r->name) == 0;
        if (have)
            continue;
        struct intake *in = trg_calloc(1, sizeof *in);
        if (!in || !(in->route = trg_strdup(r->name)) ||
            !(in->key = trg_asprintf("%sintake:%s", trg_redis_prefix(e->redis), r->name))) {
            if (in)
                trg_free(in->route);
            trg_free(in);
            trg_error("intake", r->name, "out of memory creating the intake reader; reload to retry");
            continue;
        }
        in->e = e;
        struct trg_rstream_conf c = {
            .stream = in->key,
            .group = "trigd",
            .consumer = e->consumer,
            .start = "0",
            .batch = r->conf->batch_size > 100 ? r->conf->batch_size : 100,
            .max_inflight = r->conf->max_queued_events,
            .visibility_timeout_ms = e->redis_cfg->redis.intake_visibility_timeout_ms,
            .log_component = "intake",
            .log_instance = in->route,
        };
        int rc = trg_rstream_create(e->loop, &e->redis_cfg->redis, e->redis, &c, intake_entry, in, &in->rs);
        if (rc != 0) {
            trg_error("intake", r->name, "cannot create the intake reader: %s", trg_strerror(rc));
            trg_free(in->route);
            trg_free(in->key);
            trg_free(in);
            continue;
        }
        trg_list_init(&in->link);
        trg_list_push_back(&e->intakes, &in->link);
        if (e->started_ms)
            intake_start(in);
    }
}

/* XLEN of every intake stream, as the intake depth metric. */
struct depth_req {
    struct trg_metrics *metrics;
    char *route;
};

static void on_depth(void *arg, redisReply *reply)
{
    struct depth_req *d = arg;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        trg_metrics_set(d->metrics, TRG_M_INTAKE_DEPTH, d->route, NULL, (double)reply->integer);
    trg_free(d->route);
    trg_free(d);
}

static void intake_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_engine *e = w->data;
    for (struct trg_list *p = e->intakes.next; p != &e->intakes; p = p->next) {
        struct intake *in = trg_list_entry(p, struct intake, link);
        struct depth_req *d = trg_calloc(1, sizeof *d);
        if (!d || !(d->route = trg_strdup(in->route))) {
            trg_free(d);
            return;
        }
        d->metrics = e->metrics;
        const char *argv[] = {"XLEN", in->key};
        if (trg_redis_command(e->redis, on_depth, d, 2, argv, NULL) != 0) {
            trg_free(d->route);
            trg_free(d);
        }
    }
}

static void run_accepted(struct trg_engine *e);

static void hand_back(struct trg_engine *e, struct trg_event *ev, const struct trg_invoke_result *res)
{
    struct trg_source *src = ev->src;
    if (ev->intake) {
        intake_done(ev);
        return;
    }
    /* An invocation can finish within the loop iteration that accepted its event (libev runs callbacks
     * made pending by other callbacks in the same pass); the source hears "accepted" first, always. */
    if (ev->accept_pending)
        run_accepted(e);
    if (src) {
        src->outstanding--;
        src->conf->ops->done(src->inst, ev, ev->status, res);
        if (src->retired && src->outstanding == 0) {
            e->reap = true;
            wake(e);
        }
    } else {
        struct redrive *rd = ev->token;
        if (ev->status != TRG_DONE_OK)
            rd->err = TRG_ESTATE;
        if (--rd->remaining == 0) {
            rd->cb(rd->arg, rd->err);
            trg_free(rd);
        }
    }
    trg_event_free(ev);
}

void trg_engine_event_done(struct trg_engine *e, struct trg_event *ev, int status,
                           const struct trg_invoke_result *res)
{
    if (status != TRG_DONE_OK)
        ev->status = status;
    if (--ev->refs > 0)
        return;
    if (e->emitting) { /* never call a source back from inside its own emit */
        ev->done_next = NULL;
        if (e->done_tail)
            e->done_tail->done_next = ev;
        else
            e->done_head = ev;
        e->done_tail = ev;
        wake(e);
    } else {
        hand_back(e, ev, res);
    }
    if (e->stopping)
        wake(e);
}

void trg_engine_route_changed(struct trg_engine *e, struct trg_route *r)
{
    struct trg_list *q;
    for (q = e->intakes.next; q != &e->intakes; q = q->next)
        if (strcmp(trg_list_entry(q, struct intake, link)->route, r->name) == 0)
            intake_update(trg_list_entry(q, struct intake, link));
    struct trg_source *src = r->source;
    if (!src || !src->conf->ops->pause)
        return;
    bool paused = false;
    for (struct trg_list *p = src->routes.next; p != &src->routes; p = p->next) {
        struct trg_route *x = trg_list_entry(p, struct trg_route, src_link);
        paused |= x->full || x->dlq_blocked;
    }
    if (paused != src->paused) {
        src->paused = paused;
        src->conf->ops->pause(src->inst, paused);
    }
}

void trg_engine_route_idle(struct trg_engine *e, struct trg_route *r)
{
    (void)r;
    e->reap = true;
    wake(e);
}

void trg_engine_function_free(struct trg_engine *e, struct trg_function *fn)
{
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->fn == fn && trg_function_has_capacity(fn))
            trg_route_pump(r);
    }
    if (fn->retired) {
        e->reap = true;
        wake(e);
    }
}

cJSON *trg_engine_filter_view(struct trg_source *src, const struct trg_event *ev)
{
    if (src && src->conf->ops->filter_view)
        return src->conf->ops->filter_view(src->inst, ev);
    return cJSON_ParseWithLength(ev->json, ev->len);
}

int trg_engine_raw(struct trg_source *src, const struct trg_event *ev, struct trg_buf *out)
{
    if (src && src->conf->ops->raw)
        return src->conf->ops->raw(src->inst, ev, out);
    return trg_buf_add(out, ev->json, ev->len);
}

int trg_engine_envelope(struct trg_source *src, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    if (src && src->conf->ops->envelope)
        return src->conf->ops->envelope(src->inst, evs, n, out);
    if (n == 1)
        return trg_buf_add(out, evs[0]->json, evs[0]->len);
    return trg_event_join(out, "{\"records\":[", evs, n, "]}");
}

int trg_engine_on_failure(struct trg_source *src, const char *target, struct trg_event *const *evs, size_t n,
                          const struct trg_failure_info *info, void (*done)(void *, int, const char *), void *arg)
{
    if (!src || !src->conf->ops->on_failure)
        return TRG_ESTATE;
    return src->conf->ops->on_failure(src->inst, target, evs, n, info, done, arg);
}

int trg_engine_batch_info(struct trg_source *src, struct trg_event *const *evs, size_t n, size_t payload_size,
                          const char **key, struct trg_buf *out)
{
    *key = NULL;
    if (!src || !src->conf->ops->batch_info)
        return 0;
    return src->conf->ops->batch_info(src->inst, evs, n, payload_size, key, out);
}

/* --- building from a config --- */

static struct trg_function *find_function(struct trg_list *list, const char *name, const char *fp)
{
    for (struct trg_list *p = list->next; p != list; p = p->next) {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (!fn->retired && strcmp(fn->name, name) == 0 && (!fp || strcmp(fn->conf->fingerprint, fp) == 0))
            return fn;
    }
    return NULL;
}

static struct trg_source *find_source(struct trg_list *list, const char *name, const char *fp)
{
    for (struct trg_list *p = list->next; p != list; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (!s->retired && strcmp(s->name, name) == 0 && (!fp || strcmp(s->conf->fingerprint, fp) == 0))
            return s;
    }
    return NULL;
}

static int source_create(struct trg_engine *e, struct trg_config *cfg, const struct trg_source_conf *conf,
                         struct trg_source **out)
{
    struct trg_source *s = trg_calloc(1, sizeof *s);
    if (!s || !(s->name = trg_strdup(conf->name))) {
        trg_free(s);
        return TRG_ENOMEM;
    }
    s->engine = e;
    s->cfg = cfg;
    s->conf = conf;
    trg_list_init(&s->link);
    trg_list_init(&s->routes);
    int rc = conf->ops->create(s, conf->opts, &s->inst);
    if (rc != 0) {
        trg_error("source", conf->name, "cannot create the %s source: %s", conf->type, trg_strerror(rc));
        trg_free(s->name);
        trg_free(s);
        return rc;
    }
    trg_engine_config_ref(cfg);
    *out = s;
    return 0;
}

static void source_stop(struct trg_source *s)
{
    if (s->started && !s->stopped)
        s->conf->ops->stop(s->inst);
    s->stopped = true;
}

/* Add the events received since the last call to trigd_events_received_total. */
static void source_publish(struct trg_source *s)
{
    if (s->received) {
        trg_metrics_add(s->engine->metrics, TRG_M_EVENTS_RECEIVED, s->name, NULL, (double)s->received);
        s->received = 0;
    }
}

static void source_destroy(struct trg_source *s)
{
    source_publish(s);
    source_stop(s);
    s->conf->ops->destroy(s->inst);
    trg_list_remove(&s->link);
    trg_engine_config_unref(s->cfg);
    trg_free(s->name);
    trg_free(s);
}

static int source_start(struct trg_source *s)
{
    int rc = s->conf->ops->start(s->inst);
    if (rc != 0) {
        trg_error("source", s->name, "cannot start: %s", trg_strerror(rc));
        return rc;
    }
    s->started = true;
    return 0;
}

/* New objects for a config, kept apart until they are committed. */
struct build {
    struct trg_list functions, sources, routes;
};

static void build_discard(struct build *b)
{
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &b->routes) trg_route_destroy(trg_list_entry(p, struct trg_route, link));
    trg_list_each(p, tmp, &b->sources) source_destroy(trg_list_entry(p, struct trg_source, link));
    trg_list_each(p, tmp, &b->functions) trg_function_destroy(trg_list_entry(p, struct trg_function, link));
}

/* Create what cfg needs and the engine does not have unchanged; routes go to b->routes. */
static int build(struct trg_engine *e, struct trg_config *cfg, struct build *b)
{
    trg_list_init(&b->functions);
    trg_list_init(&b->sources);
    trg_list_init(&b->routes);
    int rc = 0;
    for (size_t i = 0; i < cfg->n_functions && rc == 0; i++) {
        const struct trg_function_conf *fc = &cfg->functions[i];
        if (find_function(&e->functions, fc->name, fc->fingerprint))
            continue;
        struct trg_function *fn;
        rc = trg_function_create(e, cfg, fc, &fn);
        if (rc == 0)
            trg_list_push_back(&b->functions, &fn->link);
    }
    for (size_t i = 0; i < cfg->n_sources && rc == 0; i++) {
        const struct trg_source_conf *sc = &cfg->sources[i];
        if (find_source(&e->sources, sc->name, sc->fingerprint))
            continue;
        struct trg_source *s;
        rc = source_create(e, cfg, sc, &s);
        if (rc == 0)
            trg_list_push_back(&b->sources, &s->link);
    }
    for (size_t i = 0; i < cfg->n_routes && rc == 0; i++) {
        const struct trg_route_conf *rc_ = &cfg->routes[i];
        struct trg_function *fn = find_function(&b->functions, rc_->function, NULL);
        if (!fn)
            fn = find_function(&e->functions, rc_->function, NULL);
        struct trg_source *s = find_source(&b->sources, rc_->source, NULL);
        if (!s)
            s = find_source(&e->sources, rc_->source, NULL);
        /* Unchanged: same definition, same source and function objects. */
        bool kept = false;
        for (struct trg_list *p = e->routes.next; p != &e->routes && !kept; p = p->next) {
            struct trg_route *r = trg_list_entry(p, struct trg_route, link);
            kept = !r->retired && strcmp(r->name, rc_->name) == 0 &&
                   strcmp(r->conf->fingerprint, rc_->fingerprint) == 0 && r->fn == fn && r->source == s;
        }
        if (kept)
            continue;
        struct trg_route *r;
        rc = trg_route_create(e, cfg, rc_, s, fn, &r);
        if (rc == 0)
            trg_list_push_back(&b->routes, &r->link);
    }
    if (rc != 0)
        build_discard(b);
    return rc;
}

static bool in_config_function(const struct trg_config *cfg, const struct trg_function *fn)
{
    const struct trg_function_conf *fc = trg_config_function(cfg, fn->name);
    return fc && strcmp(fc->fingerprint, fn->conf->fingerprint) == 0;
}

static bool in_config_source(const struct trg_config *cfg, const struct trg_source *s)
{
    const struct trg_source_conf *sc = trg_config_source(cfg, s->name);
    return sc && strcmp(sc->fingerprint, s->conf->fingerprint) == 0;
}

static void retire_route(struct trg_engine *e, struct trg_route *r)
{
    r->retired = true;
    trg_list_remove(&r->src_link);
    trg_info("route", r->name, "retired: finishing the %zu event(s) it holds", r->held);
    trg_route_pump(r);
    if (r->held == 0) {
        e->reap = true;
        wake(e);
    }
}

/* Make the build live: retire what the new config no longer has unchanged, adopt the new objects. */
static int commit(struct trg_engine *e, struct trg_config *cfg, struct build *b)
{
    struct trg_list *p, *tmp;
    /* Routes first, so that no retired source still feeds an active route. */
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired)
            continue;
        bool kept = false;
        for (size_t i = 0; i < cfg->n_routes && !kept; i++)
            kept = strcmp(cfg->routes[i].name, r->name) == 0 &&
                   strcmp(cfg->routes[i].fingerprint, r->conf->fingerprint) == 0 && in_config_source(cfg, r->source) &&
                   in_config_function(cfg, r->fn);
        if (!kept)
            retire_route(e, r);
    }
    trg_list_each(p, tmp, &e->sources)
    {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (!s->retired && !in_config_source(cfg, s)) {
            source_stop(s);
            s->retired = true;
            e->reap = true;
        }
    }
    trg_list_each(p, tmp, &e->functions)
    {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (!fn->retired && !in_config_function(cfg, fn)) {
            fn->retired = true;
            e->reap = true;
        }
    }
    trg_list_each(p, tmp, &b->functions)
    {
        trg_list_remove(p);
        trg_list_push_back(&e->functions, p);
    }
    trg_list_each(p, tmp, &b->sources)
    {
        trg_list_remove(p);
        trg_list_push_back(&e->sources, p);
    }
    trg_list_each(p, tmp, &b->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        trg_list_remove(p);
        trg_list_push_back(&e->routes, p);
        if (r->conf->enabled)
            trg_list_push_back(&r->source->routes, &r->src_link);
    }
    /* Unchanged routes keep their objects but now read their settings from the new config. */
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired || r->cfg == cfg)
            continue;
        for (size_t i = 0; i < cfg->n_routes; i++)
            if (strcmp(cfg->routes[i].name, r->name) == 0) {
                trg_engine_config_ref(cfg);
                trg_engine_config_unref(r->cfg);
                r->cfg = cfg;
                r->conf = &cfg->routes[i];
            }
    }
    if (e->reap)
        wake(e);
    int rc = 0;
    if (e->started_ms) {
        trg_list_each(p, tmp, &e->sources)
        {
            struct trg_source *s = trg_list_entry(p, struct trg_source, link);
            if (!s->started && !s->retired && source_start(s) != 0)
                rc = TRG_EINVAL;
        }
    }
    trg_engine_config_ref(cfg);
    if (e->cfg)
        trg_engine_config_unref(e->cfg);
    e->cfg = cfg;
    intakes_sync(e);
    return rc;
}

/* --- health, readiness, metrics --- */

bool trg_engine_ready(const struct trg_engine *e)
{
    if (e->redis && !trg_redis_connected(e->redis))
        return false;
    for (struct trg_list *p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired)
            continue;
        if (!s->started || (s->conf->ops->ready && !s->conf->ops->ready(s->inst)))
            return false;
    }
    return !e->stopping;
}

/* 200 while trigd runs; "degraded" names the routes waiting for the DLQ (their sources are paused). */
static void on_healthz(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    struct trg_buf b = {0};
    size_t n = 0;
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (!r->dlq_blocked)
            continue;
        trg_buf_adds(&b, n++ ? "," : "{\"status\":\"degraded\",\"dlq_blocked\":[");
        trg_buf_add_json_str(&b, r->name, strlen(r->name));
    }
    if (n && trg_buf_adds(&b, "]}") == 0)
        trg_http_respond(req, 200, "application/json", b.data, b.len, NULL);
    else
        trg_http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
    trg_buf_free(&b);
}

static void on_readyz(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (trg_engine_ready(e))
        trg_http_respond(req, 200, "application/json", "{\"ready\":true}", 14, NULL);
    else
        trg_http_respond(req, 503, "application/json", "{\"ready\":false}", 15, NULL);
}

static void on_metrics(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    struct trg_buf b = {0};
    struct trg_list *p;
    for (p = e->routes.next; p != &e->routes; p = p->next)
        trg_route_update_metrics(trg_list_entry(p, struct trg_route, link));
    for (p = e->sources.next; p != &e->sources; p = p->next)
        source_publish(trg_list_entry(p, struct trg_source, link));
    if (trg_metrics_render(e->metrics, &b) != 0) {
        trg_buf_free(&b);
        trg_http_respond_error(req, 500, "out of memory");
        return;
    }
    trg_http_respond(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, NULL);
    trg_buf_free(&b);
}

int trg_engine_sources_status_json(struct trg_engine *e, const char *type, int next_n, struct trg_buf *out)
{
    int rc = trg_buf_addc(out, '[');
    bool first = true;
    for (struct trg_list *p = e->sources.next; p != &e->sources && !rc; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired || strcmp(s->conf->type, type) != 0 || !s->conf->ops->status_json)
            continue;
        rc = first ? 0 : trg_buf_addc(out, ',');
        rc = rc ? rc : s->conf->ops->status_json(s->inst, out, next_n);
        first = false;
    }
    return rc ? rc : trg_buf_addc(out, ']');
}

int trg_engine_routes_json(struct trg_engine *e, struct trg_buf *out)
{
    int rc = trg_buf_addc(out, '[');
    bool first = true;
    struct trg_list *p;
    for (p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired)
            continue;
        rc |= trg_buf_addf(out, "%s{\"name\":", first ? "" : ",");
        rc |= trg_buf_add_json_str(out, r->name, strlen(r->name));
        rc |= trg_buf_adds(out, ",\"source\":");
        rc |= trg_buf_add_json_str(out, r->conf->source, strlen(r->conf->source));
        rc |= trg_buf_adds(out, ",\"function\":");
        rc |= trg_buf_add_json_str(out, r->conf->function, strlen(r->conf->function));
        rc |= trg_buf_addf(out,
                           ",\"enabled\":%s,\"held\":%zu,\"full\":%s,\"dlq_blocked\":%s,\"batch_size\":%lld,"
                           "\"batch_window_ms\":%lld,\"max_retry_attempts\":%lld,\"max_record_age_s\":%lld}",
                           r->conf->enabled ? "true" : "false", r->held, r->full ? "true" : "false",
                           r->dlq_blocked ? "true" : "false", (long long)r->conf->batch_size,
                           (long long)r->conf->batch_window_ms, (long long)r->conf->max_retry_attempts,
                           (long long)r->conf->max_record_age_s);
        first = false;
    }
    rc |= trg_buf_addc(out, ']');
    return rc ? TRG_ENOMEM : 0;
}

int trg_engine_status_json(struct trg_engine *e, struct trg_buf *out)
{
    int rc = trg_buf_addf(out, "{\"version\":\"%s\",\"uptime_s\":%lld,\"ready\":%s,\"config\":", PACKAGE_VERSION,
                          (long long)((trg_mono_ms() - e->started_ms) / 1000), trg_engine_ready(e) ? "true" : "false");
    rc |= trg_buf_add_json_str(out, e->cfg->path, strlen(e->cfg->path));
    rc |= trg_buf_adds(out, ",\"sources\":[");
    bool first = true;
    struct trg_list *p;
    for (p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired)
            continue;
        rc |= trg_buf_addf(out, "%s{\"name\":", first ? "" : ",");
        rc |= trg_buf_add_json_str(out, s->name, strlen(s->name));
        rc |= trg_buf_addf(out, ",\"type\":\"%s\",\"ready\":%s,\"paused\":%s,\"outstanding\":%zu}", s->conf->type,
                           (!s->conf->ops->ready || s->conf->ops->ready(s->inst)) ? "true" : "false",
                           s->paused ? "true" : "false", s->outstanding);
        first = false;
    }
    rc |= trg_buf_adds(out, "],\"routes\":");
    rc |= trg_engine_routes_json(e, out);
    rc |= trg_buf_adds(out, ",\"functions\":[");
    first = true;
    for (p = e->functions.next; p != &e->functions; p = p->next) {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (fn->retired)
            continue;
        rc |= trg_buf_addf(out, "%s{\"name\":", first ? "" : ",");
        rc |= trg_buf_add_json_str(out, fn->name, strlen(fn->name));
        rc |= trg_buf_addf(out, ",\"type\":\"%s\",\"inflight\":%d,\"max_concurrency\":%lld}", fn->conf->type,
                           fn->inflight, (long long)fn->conf->max_concurrency);
        first = false;
    }
    rc |= trg_buf_adds(out, "]}");
    return rc ? TRG_ENOMEM : 0;
}

/* --- direct invocation and redrive --- */

int trg_engine_invoke(struct trg_engine *e, const char *function, const char *payload, size_t len,
                      trg_invoke_cb cb, void *arg)
{
    struct trg_function *fn = find_function(&e->functions, function, NULL);
    if (!fn)
        return TRG_ENOTFOUND;
    if (e->stopping)
        return TRG_ESTATE;
    return trg_dispatch_direct(fn, payload, len, cb, arg);
}

int trg_engine_redrive(struct trg_engine *e, const char *route, const char *record, size_t len,
                       void (*cb)(void *arg, int err), void *arg)
{
    struct trg_route *r = NULL;
    for (struct trg_list *p = e->routes.next; p != &e->routes && !r; p = p->next) {
        struct trg_route *x = trg_list_entry(p, struct trg_route, link);
        if (!x->retired && strcmp(x->name, route) == 0)
            r = x;
    }
    if (!r)
        return TRG_ENOTFOUND;
    if (e->stopping)
        return TRG_ESTATE;
    cJSON *root = cJSON_ParseWithLength(record, len);
    const cJSON *trigd = cJSON_GetObjectItemCaseSensitive(root, "trigd");
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(trigd, "records");
    int n = cJSON_GetArraySize(records);
    if (!cJSON_IsArray(records) || n == 0) {
        cJSON_Delete(root);
        return TRG_EINVAL;
    }
    if (r->held + (size_t)n > (size_t)r->conf->max_queued_events) {
        cJSON_Delete(root);
        return TRG_EFULL;
    }
    struct trg_redrive_events {
        struct trg_event **v;
    } evs = {trg_calloc((size_t)n, sizeof(struct trg_event *))};
    struct redrive *rd = trg_calloc(1, sizeof *rd);
    int rc = evs.v && rd ? 0 : TRG_ENOMEM;
    int i = 0;
    for (const cJSON *it = records->child; it && rc == 0; it = it->next, i++) {
        char *json = cJSON_PrintUnformatted(it);
        evs.v[i] = json ? trg_event_new(json, strlen(json)) : NULL;
        if (!evs.v[i])
            rc = TRG_ENOMEM;
    }
    cJSON_Delete(root);
    if (rc != 0) {
        for (int k = 0; evs.v && k < n; k++)
            trg_event_free(evs.v[k]);
        trg_free(evs.v);
        trg_free(rd);
        return rc;
    }
    rd->remaining = (size_t)n;
    rd->cb = cb;
    rd->arg = arg;
    e->emitting++; /* the callback comes later, never from inside this call */
    for (i = 0; i < n; i++) {
        struct trg_event *ev = evs.v[i];
        ev->token = rd;
        ev->seq = ++e->seq;
        ev->received_ms = trg_wall_ms();
        ev->refs = 1;
        trg_route_push(r, ev);
    }
    e->emitting--;
    trg_free(evs.v);
    return 0;
}

/* --- reaping, shutdown --- */

static void reap(struct trg_engine *e)
{
    e->reap = false;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired && r->held == 0)
            trg_route_destroy(r);
    }
    trg_list_each(p, tmp, &e->sources)
    {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired && s->outstanding == 0)
            source_destroy(s);
    }
    trg_list_each(p, tmp, &e->functions)
    {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (fn->retired && fn->users == 0 && fn->inflight == 0)
            trg_function_destroy(fn);
    }
}

static void run_accepted(struct trg_engine *e)
{
    while (e->accept_head) {
        struct trg_event *ev = e->accept_head;
        e->accept_head = ev->accept_next;
        if (!e->accept_head)
            e->accept_tail = NULL;
        ev->accept_pending = 0;
        ev->src->conf->ops->accepted(ev->src->inst, ev, 0);
    }
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_engine *e = w->data;
    run_accepted(e);
    while (e->done_head) {
        struct trg_event *ev = e->done_head;
        e->done_head = ev->done_next;
        if (!e->done_head)
            e->done_tail = NULL;
        hand_back(e, ev, NULL);
    }
    if (e->reap)
        reap(e);
    if (e->stopping)
        check_drained(e);
}

static size_t held_total(const struct trg_engine *e)
{
    size_t n = 0;
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next)
        n += trg_list_entry(p, struct trg_route, link)->held;
    return n;
}

static void finish_shutdown(struct trg_engine *e)
{
    ev_timer_stop(e->loop, &e->shutdown_timer);
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    if (done)
        done(e->shutdown_arg);
}

static void check_drained(struct trg_engine *e)
{
    /* With Redis, also wait for the acks (and intake appends) to be answered, or they may be lost. */
    if (e->shutdown_done && held_total(e) == 0 && !e->done_head && trg_list_empty(&e->adds) &&
        trg_redis_pending(e->redis) == 0)
        finish_shutdown(e);
}

static void abandon_all(struct trg_engine *e)
{
    struct trg_list *p, *tmp;
    /* Cancel invocations first, so that no callback can reach a batch freed below. */
    trg_list_each(p, tmp, &e->functions)
    {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (fn->inst) {
            fn->conf->ops->destroy(fn->inst);
            fn->inst = NULL;
        }
    }
    run_accepted(e);
    size_t n = held_total(e);
    if (n)
        trg_warn("engine", NULL, "shutdown_timeout_ms passed: abandoning %zu unfinished event(s); sources that "
                 "can redeliver will", n);
    trg_list_each(p, tmp, &e->routes) trg_route_abandon(trg_list_entry(p, struct trg_route, link));
    while (e->done_head) {
        struct trg_event *ev = e->done_head;
        e->done_head = ev->done_next;
        hand_back(e, ev, NULL);
    }
    e->done_tail = NULL;
}

static void shutdown_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_engine *e = w->data;
    abandon_all(e);
    finish_shutdown(e);
}

void trg_engine_shutdown(struct trg_engine *e, void (*done)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = true;
    e->shutdown_done = done;
    e->shutdown_arg = arg;
    size_t n = held_total(e);
    trg_info("engine", NULL, "stopping intake; draining %zu event(s) for up to %lld ms", n,
             (long long)e->cfg->shutdown_timeout_ms);
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->sources) source_stop(trg_list_entry(p, struct trg_source, link));
    trg_list_each(p, tmp, &e->intakes) intake_update(trg_list_entry(p, struct intake, link));
    trg_list_each(p, tmp, &e->routes) trg_route_pump(trg_list_entry(p, struct trg_route, link));
    ev_timer_init(&e->shutdown_timer, shutdown_timeout_cb, (double)e->cfg->shutdown_timeout_ms / 1000.0, 0.);
    e->shutdown_timer.data = e;
    ev_timer_start(e->loop, &e->shutdown_timer);
    wake(e);
}

/* --- create, start, reload, destroy --- */

int trg_engine_create(struct ev_loop *loop, struct trg_config *conf, struct trg_engine **out)
{
    struct trg_engine *e = trg_calloc(1, sizeof *e);
    if (!e)
        return TRG_ENOMEM;
    e->loop = loop;
    trg_list_init(&e->sources);
    trg_list_init(&e->functions);
    trg_list_init(&e->routes);
    trg_list_init(&e->intakes);
    trg_list_init(&e->adds);
    ev_timer_init(&e->intake_timer, intake_timer_cb, 1., 1.);
    e->intake_timer.data = e;
    e->rand_state = (uint64_t)trg_wall_ms() * 2654435761u ^ (uint64_t)(uintptr_t)e;
    if (!e->rand_state)
        e->rand_state = 1;
    ev_prepare_init(&e->prepare, prepare_cb);
    e->prepare.data = e;
    ev_prepare_start(loop, &e->prepare);
    ev_unref(loop); /* the prepare watcher alone does not keep the loop running */
    int rc = trg_metrics_create(&e->metrics);
    if (rc != 0)
        goto fail;
    const struct trg_http_limits lim = {(unsigned)conf->http.max_connections,
                                        (unsigned)conf->http.max_connections_per_address,
                                        (unsigned)conf->http.request_timeout_s,
                                        (unsigned)conf->http.reserved_connections};
    rc = trg_http_create_limited(loop, conf->http.listen, &lim, &e->http);
    if (rc != 0) {
        trg_error("http", NULL, "cannot listen on %s: is the port in use, or the address not local?",
                  conf->http.listen);
        rc = TRG_EINVAL;
        goto fail;
    }
    if (conf->has_redis && (rc = trg_redis_create(loop, &conf->redis, &e->redis)) != 0) {
        char shown[256];
        trg_error("redis", NULL, "cannot set up the Redis connection to %s: %s",
                  trg_url_redact(conf->redis.url, shown, sizeof shown), trg_strerror(rc));
        goto fail;
    }
    if (e->redis) {
        e->redis_cfg = conf; /* referenced below once the engine exists */
        if (!(e->consumer = trg_rstream_default_consumer())) {
            rc = TRG_ENOMEM;
            goto fail;
        }
    }
    bool use_redis = conf->dlq.backend == 1 || (conf->dlq.backend == 0 && conf->has_redis);
    struct trg_dlq_conf dc = {.backend = use_redis ? 1 : 0, .dir = conf->dlq.path, .max_len = conf->dlq.max_len};
    if ((rc = trg_dlq_create(loop, &dc, e->redis, &e->dlq)) != 0) {
        trg_error("dlq", NULL, "cannot open the DLQ (%s): %s", use_redis ? "redis" : conf->dlq.path,
                  trg_strerror(rc));
        rc = TRG_EINVAL;
        goto fail;
    }
    if ((rc = trg_http_route(e->http, "GET", "/healthz", 0, on_healthz, e)) != 0 ||
        (rc = trg_http_route(e->http, "GET", "/readyz", 0, on_readyz, e)) != 0 ||
        (rc = trg_http_route(e->http, "GET", "/metrics", 0, on_metrics, e)) != 0 ||
        (rc = trg_admin_register(e, e->http, conf->http.admin_token)) != 0)
        goto fail;
    struct build b;
    if ((rc = build(e, conf, &b)) != 0) {
        rc = TRG_EINVAL;
        goto fail;
    }
    commit(e, conf, &b);
    if (e->redis_cfg)
        trg_engine_config_ref(e->redis_cfg);
    *out = e;
    return 0;
fail:
    ev_ref(loop);
    ev_prepare_stop(loop, &e->prepare);
    trg_dlq_destroy(e->dlq);
    trg_free(e->consumer);
    trg_redis_destroy(e->redis);
    trg_http_destroy(e->http);
    trg_metrics_destroy(e->metrics);
    trg_free(e);
    return rc;
}

int trg_engine_start(struct trg_engine *e)
{
    e->started_ms = trg_mono_ms();
    int rc = 0;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->sources)
    {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (!s->started && !s->retired && source_start(s) != 0)
            rc = TRG_EINVAL;
    }
    trg_list_each(p, tmp, &e->intakes) intake_start(trg_list_entry(p, struct intake, link));
    if (!trg_list_empty(&e->intakes))
        ev_timer_start(e->loop, &e->intake_timer);
    trg_info("engine", NULL, "running %zu source(s), %zu route(s), %zu function(s); HTTP on port %d",
             e->cfg->n_sources, e->cfg->n_routes, e->cfg->n_functions, trg_http_port(e->http));
    return rc;
}

int trg_engine_reload(struct trg_engine *e, struct trg_config *conf)
{
    if (strcmp(conf->http.listen, e->cfg->http.listen) != 0)
        trg_warn("engine", NULL, "http.listen changed to %s: that takes a restart; still listening on %s",
                 conf->http.listen, e->cfg->http.listen);
    if (conf->has_redis != e->cfg->has_redis ||
        (conf->has_redis && strcmp(conf->redis.url, e->cfg->redis.url) != 0))
        trg_warn("engine", NULL, "redis settings changed: that takes a restart; keeping the current connection");
    /* Sources that change are stopped before their successors start (they may share an HTTP path). */
    struct build b;
    int rc = build(e, conf, &b);
    if (rc != 0)
        return rc;
    rc = commit(e, conf, &b);
    trg_info("engine", NULL, "reloaded %s: %zu source(s), %zu route(s), %zu function(s)", conf->path,
             conf->n_sources, conf->n_routes, conf->n_functions);
    return rc == 0 ? 0 : 0;
}

void trg_engine_destroy(struct trg_engine *e)
{
    if (!e)
        return;
    abandon_all(e);
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->adds) /* appends still unanswered: their sources are going away */
    {
        struct intake_add *a = trg_list_entry(p, struct intake_add, link);
        if (a->ev) {
            a->ev->src->outstanding--;
            trg_event_free(a->ev);
            a->ev = NULL;
        }
    }
    trg_list_each(p, tmp, &e->intakes) intake_destroy(trg_list_entry(p, struct intake, link));
    ev_timer_stop(e->loop, &e->intake_timer);
    trg_list_each(p, tmp, &e->routes) trg_route_destroy(trg_list_entry(p, struct trg_route, link));
    trg_list_each(p, tmp, &e->sources) source_destroy(trg_list_entry(p, struct trg_source, link));
    trg_list_each(p, tmp, &e->functions) trg_function_destroy(trg_list_entry(p, struct trg_function, link));
    ev_ref(e->loop);
    ev_prepare_stop(e->loop, &e->prepare);
    ev_timer_stop(e->loop, &e->shutdown_timer);
    trg_dlq_destroy(e->dlq);
    trg_http_destroy(e->http);
    trg_redis_destroy(e->redis);
    trg_metrics_destroy(e->metrics);
    if (e->redis_cfg)
        trg_engine_config_unref(e->redis_cfg);
    trg_free(e->consumer);
    if (e->cfg)
        trg_engine_config_unref(e->cfg);
    trg_free(e);
}
