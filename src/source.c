/* source.c — a source instance: its lifecycle, the services connectors call (connectors/connector.h),
 * and the connector ops the engine's other modules go through. */
#include "source.h"

#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"

static void update_pause(struct trg_source *s);

/* --- the connector face (connectors/connector.h) --- */

struct ev_loop *trg_source_loop(struct trg_source *src) { return src->env->core->loop; }
const char *trg_source_name(struct trg_source *src) { return src->name; }
struct trg_http *trg_source_http(struct trg_source *src) { return src->env->http; }
struct trg_redis *trg_source_redis(struct trg_source *src) { return src->env->redis; }
const struct trg_redis_conf *trg_source_redis_conf(struct trg_source *src) { return src->env->redis_conf; }
bool trg_source_shutting_down(struct trg_source *src) { return src->env->core->stopping; }

void trg_source_set_lag(struct trg_source *src, double lag)
{
    trg_metrics_set(src->env->core->metrics, TRG_M_SOURCE_LAG, src->name, NULL, lag);
}

void trg_source_set_gauge(struct trg_source *src, enum trg_source_gauge which, const char *label, double v)
{
    enum trg_metric f = which == TRG_GAUGE_PARTITION_LAG ? TRG_M_PARTITION_LAG : TRG_M_PAUSED_PARTITIONS;
    const char *l2 = which == TRG_GAUGE_PARTITION_LAG ? label : NULL;
    if (v < 0)
        trg_metrics_remove(src->env->core->metrics, f, src->name, l2);
    else
        trg_metrics_set(src->env->core->metrics, f, src->name, l2, v);
}

void trg_source_count(struct trg_source *src, const char *event, double n)
{
    trg_metrics_add(src->env->core->metrics, TRG_M_SOURCE_EVENTS, src->name, event, n);
}

uint64_t trg_source_random(void *src) { return trg_core_random(((struct trg_source *)src)->env->core); }

void trg_source_request_id(struct trg_source *src, char out[40]) { trg_core_request_id(src->env->core, out); }

int64_t trg_source_reconnect_delay_ms(struct trg_source *src, int attempt, int64_t min_ms, int64_t max_ms)
{
    return trg_reconnect_delay_ms(attempt, min_ms, max_ms, trg_core_random, src->env->core);
}

bool trg_source_can_accept(struct trg_source *src)
{
    if (src->env->core->stopping || src->stopped)
        return false;
    return src->env->can_accept(src->env->arg, src);
}

int trg_source_emit(struct trg_source *src, struct trg_event *ev)
{
    return src->env->emit(src->env->arg, src, ev);
}

void trg_source_set_hold(struct trg_source *src, size_t max_events, size_t max_bytes)
{
    trg_hold_init(&src->hold, max_events, max_bytes);
}

bool trg_source_would_hold(struct trg_source *src)
{
    return trg_source_holds(src) && src->env->would_hold(src->env->arg, src);
}

int trg_source_hold_ref(struct trg_source *src, void *ref, const char *order_key, size_t weight)
{
    if (!trg_source_holds(src) || !src->conf->ops->finish)
        return TRG_ESTATE;
    return src->env->hold_ref(src->env->arg, src, ref, order_key, weight);
}

struct drop {
    struct trg_source *src;
    bool (*match)(const struct trg_event *ev, void *ref, void *arg);
    void *arg;
};

static bool drop_match(const struct trg_held *x, void *arg)
{
    struct drop *d = arg;
    return d->match(x->ev, x->ref, d->arg);
}

/* What is dropped from the hold goes back to the connector, never sent. */
static void drop_one(const struct trg_held *x, void *arg)
{
    struct trg_source *src = ((struct drop *)arg)->src;
    if (x->ev) {
        src->conf->ops->done(src->inst, x->ev, TRG_DONE_UNSENT, NULL);
        trg_event_free(x->ev);
    } else {
        src->conf->ops->unsent(src->inst, x->ref);
    }
    src->outstanding--;
}

