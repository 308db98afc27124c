/* engine.c — the engine's life (create, start, shutdown, destroy), events in (from a source's emit, the
 * durable intake, a source's hold) and out (back to their source), and what routes and functions signal.
 * Building from a config is reload.c's; health, readiness and metrics status.c's. */
#include "engine.h"
#include "engine_impl.h"

#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "dlq.h"
#include "function.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "route.h"
#include "intake.h"
#include "source.h"

/* Events re-submitted from the DLQ by redrive: they have no source, this instead. */
struct redrive {
    size_t remaining;
    int err;
    void (*cb)(void *arg, int err);
    void *arg;
};


static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents);
static void shutdown_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void check_drained(struct trg_engine *e);
static void event_done(struct trg_engine *e, struct trg_event *ev, int status, const struct trg_invoke_result *res);

/* --- small services --- */

struct ev_loop *trg_engine_loop(const struct trg_engine *e) { return e->core.loop; }
struct trg_metrics *trg_engine_metrics(const struct trg_engine *e) { return e->core.metrics; }
struct trg_dlq *trg_engine_dlq(const struct trg_engine *e) { return e->core.dlq; }
struct trg_http *trg_engine_http(const struct trg_engine *e) { return e->http; }
struct trg_redis *trg_engine_redis(const struct trg_engine *e, const struct trg_redis_conf **conf)
{
    if (conf)
        *conf = e->redis && e->redis_cfg ? &e->redis_cfg->redis : NULL;
    return e->redis;
}
const struct trg_config *trg_engine_config(const struct trg_engine *e) { return e->cfg; }
bool trg_engine_stopping(const struct trg_engine *e) { return e->core.stopping; }

const struct trg_core *trg_engine_core(const struct trg_engine *e) { return &e->core; }


/* Deferred work runs in the prepare watcher, which runs on every loop iteration anyway. */
static void wake(struct trg_engine *e) { (void)e; }

/* --- events in: from a source's emit to its routes, in memory or through the durable intake --- */

static bool engine_can_accept(void *arg, struct trg_source *src)
{
    struct trg_engine *e = arg;
    if (trg_source_durable(src)) /* the intake stream takes the backlog; its readers pause on full routes */
        return trg_redis_connected(e->redis);
    struct trg_list *p;
    for (p = src->routes.next; p != &src->routes; p = p->next)
        if (!trg_route_can_accept(trg_list_entry(p, struct trg_route, src_link)))
            return false;
    return true;
}

/* How many held events of src can be handed on now, at least (0 also while no enabled route takes its
 * events; a durable source's: as many as Redis takes, until an append fails). */
static size_t unhold_room(struct trg_engine *e, struct trg_source *src)
{
    if (trg_list_empty(&src->routes))
        return 0;
    if (trg_source_durable(src))
        return trg_redis_connected(e->redis) ? SIZE_MAX : 0;
    size_t n = SIZE_MAX;
    for (struct trg_list *p = src->routes.next; p != &src->routes && n > 0; p = p->next) {
        size_t room = trg_route_room(trg_list_entry(p, struct trg_route, src_link));
        n = room < n ? room : n;
    }
    return n;
}

/* Hand ev (src and created_ms set) to src's routes, in memory or through the durable intake.
 * A fresh event is counted as taken here (trg_source_took), a held one was when it was held. 0, or < 0
 * when the durable intake refused it at once (the caller still owns ev). */
static int deliver(struct trg_engine *e, struct trg_source *src, struct trg_event *ev, bool fresh)
{
    ev->seq = ++e->seq;
    if (trg_source_durable(src) && !ev->no_intake) {
        int rc = trg_intake_append(e->intake, src, ev);
        if (rc == 0 && fresh)
            trg_source_took(src);
        return rc;
    }
    ev->status = TRG_DONE_OK;
    ev->refs = 1; /* held by this call until every route has it */
    if (fresh)
        trg_source_took(src);
    if (src->conf->ops->accepted) { /* in memory: accepted as soon as this call returns */
        ev->accept_next = NULL;
        if (e->accept_tail)
            e->accept_tail->accept_next = ev;
        else
            e->accept_head = ev;
        e->accept_tail = ev;
        ev->accept_pending = 1;
    }
    e->emitting++;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &src->routes) ev->refs++;
    trg_list_each(p, tmp, &src->routes) trg_route_push(trg_list_entry(p, struct trg_route, src_link), ev);
    event_done(e, ev, TRG_DONE_OK, NULL);
    e->emitting--;
    return 0;
}

