/* rstream.c — a Redis stream consumer group reader (see rstream.h). */
#include "rstream.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "event.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#define HEARTBEAT_CHUNK 256

struct trg_rstream_msg {
    struct trg_rstream *s;
    struct trg_rstream_msg *prev, *next;
    char id[];
};

/* A command on the shared connection; s is NULL once the reader is gone. */
struct op {
    struct trg_rstream *s;
    struct op *prev, *next;
    size_t n;            /* claims: ids and their delivery counts from XPENDING */
    char **ids;
    int64_t *counts;
};

struct trg_rstream {
    struct ev_loop *loop;
    struct trg_redis *shared, *conn;
    trg_rand_fn rnd;
    void *rnd_state;
    const struct trg_redis_conf *redis_conf;
    char *stream, *group, *consumer, *start, *comp, *inst;
    int64_t batch, max_inflight, vis_ms, block_ms;
    trg_rstream_cb cb;
    void *arg;
    bool started, paused, group_ok, creating, reading, claiming, warned;
    size_t inflight;
    struct trg_rstream_msg *msgs;
    struct op *ops;
    ev_timer tick;
};

static void read_next(struct trg_rstream *s);
static void ensure_group(struct trg_rstream *s);

/* --- messages -------------------------------------------------------------------------------- */

static void msg_unlink(struct trg_rstream_msg *m)
{
    struct trg_rstream *s = m->s;
    if (m->prev)
        m->prev->next = m->next;
    else
        s->msgs = m->next;
    if (m->next)
        m->next->prev = m->prev;
    s->inflight--;
}

static bool msg_held(const struct trg_rstream *s, const char *id, size_t len)
{
    for (const struct trg_rstream_msg *m = s->msgs; m; m = m->next)
        if (strlen(m->id) == len && memcmp(m->id, id, len) == 0)
            return true;
    return false;
}

const char *trg_rstream_msg_id(const struct trg_rstream_msg *m) { return m->id; }
size_t trg_rstream_inflight(const struct trg_rstream *s) { return s->inflight; }

bool trg_rstream_ready(const struct trg_rstream *s)
{
    return s->group_ok && trg_redis_connected(s->conn);
}

/* --- shared-connection commands ------------------------------------------------------------- */

static struct op *op_new(struct trg_rstream *s)
{
    struct op *o = trg_calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->s = s;
    o->next = s->ops;
    if (o->next)
        o->next->prev = o;
    s->ops = o;
    return o;
}

static void op_free(struct op *o)
{
    if (o->s) {
        if (o->prev)
            o->prev->next = o->next;
        else
            o->s->ops = o->next;
        if (o->next)
            o->next->prev = o->prev;
    }
    for (size_t i = 0; i < o->n; i++)
        trg_free(o->ids[i]);
    trg_free(o->ids);
    trg_free(o->counts);
    trg_free(o);
}

static void on_op_reply(void *arg, redisReply *reply)
{
    struct op *o = arg;
    if (o->s && reply && reply->type == REDIS_REPLY_ERROR)
        trg_debug(o->s->comp, o->s->inst, "Redis answered an ack or heartbeat with: %s", reply->str);
    op_free(o);
}

/* Send a fire-and-forget command on the shared connection; false when it could not be sent. */
static bool send_shared(struct trg_rstream *s, int argc, const char **argv, const size_t *lens)
{
    struct op *o = op_new(s);
    if (!o)
        return false;
    if (trg_redis_command(s->shared, on_op_reply, o, argc, argv, lens) != 0) {
        op_free(o);
        return false;
    }
    return true;
}

void trg_rstream_ack(struct trg_rstream_msg *m, bool del)
{
    struct trg_rstream *s = m->s;
    msg_unlink(m);
    const char *ack[] = {"XACK", s->stream, s->group, m->id};
    bool ok = send_shared(s, 4, ack, NULL);
    if (ok && del) {
        const char *xdel[] = {"XDEL", s->stream, m->id};
        send_shared(s, 3, xdel, NULL);
    }
    if (!ok)
        trg_warn(s->comp, s->inst, "cannot acknowledge entry %s (Redis unreachable): it stays pending and is "
                 "redelivered after visibility_timeout_ms", m->id);
    trg_free(m);
    read_next(s);
}

void trg_rstream_release(struct trg_rstream_msg *m)
{
    struct trg_rstream *s = m->s;
    msg_unlink(m);
    trg_free(m);
    read_next(s);
}

/* --- delivering ------------------------------------------------------------------------------ */