void trg_source_drop_held(struct trg_source *src, bool (*match)(const struct trg_event *ev, void *ref, void *arg),
                          void *arg)
{
    if (!trg_source_holds(src))
        return;
    struct drop d = {src, match, arg};
    if (trg_hold_take(&src->hold, match ? drop_match : NULL, drop_one, &d) > 0)
        update_pause(src);
}

/* --- lifecycle --- */

int trg_source_create(const struct trg_source_env *env, struct trg_config *cfg, const struct trg_source_conf *conf,
                      struct trg_source **out)
{
    struct trg_source *s = trg_calloc(1, sizeof *s);
    if (!s || !(s->name = trg_strdup(conf->name))) {
        trg_free(s);
        return TRG_ENOMEM;
    }
    s->env = env;
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
    trg_config_ref(cfg);
    *out = s;
    return 0;
}

int trg_source_start(struct trg_source *s)
{
    int rc = s->conf->ops->start(s->inst);
    if (rc != 0) {
        trg_error("source", s->name, "cannot start: %s", trg_strerror(rc));
        return rc;
    }
    s->started = true;
    return 0;
}

void trg_source_stop(struct trg_source *s)
{
    if (s->started && !s->stopped)
        s->conf->ops->stop(s->inst);
    s->stopped = true;
    trg_source_drop_held(s, NULL, NULL);
}

void trg_source_retire(struct trg_source *s)
{
    trg_source_stop(s);
    s->retired = true;
}

void trg_source_publish(struct trg_source *s)
{
    if (trg_source_holds(s))
        trg_metrics_set(s->env->core->metrics, TRG_M_SOURCE_HELD, s->name, NULL, (double)s->hold.n);
    if (s->received) {
        trg_metrics_add(s->env->core->metrics, TRG_M_EVENTS_RECEIVED, s->name, NULL, (double)s->received);
        s->received = 0;
    }
}

void trg_source_destroy(struct trg_source *s)
{
    if (!s)
        return;
    trg_source_publish(s);
    trg_source_stop(s);
    trg_hold_clear(&s->hold);
    s->conf->ops->destroy(s->inst);
    trg_list_remove(&s->link);
    trg_config_unref(s->cfg);
    trg_free(s->name);
    trg_free(s);
}

/* --- events --- */

void trg_source_took(struct trg_source *s)
{
    s->outstanding++;
    s->received++; /* published at scrape (trg_source_publish): no label lookup per event */
}

void trg_source_accepted(struct trg_source *s, struct trg_event *ev, int err)
{
    if (s->conf->ops->accepted)
        s->conf->ops->accepted(s->inst, ev, err);
}

bool trg_source_hand_back(struct trg_source *s, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    s->conf->ops->done(s->inst, ev, status, res);
    return trg_source_forget(s);
}

bool trg_source_forget(struct trg_source *s)
{
    s->outstanding--;
    return s->retired && s->outstanding == 0;
}

/* Tell the connector when what it should do changed: a source that holds pauses while its hold is full,
 * any other while the engine refuses it. */
static void update_pause(struct trg_source *s)
{
    if (s->stopped && trg_source_holds(s)) /* its hold was dropped at stop: no resume for that */
        return;
    bool paused = trg_source_holds(s) ? trg_hold_full(&s->hold) : s->refused;
    if (paused == s->paused || !s->conf->ops->pause)
        return;
    s->paused = paused;
    s->conf->ops->pause(s->inst, paused);
}

void trg_source_set_paused(struct trg_source *s, bool refused)
{
    s->refused = refused;
    update_pause(s);
}

void trg_source_retry(struct trg_source *s)
{
    if (!s->paused && !trg_source_holds(s) && s->started && !s->stopped && s->conf->ops->pause)
        s->conf->ops->pause(s->inst, false);
}

