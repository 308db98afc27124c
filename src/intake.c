/* intake.c — the durable intake: appending push sources' events to the routes' streams, and reading
 * them back (see intake.h). */
#include "intake.h"

#include <ev.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "route.h"
#include "rstream.h"
#include "source.h"

/* The reader of one route's stream. */
struct reader {
    struct trg_list link;       /* in intake->readers */
    struct trg_intake *in;
    char *route;                /* the route's name: whichever active route has it gets the events */
    char *key;
    struct trg_rstream *rs;
    bool started, paused;
};

/* An event being appended to the streams of its source's routes. */
struct add {
    struct trg_list link;       /* in intake->adds */
    struct trg_intake *in;
    struct trg_event *ev;       /* NULL once the intake gave up on it (destroy) */
    int pending;                /* XADD replies still to come */
    int err;
};

struct trg_intake {
    struct trg_core *core;
    struct trg_redis *redis;
    const struct trg_redis_conf *conf;
    const struct trg_intake_owner *owner;
    char *consumer;             /* consumer name: host-pid */
    struct trg_list readers, adds;
    ev_timer depth_timer;       /* stream depth metrics */
    bool started;
};

/* --- appending --- */

/* Every XADD of a's event answered: the source hears accepted (and, stored, done); the event is freed. */
static void add_finish(struct add *a)
{
    struct trg_event *ev = a->ev;
    struct trg_intake *in = a->in;
    int err = a->err;
    trg_list_remove(&a->link);
    trg_free(a);
    if (!ev)
        return;
    struct trg_source *src = ev->src;
    if (err != 0 && in->owner->requeue(in->owner->arg, ev))
        return;
    trg_source_accepted(src, ev, err);
    bool idle;
    if (err == 0) {
        idle = trg_source_hand_back(src, ev, TRG_DONE_OK, NULL);
    } else {
        trg_metrics_add(in->core->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        idle = trg_source_forget(src);
    }
    trg_event_free(ev);
    if (idle)
        in->owner->source_idle(in->owner->arg);
}

static void added(void *arg, redisReply *reply)
{
    struct add *a = arg;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (a->ev && !a->err)
            trg_warn("engine", a->ev->src->name, "cannot store an event in a durable intake stream (%s): %s; "
                     "check the Redis connection and the user's permission for XADD",
                     reply ? reply->str : "connection lost",
                     trg_source_holds(a->ev->src) ? "kept to store again" : "refused to its sender");
        a->err = TRG_EIO;
    }
    if (--a->pending == 0)
        add_finish(a);
}

int trg_intake_append(struct trg_intake *in, struct trg_source *src, struct trg_event *ev)
{
    struct add *a = trg_calloc(1, sizeof *a);
    char created[24];
    if (!a)
        return TRG_ENOMEM;
    snprintf(created, sizeof created, "%lld", (long long)ev->created_ms);
    a->in = in;
    struct trg_list *p;
    for (p = src->routes.next; p != &src->routes && a->err == 0; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, src_link);
        char *key = trg_asprintf("%sintake:%s", trg_redis_prefix(in->redis), r->name);
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
        int rc = key ? trg_redis_command(in->redis, added, a, argc, argv, lens) : TRG_ENOMEM;
        trg_free(key);
        if (rc == 0)
            a->pending++;
        else
            a->err = rc;
    }
    if (a->pending == 0) { /* nothing sent: refuse now, the caller still owns ev */
        int err = a->err ? a->err : TRG_ESTATE;
        trg_free(a);
        trg_metrics_add(in->core->metrics, TRG_M_REJECTED, src->name, NULL, 1);
        return err == TRG_ESTATE ? TRG_EFULL : err;
    }
    a->ev = ev;
    trg_list_push_back(&in->adds, &a->link);
    return 0;
}

bool trg_intake_busy(const struct trg_intake *in) { return in && !trg_list_empty(&in->adds); }

/* --- reading --- */

/* A reader reads while its route has room. */
static void reader_update(struct reader *rd)
{
    struct trg_intake *in = rd->in;
    struct trg_route *r = in->owner->route(in->owner->arg, rd->route);
    bool paused = in->core->stopping || !r || !trg_route_can_accept(r);
    if (paused != rd->paused) {
        rd->paused = paused;
        trg_rstream_pause(rd->rs, paused);
    }
}