static bool would_hold(void *arg, struct trg_source *src)
{
    struct trg_engine *e = arg;
    return trg_source_held(src) > 0 || unhold_room(e, src) == 0;
}

/* trg_source_hold_ref: held, behind what is held (the source asked trg_source_would_hold() first; should
 * the routes have room after all, the prepare pass hands it on). */
static int engine_hold_ref(void *arg, struct trg_source *src, void *ref, const char *order_key, size_t weight)
{
    struct trg_engine *e = arg;
    if (e->core.stopping || src->stopped)
        return TRG_ESTATE;
    int rc = trg_source_push_ref(src, ref, order_key, weight);
    if (rc != 0) {
        trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return rc;
    }
    trg_source_took(src);
    e->unhold = true;
    return 0;
}

static int engine_emit(void *arg, struct trg_source *src, struct trg_event *ev)
{
    struct trg_engine *e = arg;
    bool holds = trg_source_holds(src);
    if (e->core.stopping || src->stopped) {
        trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return TRG_ESTATE;
    }
    if (!holds && !engine_can_accept(e, src)) {
        trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return TRG_EFULL;
    }
    if (trg_list_empty(&src->routes) && (!holds || trg_source_held(src) == 0)) {
        /* nowhere to go: refuse rather than drop it, or hold it until a route is enabled */
        trg_warn("source", src->name, "an event arrived but no enabled route takes this source's events: %s "
                 "(add a route, or enable it)", holds ? "holding what arrives" : "refused");
        if (!holds) {
            trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
            return TRG_ESTATE;
        }
    }
    if (!ev->created_ms)
        ev->created_ms = trg_core_loop_ms(&e->core); /* the loop's wall clock: one clock read per pass */
    ev->src = src;
    /* a source that holds: behind what waits, in order; or when the durable intake refuses it at once */
    int rc = holds && would_hold(e, src) ? TRG_EFULL : deliver(e, src, ev, true);
    if (rc != 0 && holds && (rc = trg_source_hold(src, ev)) == 0) {
        trg_source_took(src);
        e->unhold = true;
    }
    if (rc != 0)
        trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
    return rc;
}

/* A held event that can neither be handed on nor held again (its source stopped, or out of memory): the
 * source hears it was never sent (done UNSENT), as when it is dropped at stop. */
static void drop_unheld(struct trg_engine *e, struct trg_event *ev, const char *why)
{
    struct trg_source *src = ev->src;
    trg_warn("source", src->name, "an event that could not be stored is dropped without reaching a route: %s", why);
    trg_metrics_add(e->core.metrics, TRG_M_REJECTED, src->name, NULL, 1);
    if (trg_source_hand_back(src, ev, TRG_DONE_UNSENT, NULL))
        e->reap = true;
    trg_event_free(ev);
}

/* ev, taken out of its source's hold, could not be stored in the durable intake: back to the head of the
 * hold. It is stored again when Redis is back, or (Redis refused it while connected) after a second. */
static void requeue(struct trg_engine *e, struct trg_event *ev)
{
    struct trg_source *src = ev->src;
    if (src->stopped)
        drop_unheld(e, ev, "the source stopped");
    else if (!trg_source_requeue(src, ev))
        drop_unheld(e, ev, "out of memory holding it again");
    else if (trg_redis_connected(e->redis) && !ev_is_active(&e->unhold_retry))
        ev_timer_start(e->core.loop, &e->unhold_retry);
}

/* Hand on what the sources hold while their routes take it (from the prepare pass). An event the durable
 * intake refuses at once goes back to the head of its hold, and the source waits for Redis. */
