/* dlq_redis.c — DLQ Redis backend: one stream per route, {prefix}dlq:{route}, bounded by MAXLEN ~.
 *
 * put = XADD key MAXLEN ~ N * record <json>; list = XRANGE key (after + COUNT n; get = XRANGE key id id;
 * delete = XDEL; purge = XLEN and DEL in one script, so a concurrent XADD is either counted and
 * deleted or kept. Commands in flight are tracked so destroy can answer them (TRG_ESTATE) and
 * detach them; their late replies are then dropped.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dlq_backend.h"
#include "log.h"
#include "redis.h"
#include "util.h"

static const char PURGE_SCRIPT[] = "local n = redis.call('XLEN', KEYS[1]) redis.call('DEL', KEYS[1]) return n";

enum rop_kind { ROP_PUT, ROP_LIST, ROP_GET, ROP_DONE };

struct rreq {
    struct rdlq *b; /* NULL once detached */
    enum rop_kind kind;
    trg_dlq_put_cb put_cb;
    trg_dlq_list_cb list_cb;
    trg_dlq_done_cb done_cb;
    void *arg;
    char *route; /* for logs */
    struct rreq *prev, *next;
};

struct rdlq {
    struct trg_dlq_backend base; /* first */
    struct ev_loop *loop;
    struct trg_redis *redis;
    int64_t max_len;
    struct rreq *head;
    bool closing;
};

static void unlink_req(struct rdlq *b, struct rreq *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        b->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

static void req_free(struct rreq *q)
{
    trg_free(q->route);
    trg_free(q);
}

/* Answer a request with an error and no data. */
static void answer_err(struct rreq *q, int err)
{
    switch (q->kind) {
    case ROP_PUT:
        q->put_cb(q->arg, err, NULL);
        break;
    case ROP_LIST:
    case ROP_GET:
        q->list_cb(q->arg, err, NULL, 0);
        break;
    case ROP_DONE:
        q->done_cb(q->arg, err, 0);
        break;
    }
}

/* XRANGE reply -> entries. Entries without a "record" field are skipped. */
static int parse_entries(const redisReply *rep, struct trg_dlq_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (rep->type != REDIS_REPLY_ARRAY)
        return TRG_EIO;
    if (rep->elements == 0)
        return 0;
    struct trg_dlq_entry *e = trg_calloc(rep->elements, sizeof(*e));
    if (!e)
        return TRG_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *it = rep->element[i];
        if (it->type != REDIS_REPLY_ARRAY || it->elements != 2 || it->element[0]->type != REDIS_REPLY_STRING ||
            it->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *fields = it->element[1];
        for (size_t j = 0; j + 1 < fields->elements; j += 2) {
            const redisReply *name = fields->element[j], *val = fields->element[j + 1];
            if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING ||
                name->len != 6 || memcmp(name->str, "record", 6) != 0)
                continue;
            e[k].id = trg_strndup(it->element[0]->str, it->element[0]->len);
            e[k].record = trg_strndup(val->str, val->len);
            e[k].len = val->len;
            if (!e[k].id || !e[k].record) {
                trg_dlq_entries_free(e, k + 1);
                return TRG_ENOMEM;
            }
            k++;
            break;
        }
    }
    *out = e;
    *n = k;
    if (k == 0) {
        trg_free(e);
        *out = NULL;
    }
    return 0;
}

static void on_reply(void *arg, struct redisReply *rep)
{
    struct rreq *q = arg;
    if (!q->b) {
        req_free(q); /* destroyed: already answered */
        return;
    }
    unlink_req(q->b, q);
    if (!rep) {
        answer_err(q, TRG_ESTATE); /* the connection dropped or timed out */
        req_free(q);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        trg_error("dlq", q->route, "redis refused a DLQ command: %s; check the ACL user's permissions "
                  "(stream commands, EVAL) and the server's memory", rep->str);
        answer_err(q, TRG_EIO);
        req_free(q);
        return;
    }
    struct trg_dlq_entry *entries = NULL;
    size_t n = 0;
    int err;
    switch (q->kind) {
    case ROP_PUT:
        if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS) {
            char *id = trg_strndup(rep->str, rep->len);
            if (id)
                q->put_cb(q->arg, 0, id);
            else
                q->put_cb(q->arg, TRG_ENOMEM, NULL);
            trg_free(id);
        } else {
            q->put_cb(q->arg, TRG_EIO, NULL);
        }
        break;
    case ROP_LIST:
    case ROP_GET:
        err = parse_entries(rep, &entries, &n);
        if (err == 0 && q->kind == ROP_GET && n == 0)
            err = TRG_ENOTFOUND;
        q->list_cb(q->arg, err, err == 0 ? entries : NULL, err == 0 ? n : 0);
        trg_dlq_entries_free(entries, n);
        break;
    case ROP_DONE:
        if (rep->type == REDIS_REPLY_INTEGER)
            q->done_cb(q->arg, 0, (long)rep->integer);
        else
            q->done_cb(q->arg, TRG_EIO, 0);
        break;
    }
    req_free(q);
}

static struct rreq *req_new(enum rop_kind kind, const char *route, void *arg)
{
    struct rreq *q = trg_calloc(1, sizeof(*q));
    if (!q || !(q->route = trg_strdup(route))) {
        trg_free(q);
        return NULL;
    }
    q->kind = kind;
    q->arg = arg;
    return q;
}