void trg_intake_update(struct trg_intake *in, const char *route)
{
    if (!in)
        return;
    for (struct trg_list *p = in->readers.next; p != &in->readers; p = p->next) {
        struct reader *rd = trg_list_entry(p, struct reader, link);
        if (!route || strcmp(rd->route, route) == 0)
            reader_update(rd);
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

static void reader_entry(void *arg, const struct trg_rstream_entry *en)
{
    struct reader *rd = arg;
    struct trg_intake *in = rd->in;
    struct trg_route *r = in->owner->route(in->owner->arg, rd->route);
    if (!r || in->core->stopping) {
        trg_rstream_release(en->msg);
        reader_update(rd);
        return;
    }
    size_t jlen = 0, ilen = 0, klen = 0, clen = 0;
    const char *json = entry_field(en, "json", &jlen), *item = entry_field(en, "item_id", &ilen);
    const char *key = entry_field(en, "order_key", &klen), *created = entry_field(en, "created_ms", &clen);
    if (!json) {
        trg_warn("intake", rd->route, "entry %s of %s has no json field (not written by trigd?): deleted", en->id,
                 rd->key);
        trg_rstream_ack(en->msg, true);
        return;
    }
    struct trg_event *ev = trg_rstream_event(en, json, jlen, item, ilen, key, klen,
                                             created && clen > 0 ? strtoll(created, NULL, 10) : 0);
    if (!ev)
        return;
    ev->intake = rd;
    ev->intake_msg = en->msg;
    ev->status = TRG_DONE_OK;
    ev->refs = 1;
    in->owner->push(in->owner->arg, r, ev);
    reader_update(rd);
}

void trg_intake_done(struct trg_event *ev)
{
    struct reader *rd = ev->intake;
    if (ev->status == TRG_DONE_OK)
        trg_rstream_ack(ev->intake_msg, true);
    else
        trg_rstream_release(ev->intake_msg);
    trg_event_free(ev);
    reader_update(rd);
}

static void reader_destroy(struct reader *rd)
{
    trg_list_remove(&rd->link);
    trg_rstream_destroy(rd->rs);
    trg_free(rd->route);
    trg_free(rd->key);
    trg_free(rd);
}

static void reader_start(struct reader *rd)
{
    if (rd->started)
        return;
    int rc = trg_rstream_start(rd->rs);
    if (rc != 0)
        trg_error("intake", rd->route, "cannot start reading %s: %s", rd->key, trg_strerror(rc));
    rd->started = rc == 0;
}

void trg_intake_sync(struct trg_intake *in, struct trg_list *routes)
{
    if (!in)
        return;
    struct trg_list *p, *q;
    for (p = routes->next; p != routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired || !r->source || !trg_source_durable(r->source))
            continue;
        bool have = false;
        for (q = in->readers.next; q != &in->readers && !have; q = q->next)
            have = strcmp(trg_list_entry(q, struct reader, link)->route, r->name) == 0;
        if (have)
            continue;
        struct reader *rd = trg_calloc(1, sizeof *rd);
        if (!rd || !(rd->route = trg_strdup(r->name)) ||
            !(rd->key = trg_asprintf("%sintake:%s", trg_redis_prefix(in->redis), r->name))) {
            if (rd)
                trg_free(rd->route);
            trg_free(rd);
            trg_error("intake", r->name, "out of memory creating the intake reader; reload to retry");
            continue;
        }
        rd->in = in;
        struct trg_rstream_conf c = {
            .stream = rd->key,
            .group = "trigd",
            .consumer = in->consumer,
            .start = "0",
            .batch = r->conf->batch_size > 100 ? r->conf->batch_size : 100,
            .max_inflight = r->conf->max_queued_events,
            .visibility_timeout_ms = in->conf->intake_visibility_timeout_ms,
            .log_component = "intake",
            .log_instance = rd->route,
            .rnd = trg_core_random,
            .rnd_state = in->core,
        };
        int rc = trg_rstream_create(in->core->loop, in->conf, in->redis, &c, reader_entry, rd, &rd->rs);
        if (rc != 0) {
            trg_error("intake", r->name, "cannot create the intake reader: %s", trg_strerror(rc));
            trg_free(rd->route);
            trg_free(rd->key);
            trg_free(rd);
            continue;
        }
        trg_list_init(&rd->link);
        trg_list_push_back(&in->readers, &rd->link);
        if (in->started)
            reader_start(rd);
    }
}

/* --- depth metrics: XLEN of every stream --- */

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

static void depth_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_intake *in = w->data;
    for (struct trg_list *p = in->readers.next; p != &in->readers; p = p->next) {
        struct reader *rd = trg_list_entry(p, struct reader, link);
        struct depth_req *d = trg_calloc(1, sizeof *d);
        if (!d || !(d->route = trg_strdup(rd->route))) {
            trg_free(d);
            return;
        }
        d->metrics = in->core->metrics;
        const char *argv[] = {"XLEN", rd->key};
        if (trg_redis_command(in->redis, on_depth, d, 2, argv, NULL) != 0) {
            trg_free(d->route);
            trg_free(d);
        }
    }
}

/* --- lifecycle --- */

int trg_intake_create(struct trg_core *core, struct trg_redis *redis, const struct trg_redis_conf *conf,
                      const struct trg_intake_owner *owner, struct trg_intake **out)
{
    struct trg_intake *in = trg_calloc(1, sizeof *in);
    if (!in || !(in->consumer = trg_rstream_default_consumer())) {
        trg_free(in);
        return TRG_ENOMEM;
    }
    in->core = core;
    in->redis = redis;
    in->conf = conf;
    in->owner = owner;
    trg_list_init(&in->readers);
    trg_list_init(&in->adds);
    ev_timer_init(&in->depth_timer, depth_timer_cb, 1., 1.);
    in->depth_timer.data = in;
    *out = in;
    return 0;
}

void trg_intake_start(struct trg_intake *in)
{
    if (!in)
        return;
    in->started = true;
    for (struct trg_list *p = in->readers.next; p != &in->readers; p = p->next)
        reader_start(trg_list_entry(p, struct reader, link));
    if (!trg_list_empty(&in->readers))
        ev_timer_start(in->core->loop, &in->depth_timer);
}

void trg_intake_destroy(struct trg_intake *in)
{
    if (!in)
        return;
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &in->adds) /* appends still unanswered: their sources are going away */
    {
        struct add *a = trg_list_entry(p, struct add, link);
        if (a->ev) {
            trg_source_forget(a->ev->src);
            trg_event_free(a->ev);
            a->ev = NULL;
        }
    }
    trg_list_each(p, tmp, &in->readers) reader_destroy(trg_list_entry(p, struct reader, link));
    ev_timer_stop(in->core->loop, &in->depth_timer);
    trg_free(in->consumer);
    trg_free(in);
}