static void hand_on_held(struct trg_engine *e)
{
    e->unhold = false;
    for (struct trg_list *p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->stopped)
            continue;
        size_t room = 0; /* the routes' room, walked again only once it is used up */
        while (trg_source_held(s) > 0 && (room > 0 || (room = unhold_room(e, s)) > 0)) {
            room--;
            struct trg_event *ev = trg_source_unhold(s); /* NULL: what was left could not be built */
            if (ev && deliver(e, s, ev, false) != 0) {
                requeue(e, ev);
                break;
            }
        }
    }
}

/* --- durable intake: what it asks of the engine (struct trg_intake_owner) --- */

static struct trg_route *active_route(void *arg, const char *name)
{
    struct trg_engine *e = arg;
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (!r->retired && strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

static void intake_push(void *arg, struct trg_route *r, struct trg_event *ev)
{
    struct trg_engine *e = arg;
    ev->seq = ++e->seq;
    e->emitting++; /* outcomes come back later, from the loop */
    trg_route_push(r, ev);
    e->emitting--;
}

static void intake_source_idle(void *arg) { ((struct trg_engine *)arg)->reap = true; }

/* The intake could not store an event of a source that holds: back to the head of its hold. */
static bool intake_requeue(void *arg, struct trg_event *ev)
{
    if (!trg_source_holds(ev->src))
        return false;
    requeue(arg, ev);
    return true;
}

static void unhold_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ((struct trg_engine *)w->data)->unhold = true; /* the prepare pass after this callback hands them on */
}

static void run_accepted(struct trg_engine *e);

static void hand_back(struct trg_engine *e, struct trg_event *ev, const struct trg_invoke_result *res)
{
    struct trg_source *src = ev->src;
    if (ev->intake) {
        trg_intake_done(ev);
        return;
    }
    /* An invocation can finish within the loop iteration that accepted its event (libev runs callbacks
     * made pending by other callbacks in the same pass); the source hears "accepted" first, always. */
    if (ev->accept_pending)
        run_accepted(e);
    if (src) {
        if (trg_source_hand_back(src, ev, ev->status, res))
            e->reap = true;
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

static void event_done(struct trg_engine *e, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    if (status != TRG_DONE_OK)
        ev->status = status;
    if (--ev->refs > 0)
        return;
    if (e->emitting) { /* never call a source back from inside its own emit */
        ev->next = NULL;
        if (e->done_tail)
            e->done_tail->next = ev;
        else
            e->done_head = ev;
        e->done_tail = ev;
        wake(e);
    } else {
        hand_back(e, ev, res);
    }
    if (e->core.stopping)
        wake(e);
}

/* --- what routes and functions signal (struct trg_route_owner, struct trg_function_owner) --- */

static void route_event_done(void *arg, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    event_done(arg, ev, status, res);
}

/* The engine refuses a source's events while one of its routes is full or cannot write its DLQ, and a
 * durable source's while Redis is down: the source hears pause(true), and pause(false) when it may try
 * again. */
static void source_update_pause(struct trg_engine *e, struct trg_source *src)
{
    bool paused = e->redis_down && trg_source_durable(src);
    for (struct trg_list *p = src->routes.next; p != &src->routes; p = p->next) {
        struct trg_route *x = trg_list_entry(p, struct trg_route, src_link);
        paused |= x->full || x->failure.blocked;
    }
    trg_source_set_paused(src, paused);
    if (trg_source_held(src) > 0)
        e->unhold = true;
}

/* Redis went away or came back: durable sources stop or may try again what was refused meanwhile (also
 * what was refused before the first connection: then the source hears pause(false) without a pause(true)). */
static void redis_state(void *arg, bool connected)
{
    struct trg_engine *e = arg;
    if (e->redis_down == !connected && !connected)
        return;
    e->redis_down = !connected;
    if (!connected)
        trg_warn("engine", NULL, "Redis is down: not reading from sources with a durable intake until it is back "
                 "(brokers keep what they have not delivered; webhooks answer 503)");
    for (struct trg_list *p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired || !trg_source_durable(s))
            continue;
        source_update_pause(e, s);
        if (connected)
            trg_source_retry(s);
    }
}

static void route_changed(void *arg, struct trg_route *r)
{
    struct trg_engine *e = arg;
    trg_intake_update(e->intake, r->name);
    if (r->source)
        source_update_pause(e, r->source);
}

static void route_idle(void *arg, struct trg_route *r)
{
    struct trg_engine *e = arg;
    (void)r;
    e->reap = true;
    wake(e);
}

static void route_pump_due(void *arg, struct trg_route *r)
{
    (void)r;
    ((struct trg_engine *)arg)->pump = true; /* the prepare pass pumps it */
}

static void pump_routes(struct trg_engine *e)
{
    e->pump = false;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->routes) trg_route_pump_due(trg_list_entry(p, struct trg_route, link));
}

static void function_has_capacity(void *arg, struct trg_function *fn)
{
    struct trg_engine *e = arg;
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

/* --- direct invocation and redrive --- */

int trg_engine_invoke(struct trg_engine *e, const char *function, const struct trg_direct_call *call,
                      trg_invoke_cb cb, void *arg)
{
    struct trg_function *fn = trg_engine_find_function(e, function);
    if (!fn)
        return TRG_ENOTFOUND;
    if (e->core.stopping)
        return TRG_ESTATE;
    return trg_function_invoke_direct(fn, call, cb, arg);
}

int trg_engine_route_set_enabled(struct trg_engine *e, const char *route, bool enabled)
{
    struct trg_route *r = active_route(e, route);
    if (!r)
        return TRG_ENOTFOUND;
    if (!r->conf->enabled)
        return TRG_EINVAL;
    if (enabled == !r->paused)
        return 0;
    r->paused = !enabled;
    if (enabled)
        trg_list_push_back(&r->source->routes, &r->src_link);
    else
        trg_list_remove(&r->src_link);
    source_update_pause(e, r->source);
    trg_info("route", r->name, "%s at run time", enabled ? "resumed" : "paused");
    return 0;
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
    if (e->core.stopping)
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
            trg_source_destroy(s);
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
    if (e->unhold)
        hand_on_held(e);
    /* batches are cut once this pass's events are in (a pump may finish some at once, and a source told
     * of those may emit again) */
    do {
        if (e->pump)
            pump_routes(e);
        run_accepted(e);
        while (e->done_head) {
            struct trg_event *ev = e->done_head;
            e->done_head = ev->next;
            if (!e->done_head)
                e->done_tail = NULL;
            hand_back(e, ev, NULL);
        }
    } while (e->pump);
    if (e->reap)
        reap(e);
    if (e->core.stopping)
        check_drained(e);
}

static size_t held_total(const struct trg_engine *e)
{
    size_t n = 0;
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next)
        n += trg_list_entry(p, struct trg_route, link)->held;
    return n;
}

/* Direct invocations (Invoke API, Event invocations) waiting or in flight: their callers wait for them too. */
static size_t directs_total(const struct trg_engine *e)
{
    size_t n = 0;
    for (struct trg_list *p = e->functions.next; p != &e->functions; p = p->next)
        n += trg_function_directs(trg_list_entry(p, struct trg_function, link));
    return n;
}

static void finish_shutdown(struct trg_engine *e)
{
    ev_timer_stop(e->core.loop, &e->shutdown_timer);
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    if (done)
        done(e->shutdown_arg);
}

static void check_drained(struct trg_engine *e)
{
    /* With Redis, also wait for the acks (and intake appends) to be answered, or they may be lost. */
    if (e->shutdown_done && held_total(e) == 0 && directs_total(e) == 0 && !e->done_head &&
        !trg_intake_busy(e->intake) && trg_redis_pending(e->redis) == 0)
        finish_shutdown(e);
}

static void abandon_all(struct trg_engine *e)
{
    struct trg_list *p, *tmp;
    /* Cancel invocations first, so that no callback can reach a batch freed below. */
    trg_list_each(p, tmp, &e->functions)
    {
        trg_function_cancel(trg_list_entry(p, struct trg_function, link));
    }
    /* Direct callers hear it now, while their answers can still be written (Invoke API: 503). */
    trg_list_each(p, tmp, &e->functions)
        trg_function_fail_directs(trg_list_entry(p, struct trg_function, link));
    run_accepted(e);
    size_t n = held_total(e);
    if (n)
        trg_warn("engine", NULL, "shutdown_timeout_ms passed: abandoning %zu unfinished event(s); sources that "
                 "can redeliver will", n);
    trg_list_each(p, tmp, &e->routes) trg_route_abandon(trg_list_entry(p, struct trg_route, link));
    while (e->done_head) {
        struct trg_event *ev = e->done_head;
        e->done_head = ev->next;
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
    if (e->core.stopping)
        return;
    e->core.stopping = true;
    e->shutdown_done = done;
    e->shutdown_arg = arg;
    size_t n = held_total(e);
    trg_info("engine", NULL,
             "stopping intake; draining %zu event(s) and %zu direct invocation(s) for up to %lld ms", n,
             directs_total(e), (long long)e->cfg->shutdown_timeout_ms);
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &e->sources) trg_source_stop(trg_list_entry(p, struct trg_source, link));
    trg_intake_update(e->intake, NULL);
    trg_list_each(p, tmp, &e->routes) trg_route_pump(trg_list_entry(p, struct trg_route, link));
    ev_timer_init(&e->shutdown_timer, shutdown_timeout_cb, (double)e->cfg->shutdown_timeout_ms / 1000.0, 0.);
    e->shutdown_timer.data = e;
    ev_timer_start(e->core.loop, &e->shutdown_timer);
    wake(e);
}

/* --- create, start, reload, destroy --- */

int trg_engine_create(struct ev_loop *loop, struct trg_config *conf, const struct trg_core_hooks *hooks,
                      struct trg_engine **out)
{
    /* The engine's reference for the time it builds: the objects built take their own, and if building
     * fails and they are discarded, dropping this one frees conf (the caller never frees it). */
    trg_config_ref(conf);
    struct trg_engine *e = trg_calloc(1, sizeof *e);
    if (!e) {
        trg_config_unref(conf);
        return TRG_ENOMEM;
    }
    trg_core_init(&e->core, loop, hooks, (uint64_t)(uintptr_t)e);
    trg_list_init(&e->sources);
    trg_list_init(&e->functions);
    trg_list_init(&e->routes);
    ev_prepare_init(&e->prepare, prepare_cb);
    e->prepare.data = e;
    ev_prepare_start(loop, &e->prepare);
    ev_timer_init(&e->unhold_retry, unhold_retry_cb, 1., 0.);
    e->unhold_retry.data = e;
    ev_unref(loop); /* the prepare watcher alone does not keep the loop running */
    int rc = trg_metrics_create(&e->core.metrics);
    if (rc != 0)
        goto fail;
    const struct trg_http_opts lim = {
        .max_connections = (unsigned)conf->http.max_connections,
        .max_connections_per_address = (unsigned)conf->http.max_connections_per_address,
        .request_timeout_s = (unsigned)conf->http.request_timeout_s,
        .reserved_connections = (unsigned)conf->http.reserved_connections,
    };
    rc = trg_http_create_with(loop, conf->http.listen, &lim, &e->http);
    if (rc != 0) {
        trg_error("http", NULL, "cannot listen on %s: is the port in use, or the address not local?",
                  conf->http.listen);
        rc = TRG_EINVAL;
        goto fail;
    }
    if (conf->has_redis && (rc = trg_redis_create(loop, &conf->redis, trg_core_random, &e->core, &e->redis)) != 0) {
        char shown[256];
        trg_error("redis", NULL, "cannot set up the Redis connection to %s: %s",
                  trg_url_redact(conf->redis.url, shown, sizeof shown), trg_strerror(rc));
        goto fail;
    }
    e->route_owner = (struct trg_route_owner){route_event_done, route_changed, route_idle, route_pump_due, e};
    e->function_owner = (struct trg_function_owner){function_has_capacity, e};
    e->source_env = (struct trg_source_env){.core = &e->core, .http = e->http, .redis = e->redis,
                                            .can_accept = engine_can_accept, .would_hold = would_hold,
                                            .hold_ref = engine_hold_ref, .emit = engine_emit, .arg = e};
    if (e->redis) {
        e->redis_cfg = conf; /* referenced below once the engine exists */
        e->source_env.redis_conf = &conf->redis;
        e->intake_owner = (struct trg_intake_owner){active_route, intake_push, intake_source_idle, intake_requeue, e};
        trg_redis_on_state(e->redis, redis_state, e);
        if ((rc = trg_intake_create(&e->core, e->redis, &conf->redis, &e->intake_owner, &e->intake)) != 0)
            goto fail;
    }
    struct trg_dlq_conf dc = {.backend = conf->dlq.backend, .dir = conf->dlq.path, .max_len = conf->dlq.max_len};
    if ((rc = trg_dlq_create(loop, &dc, e->redis, &e->core.dlq)) != 0) {
        trg_error("dlq", NULL, "cannot open the DLQ (%s): %s",
                  trg_dlq_backend_resolve(dc.backend, e->redis != NULL) == TRG_DLQ_BACKEND_REDIS ? "redis" : conf->dlq.path,
                  trg_strerror(rc));
        rc = TRG_EINVAL;
        goto fail;
    }
    if ((rc = trg_engine_status_register(e)) != 0)
        goto fail;
    if (trg_engine_apply(e, conf, NULL) != 0) {
        rc = TRG_EINVAL;
        goto fail;
    }
    if (e->redis_cfg)
        trg_config_ref(e->redis_cfg);
    trg_config_unref(conf); /* the engine holds it now through e->cfg */
    *out = e;
    return 0;
fail:
    ev_ref(loop);
    ev_prepare_stop(loop, &e->prepare);
    trg_dlq_destroy(e->core.dlq);
    trg_intake_destroy(e->intake);
    trg_redis_destroy(e->redis);
    trg_http_destroy(e->http);
    trg_metrics_destroy(e->core.metrics);
    trg_free(e);
    trg_config_unref(conf);
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
        if (!s->started && !s->retired && trg_source_start(s) != 0)
            rc = TRG_EINVAL;
    }
    trg_intake_start(e->intake);
    trg_info("engine", NULL, "running %zu source(s), %zu route(s), %zu function(s); HTTP on port %d",
             e->cfg->n_sources, e->cfg->n_routes, e->cfg->n_functions, trg_http_port(e->http));
    return rc;
}