static void deliver(struct trg_rstream *s, const redisReply *e, int64_t count)
{
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
        return; /* an entry deleted while pending */
    const redisReply *kv = e->element[1];
    size_t n = kv && kv->type == REDIS_REPLY_ARRAY ? kv->elements / 2 : 0;
    const char *id = e->element[0]->str;
    size_t idlen = e->element[0]->len;
    const char **strs = trg_calloc(2 * n + 1, sizeof *strs);
    size_t *lens = trg_calloc(2 * n + 1, sizeof *lens);
    struct trg_rstream_msg *m = trg_calloc(1, sizeof *m + idlen + 1);
    if (!strs || !lens || !m) {
        trg_error(s->comp, s->inst, "out of memory taking entry %.*s: it stays pending and is redelivered later",
                  (int)idlen, id);
        trg_free(strs);
        trg_free(lens);
        trg_free(m);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = kv->element[2 * i], *v = kv->element[2 * i + 1];
        strs[i] = f->str ? f->str : "";
        lens[i] = f->str ? f->len : 0;
        strs[n + i] = v->str ? v->str : "";
        lens[n + i] = v->str ? v->len : 0;
    }
    memcpy(m->id, id, idlen);
    m->s = s;
    m->next = s->msgs;
    if (m->next)
        m->next->prev = m;
    s->msgs = m;
    s->inflight++;
    struct trg_rstream_entry en = {
        .msg = m,
        .id = m->id,
        .n_fields = n,
        .fields = strs,
        .field_lens = lens,
        .values = strs + n,
        .value_lens = lens + n,
        .delivery_count = count,
    };
    s->cb(s->arg, &en);
    trg_free(strs);
    trg_free(lens);
}

/* --- reading (own connection) ---------------------------------------------------------------- */

static void on_read(void *arg, redisReply *reply)
{
    struct trg_rstream *s = arg;
    s->reading = false;
    if (!reply || !s->started)
        return; /* link lost (the state listener resumes), or being destroyed */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) {
            trg_warn(s->comp, s->inst, "stream %s or its group %s vanished: creating them again", s->stream,
                     s->group);
            s->group_ok = false;
            ensure_group(s);
        } else if (!s->warned) {
            s->warned = true;
            trg_error(s->comp, s->inst, "XREADGROUP on %s failed: %s; retrying (check the key's type and the "
                      "Redis user's permissions)", s->stream, reply->str);
        }
        return; /* the tick retries */
    }
    s->warned = false;
    if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *st = reply->element[i];
            if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 || st->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            for (size_t k = 0; k < st->element[1]->elements; k++)
                deliver(s, st->element[1]->element[k], 1);
        }
    }
    read_next(s);
}

static void read_next(struct trg_rstream *s)
{
    if (!s->started || s->paused || s->reading || !s->group_ok || !trg_redis_connected(s->conn) ||
        s->inflight >= (size_t)s->max_inflight)
        return;
    int64_t room = s->max_inflight - (int64_t)s->inflight;
    char count[24], block[24];
    snprintf(count, sizeof count, "%lld", (long long)(room < s->batch ? room : s->batch));
    snprintf(block, sizeof block, "%lld", (long long)s->block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", s->group, s->consumer, "COUNT", count, "BLOCK", block,
                          "STREAMS", s->stream, ">"};
    if (trg_redis_command(s->conn, on_read, s, 11, argv, NULL) == 0)
        s->reading = true;
}

static void claim(struct trg_rstream *s);

static void on_group(void *arg, redisReply *reply)
{
    struct trg_rstream *s = arg;
    s->creating = false;
    if (!reply || !s->started)
        return;
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        if (!s->warned) {
            s->warned = true;
            trg_error(s->comp, s->inst, "cannot create consumer group %s on %s: %s; retrying (is the key a "
                      "stream? may the Redis user run XGROUP?)", s->group, s->stream, reply->str);
        }
        return; /* the tick retries */
    }
    s->warned = false;
    if (!s->group_ok)
        trg_info(s->comp, s->inst, "reading stream %s as %s/%s", s->stream, s->group, s->consumer);
    s->group_ok = true;
    claim(s);
    read_next(s);
}

static void ensure_group(struct trg_rstream *s)
{
    if (s->creating || !s->started || !trg_redis_connected(s->conn))
        return;
    const char *argv[] = {"XGROUP", "CREATE", s->stream, s->group, s->start, "MKSTREAM"};
    if (trg_redis_command(s->conn, on_group, s, 6, argv, NULL) == 0)
        s->creating = true;
}

static void on_conn_state(void *arg, bool connected)
{
    struct trg_rstream *s = arg;
    if (!connected) {
        s->group_ok = false;
        return;
    }
    ensure_group(s);
}