/* Send the command for q; on failure q is freed and its callback never called. */
static int send_cmd(struct rdlq *b, struct rreq *q, int argc, const char **argv, const size_t *argvlen)
{
    int rc = b->closing ? TRG_ESTATE : trg_redis_command(b->redis, on_reply, q, argc, argv, argvlen);
    if (rc < 0) {
        req_free(q);
        return rc;
    }
    q->b = b;
    q->next = b->head;
    if (b->head)
        b->head->prev = q;
    b->head = q;
    return 0;
}

static char *stream_key(struct rdlq *b, const char *route)
{
    return trg_asprintf("%sdlq:%s", trg_redis_prefix(b->redis), route);
}

/* The stream key and the request of one operation (the caller sets the request's callback). Returns 0,
 * TRG_ESTATE while Redis is unreachable or the backend closing, or TRG_ENOMEM (then nothing is left). */
static int start_req(struct rdlq *b, enum rop_kind kind, const char *route, void *arg, char **key,
                     struct rreq **q)
{
    if (b->closing || !trg_redis_connected(b->redis))
        return TRG_ESTATE;
    *key = stream_key(b, route);
    *q = req_new(kind, route, arg);
    if (!*key || !*q) {
        trg_free(*key);
        if (*q)
            req_free(*q);
        return TRG_ENOMEM;
    }
    return 0;
}

static int r_put(struct trg_dlq_backend *be, const char *route, const char *record, size_t len,
                 trg_dlq_put_cb cb, void *arg)
{
    struct rdlq *b = (struct rdlq *)be;
    char *key = NULL;
    struct rreq *q = NULL;
    int rc = start_req(b, ROP_PUT, route, arg, &key, &q);
    if (rc < 0)
        return rc;
    q->put_cb = cb;
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%" PRId64, b->max_len);
    const char *argv[8];
    size_t lens[8];
    int argc = 0;
    argv[argc++] = "XADD";
    argv[argc++] = key;
    if (b->max_len > 0) {
        argv[argc++] = "MAXLEN";
        argv[argc++] = "~";
        argv[argc++] = maxlen;
    }
    argv[argc++] = "*";
    argv[argc++] = "record";
    argv[argc++] = record;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    lens[argc - 1] = len;
    rc = send_cmd(b, q, argc, argv, lens);
    trg_free(key);
    return rc;
}

static int r_range(struct rdlq *b, enum rop_kind kind, const char *route, const char *start, const char *end,
                   size_t count, trg_dlq_list_cb cb, void *arg)
{
    char *key = NULL;
    struct rreq *q = NULL;
    int rc = start_req(b, kind, route, arg, &key, &q);
    if (rc < 0)
        return rc;
    q->list_cb = cb;
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%zu", count);
    const char *argv[6] = {"XRANGE", key, start, end, "COUNT", cnt};
    rc = send_cmd(b, q, 6, argv, NULL);
    trg_free(key);
    return rc;
}

static int r_list(struct trg_dlq_backend *be, const char *route, const char *after, size_t count,
                  trg_dlq_list_cb cb, void *arg)
{
    char start[64];
    if (after)
        snprintf(start, sizeof(start), "(%s", after);
    else
        snprintf(start, sizeof(start), "-");
    return r_range((struct rdlq *)be, ROP_LIST, route, start, "+", count, cb, arg);
}

static int r_get(struct trg_dlq_backend *be, const char *route, const char *id, trg_dlq_list_cb cb, void *arg)
{
    return r_range((struct rdlq *)be, ROP_GET, route, id, id, 1, cb, arg);
}

static int r_del(struct trg_dlq_backend *be, const char *route, const char *id, trg_dlq_done_cb cb, void *arg)
{
    struct rdlq *b = (struct rdlq *)be;
    char *key = NULL;
    struct rreq *q = NULL;
    int rc = start_req(b, ROP_DONE, route, arg, &key, &q);
    if (rc < 0)
        return rc;
    q->done_cb = cb;
    const char *argv[3] = {"XDEL", key, id};
    rc = send_cmd(b, q, 3, argv, NULL);
    trg_free(key);
    return rc;
}

static int r_purge(struct trg_dlq_backend *be, const char *route, trg_dlq_done_cb cb, void *arg)
{
    struct rdlq *b = (struct rdlq *)be;
    char *key = NULL;
    struct rreq *q = NULL;
    int rc = start_req(b, ROP_DONE, route, arg, &key, &q);
    if (rc < 0)
        return rc;
    q->done_cb = cb;
    const char *argv[4] = {"EVAL", PURGE_SCRIPT, "1", key};
    rc = send_cmd(b, q, 4, argv, NULL);
    trg_free(key);
    return rc;
}

static void r_destroy(struct trg_dlq_backend *be)
{
    struct rdlq *b = (struct rdlq *)be;
    struct rreq *q;
    b->closing = true;
    while ((q = b->head)) {
        unlink_req(b, q);
        q->b = NULL; /* trg_redis still owns the command; on_reply frees q */
        answer_err(q, TRG_ESTATE);
    }
    trg_free(b);
}

static const struct trg_dlq_backend_ops redis_ops = {
    .name = "redis",
    .put = r_put,
    .list = r_list,
    .get = r_get,
    .del = r_del,
    .purge = r_purge,
    .destroy = r_destroy,
};

int trg_dlq_redis_create(struct ev_loop *loop, struct trg_redis *redis, int64_t max_len,
                         struct trg_dlq_backend **out)
{
    *out = NULL;
    if (!loop || !redis)
        return TRG_EINVAL;
    struct rdlq *b = trg_calloc(1, sizeof(*b));
    if (!b)
        return TRG_ENOMEM;
    b->base.ops = &redis_ops;
    b->loop = loop;
    b->redis = redis;
    b->max_len = max_len;
    *out = &b->base;
    return 0;
}