void trg_engine_destroy(struct trg_engine *e)
{
    if (!e)
        return;
    abandon_all(e);
    struct trg_list *p, *tmp;
    trg_intake_destroy(e->intake); /* appends still unanswered: their sources are going away */
    if (e->redis)
        trg_redis_on_state(e->redis, NULL, e);
    trg_list_each(p, tmp, &e->routes) trg_route_destroy(trg_list_entry(p, struct trg_route, link));
    trg_list_each(p, tmp, &e->sources) trg_source_destroy(trg_list_entry(p, struct trg_source, link));
    trg_list_each(p, tmp, &e->functions) trg_function_destroy(trg_list_entry(p, struct trg_function, link));
    ev_ref(e->core.loop);
    ev_prepare_stop(e->core.loop, &e->prepare);
    ev_timer_stop(e->core.loop, &e->shutdown_timer);
    ev_timer_stop(e->core.loop, &e->unhold_retry);
    trg_dlq_destroy(e->core.dlq);
    trg_http_destroy(e->http);
    trg_redis_destroy(e->redis);
    trg_metrics_destroy(e->core.metrics);
    if (e->redis_cfg)
        trg_config_unref(e->redis_cfg);
    if (e->cfg)
        trg_config_unref(e->cfg);
    trg_free(e);
}