/* --- claiming and heartbeats (shared connection) --------------------------------------------- */

static void on_claim(void *arg, redisReply *reply)
{
    struct op *o = arg;
    struct trg_rstream *s = o->s;
    if (s) {
        s->claiming = false;
        if (reply && reply->type == REDIS_REPLY_ARRAY && s->started) {
            if (reply->elements)
                trg_info(s->comp, s->inst, "reclaimed %zu entr%s idle for more than %lld ms", reply->elements,
                         reply->elements == 1 ? "y" : "ies", (long long)s->vis_ms);
            for (size_t i = 0; i < reply->elements; i++) {
                const redisReply *e = reply->element[i];
                int64_t count = 1;
                if (e && e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->str)
                    for (size_t k = 0; k < o->n; k++)
                        if (strcmp(o->ids[k], e->element[0]->str) == 0)
                            count = o->counts[k] + 1;
                deliver(s, e, count);
            }
        }
    }
    op_free(o);
}

static void on_pending(void *arg, redisReply *reply)
{
    struct op *o = arg;
    struct trg_rstream *s = o->s;
    if (!s || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || !s->started) {
        if (s)
            s->claiming = false;
        op_free(o);
        return;
    }
    o->ids = trg_calloc(reply->elements, sizeof *o->ids);
    o->counts = trg_calloc(reply->elements, sizeof *o->counts);
    const char **argv = trg_calloc(reply->elements + 5, sizeof *argv);
    char idle[24];
    snprintf(idle, sizeof idle, "%lld", (long long)s->vis_ms);
    int argc = 0;
    if (o->ids && o->counts && argv) {
        argv[argc++] = "XCLAIM";
        argv[argc++] = s->stream;
        argv[argc++] = s->group;
        argv[argc++] = s->consumer;
        argv[argc++] = idle;
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *p = reply->element[i];
            if (p->type != REDIS_REPLY_ARRAY || p->elements < 4 || !p->element[0]->str ||
                msg_held(s, p->element[0]->str, p->element[0]->len))
                continue;
            if (!(o->ids[o->n] = trg_strdup(p->element[0]->str)))
                break;
            o->counts[o->n] = p->element[3]->integer;
            argv[argc++] = o->ids[o->n++];
        }
    }
    if (o->n == 0 || trg_redis_command(s->shared, on_claim, o, argc, argv, NULL) != 0) {
        s->claiming = false;
        op_free(o);
    }
    trg_free(argv);
}

static void claim(struct trg_rstream *s)
{
    if (s->claiming || !s->started || s->paused || !s->group_ok || !trg_redis_connected(s->shared) ||
        s->inflight >= (size_t)s->max_inflight)
        return;
    int64_t room = s->max_inflight - (int64_t)s->inflight;
    char idle[24], count[24];
    snprintf(idle, sizeof idle, "%lld", (long long)s->vis_ms);
    snprintf(count, sizeof count, "%lld", (long long)(room < s->batch ? room : s->batch));
    const char *argv[] = {"XPENDING", s->stream, s->group, "IDLE", idle, "-", "+", count};
    struct op *o = op_new(s);
    if (!o)
        return;
    if (trg_redis_command(s->shared, on_pending, o, 8, argv, NULL) != 0) {
        op_free(o);
        return;
    }
    s->claiming = true;
}

/* Reset the idle time of every message out, so that no other replica reclaims them. */
static void heartbeat(struct trg_rstream *s)
{
    if (!s->msgs || !trg_redis_connected(s->shared))
        return;
    const char *argv[6 + HEARTBEAT_CHUNK];
    struct trg_rstream_msg *m = s->msgs;
    while (m) {
        int argc = 0;
        argv[argc++] = "XCLAIM";
        argv[argc++] = s->stream;
        argv[argc++] = s->group;
        argv[argc++] = s->consumer;
        argv[argc++] = "0";
        for (; m && argc < 5 + HEARTBEAT_CHUNK; m = m->next)
            argv[argc++] = m->id;
        argv[argc++] = "JUSTID";
        if (!send_shared(s, argc, argv, NULL))
            return;
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_rstream *s = w->data;
    heartbeat(s);
    if (!s->group_ok)
        ensure_group(s);
    claim(s);
    read_next(s);
}

/* --- lifecycle ------------------------------------------------------------------------------- */

char *trg_rstream_default_consumer(void)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "trigd");
    host[sizeof host - 1] = '\0';
    return trg_asprintf("%s-%ld", host, (long)getpid());
}