bool trg_source_holds(const struct trg_source *s) { return s->hold.max_n > 0; }

int trg_source_hold(struct trg_source *s, struct trg_event *ev)
{
    int rc = trg_hold_push(&s->hold, ev);
    update_pause(s);
    return rc;
}

int trg_source_push_ref(struct trg_source *s, void *ref, const char *order_key, size_t weight)
{
    int rc = trg_hold_push_ref(&s->hold, ref, order_key, weight);
    update_pause(s);
    return rc;
}

bool trg_source_requeue(struct trg_source *s, struct trg_event *ev)
{
    int rc = trg_hold_requeue(&s->hold, ev);
    update_pause(s);
    return rc == 0;
}

struct trg_event *trg_source_unhold(struct trg_source *s)
{
    struct trg_held x;
    struct trg_event *ev = NULL;
    while (!ev && trg_hold_pop(&s->hold, &x)) {
        ev = x.ev;
        if (ev)
            break;
        if (!(ev = s->conf->ops->finish(s->inst, x.ref))) {
            trg_error("source", s->name, "out of memory building a held event: it is dropped without reaching "
                      "a route");
            drop_one(&x, &(struct drop){.src = s});
            continue;
        }
        ev->src = s;
        if (!ev->created_ms)
            ev->created_ms = trg_core_loop_ms(s->env->core);
    }
    update_pause(s);
    return ev;
}

bool trg_source_ready(struct trg_source *s) { return !s->conf->ops->ready || s->conf->ops->ready(s->inst); }

bool trg_source_durable(const struct trg_source *s) { return s->env->redis && s->conf->ops->durable_intake; }

int trg_source_status_json(struct trg_source *s, struct trg_buf *out)
{
    int rc = trg_buf_adds(out, "{\"name\":");
    rc |= trg_buf_add_json_str(out, s->name, strlen(s->name));
    rc |= trg_buf_addf(out, ",\"type\":\"%s\",\"ready\":%s,\"paused\":%s,\"outstanding\":%zu,\"held\":%zu}",
                       s->conf->type, trg_source_ready(s) ? "true" : "false", s->paused ? "true" : "false",
                       s->outstanding, s->hold.n);
    return rc ? TRG_ENOMEM : 0;
}

/* --- the connector's views of its events --- */

cJSON *trg_source_filter_view(struct trg_source *src, const struct trg_event *ev)
{
    if (src && src->conf->ops->filter_view)
        return src->conf->ops->filter_view(src->inst, ev);
    return trg_json_parse(ev->json, ev->len, NULL);
}

int trg_source_raw(struct trg_source *src, const struct trg_event *ev, struct trg_buf *out)
{
    if (src && src->conf->ops->raw)
        return src->conf->ops->raw(src->inst, ev, out);
    return trg_buf_add(out, ev->json, ev->len);
}

int trg_source_envelope(struct trg_source *src, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    if (src && src->conf->ops->envelope)
        return src->conf->ops->envelope(src->inst, evs, n, out);
    if (n == 1)
        return trg_buf_add(out, evs[0]->json, evs[0]->len);
    return trg_event_join(out, "{\"records\":[", evs, n, "]}");
}

int trg_source_on_failure(struct trg_source *src, const char *target, struct trg_event *const *evs, size_t n,
                          const struct trg_failure_info *info, void (*done)(void *, int, const char *), void *arg)
{
    if (!src || !src->conf->ops->on_failure)
        return TRG_ESTATE;
    return src->conf->ops->on_failure(src->inst, target, evs, n, info, done, arg);
}

int trg_source_batch_info(struct trg_source *src, struct trg_event *const *evs, size_t n, size_t payload_size,
                          const char **key, struct trg_buf *out)
{
    *key = NULL;
    if (!src || !src->conf->ops->batch_info)
        return 0;
    return src->conf->ops->batch_info(src->inst, evs, n, payload_size, key, out);
}