int trg_rstream_create(struct ev_loop *loop, const struct trg_redis_conf *redis_conf, struct trg_redis *shared,
                       const struct trg_rstream_conf *conf, trg_rstream_cb cb, void *arg, struct trg_rstream **out)
{
    struct trg_rstream *s = trg_calloc(1, sizeof *s);
    if (!s)
        return TRG_ENOMEM;
    s->loop = loop;
    s->shared = shared;
    s->redis_conf = redis_conf;
    s->cb = cb;
    s->arg = arg;
    s->stream = trg_strdup(conf->stream);
    s->group = trg_strdup(conf->group);
    s->consumer = trg_strdup(conf->consumer);
    s->start = trg_strdup(conf->start ? conf->start : "$");
    s->comp = trg_strdup(conf->log_component ? conf->log_component : "rstream");
    s->inst = trg_strdup(conf->log_instance ? conf->log_instance : conf->stream);
    s->batch = conf->batch > 0 ? conf->batch : 100;
    s->rnd = conf->rnd;
    s->rnd_state = conf->rnd_state;
    s->max_inflight = conf->max_inflight > 0 ? conf->max_inflight : 1000;
    s->vis_ms = conf->visibility_timeout_ms > 0 ? conf->visibility_timeout_ms : 30000;
    /* A blocking read must end well before the connection's command timeout tears it down. */
    int64_t ct = redis_conf->command_timeout_ms > 0 ? redis_conf->command_timeout_ms : 5000;
    s->block_ms = ct / 2 < 1000 ? ct / 2 : 1000;
    if (s->block_ms < 1)
        s->block_ms = 1;
    double every = (double)s->vis_ms / 3000.0;
    every = every < 0.1 ? 0.1 : every > 10 ? 10 : every;
    ev_timer_init(&s->tick, tick_cb, every, every);
    s->tick.data = s;
    if (!s->stream || !s->group || !s->consumer || !s->start || !s->comp || !s->inst) {
        trg_rstream_destroy(s);
        return TRG_ENOMEM;
    }
    *out = s;
    return 0;
}

int trg_rstream_start(struct trg_rstream *s)
{
    if (s->started)
        return 0;
    int rc = trg_redis_create(s->loop, s->redis_conf, s->rnd, s->rnd_state, &s->conn);
    if (rc != 0)
        return rc;
    s->started = true;
    trg_redis_on_state(s->conn, on_conn_state, s);
    ev_timer_again(s->loop, &s->tick);
    return 0;
}

void trg_rstream_pause(struct trg_rstream *s, bool paused)
{
    s->paused = paused;
    if (!paused) {
        claim(s);
        read_next(s);
    }
}

void trg_rstream_destroy(struct trg_rstream *s)
{
    if (!s)
        return;
    s->started = false;
    ev_timer_stop(s->loop, &s->tick);
    trg_redis_destroy(s->conn); /* on_read/on_group hear NULL and return */
    for (struct op *o = s->ops; o; o = o->next)
        o->s = NULL; /* their callbacks only free them */
    while (s->msgs) {
        struct trg_rstream_msg *m = s->msgs;
        s->msgs = m->next;
        trg_free(m);
    }
    trg_free(s->stream);
    trg_free(s->group);
    trg_free(s->consumer);
    trg_free(s->start);
    trg_free(s->comp);
    trg_free(s->inst);
    trg_free(s);
}

int64_t trg_rstream_id_ms(const char *id)
{
    int64_t ms = 0;
    const char *p = id;
    if (!p || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (ms > (INT64_MAX - 9) / 10)
            return -1;
        ms = ms * 10 + (*p - '0');
    }
    if (*p == '\0')
        return ms;
    if (*p++ != '-' || *p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '\0' ? ms : -1;
}

struct trg_event *trg_rstream_event(const struct trg_rstream_entry *en, const char *json, size_t len,
                                    const char *item_id, size_t item_len, const char *order_key, size_t key_len,
                                    int64_t created_ms)
{
    struct trg_event *ev = trg_event_new_packed_n(json, len, item_id, item_len, order_key, key_len, 0);
    if (!ev) {
        struct trg_rstream *s = en->msg->s;
        trg_error(s->comp, s->inst, "out of memory taking entry %s: it stays pending and is redelivered later",
                  en->id);
        trg_rstream_release(en->msg);
        return NULL;
    }
    ev->created_ms = created_ms > 0 ? created_ms : trg_rstream_id_ms(en->id);
    if (ev->created_ms < 0)
        ev->created_ms = 0; /* dated at emit */
    ev->receive_count = en->delivery_count > 1000000 ? 1000000 : (int)en->delivery_count;
    return ev;
}
