/* redis.c — the shared asynchronous Redis connection: hiredis async + its libev adapter.
 *
 * Life of a link: start_connect() -> on_connect() sends [AUTH] [SELECT] PING -> the PING reply makes
 * the link ready (listeners hear true). A drop, a failed connect, a handshake error or a timeout
 * frees the hiredis context and arms the retry timer (capped exponential backoff, full jitter).
 *
 * hiredis frees its context itself after on_connect(REDIS_ERR) and around on_disconnect(), and
 * calls every pending reply callback with NULL when a context is freed. A context we give up on
 * ourselves is first unhooked (r->ac = NULL) so its late callbacks are recognised and ignored.
 * Destroying from inside any of our callbacks only marks the object; a 0-timer reaps it.
 */
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "log.h"
#include "redis.h"
#include "retry.h"
#include "util.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000

#define RC(f) offsetof(struct trg_redis_conf, f)
const struct trg_opt trg_redis_options[] = {
    {"url", TRG_OPT_STRING, NULL, 0, 0, NULL, RC(url),
     "`redis://[user[:password]@]host[:port][/db]` (port 6379, db 0 by default; percent-encode reserved "
     "characters of user and password) or `unix:///path[?db=N]`.", NULL, TRG_OPT_REQUIRED},
    {"password", TRG_OPT_SECRET, NULL, 0, 0, NULL, RC(password),
     "Password (with the URL's user: an ACL user); overrides a password in the URL.", NULL, 0},
    {"prefix", TRG_OPT_STRING, "\"trigd:\"", 0, 0, NULL, RC(prefix),
     "Prefix of every key trigd writes (DLQ streams are `<prefix>dlq:<route>`).", NULL, 0},
    {"connect_timeout_ms", TRG_OPT_INT, "2000", 1, 600000, "ms", RC(connect_timeout_ms),
     "Time allowed to connect, authenticate and select the db before the attempt counts as failed.", NULL, 0},
    {"command_timeout_ms", TRG_OPT_INT, "5000", 1, 3600000, "ms", RC(command_timeout_ms),
     "A command unanswered for this long drops the connection (pending commands fail) and reconnects.",
     NULL, 0},
    {"intake_visibility_timeout_ms", TRG_OPT_INT, "30000", 100, 43200000, "ms", RC(intake_visibility_timeout_ms),
     "Durable intake (`<prefix>intake:<route>` streams of push sources): an entry taken by a replica and "
     "unfinished for this long without a heartbeat (the replica crashed) is reclaimed by another one.", NULL, 0},
};
const size_t trg_redis_n_options = TRG_ARRAY_SIZE(trg_redis_options);

enum link_state {
    ST_WAIT,       /* no link: the retry timer is armed (or we are being destroyed) */
    ST_CONNECTING, /* TCP connect and handshake under way */
    ST_READY,      /* authenticated, db selected: commands go through */
};

/* One command in flight. A detached request (cb NULL) belongs to a context we gave up on or to a
 * destroyed connection; hiredis still calls back for it and on_reply() just frees it. */
struct req {
    struct trg_redis *r;
    trg_redis_cb cb;
    void *arg;
    double sent; /* ev_now() when sent */
    struct req *prev, *next;
};

struct listener {
    void (*fn)(void *arg, bool connected);
    void *arg;
};

struct trg_redis {
    struct ev_loop *loop;
    const struct trg_redis_conf *conf;
    char *host, *unix_path, *user, *password;
    int port, db;
    const char *prefix;
    char *name; /* "host:port/db" for logs */
    double connect_timeout, command_timeout; /* seconds */

    redisAsyncContext *ac;
    enum link_state state;
    bool ever_ready;
    int failures;      /* failed attempts in the current streak */
    int depth;         /* > 0 while inside one of our callbacks */
    bool destroying;
    bool drop_pending; /* a drop requested where freeing the context was unsafe */
    bool dying;        /* hiredis is tearing the current context down */
    trg_rand_fn rnd; /* the owner's random source (reconnect jitter) */
    void *rnd_state;

    ev_timer retry_timer, connect_timer, cmd_timer, kick;
    struct req *head, *tail; /* attached requests, oldest first */
    struct listener *listeners;
    size_t n_listeners;
};

static const char STEP_AUTH[] = "AUTH";
static const char STEP_SELECT[] = "SELECT";
static const char STEP_PING[] = "PING";

static void start_connect(struct trg_redis *r);

/* --- URL ------------------------------------------------------------------------------------- */

/* Percent-decode s[0..n) into a new string; NULL for an empty input. */
static int pct_decode(const char *s, size_t n, char **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char *d = trg_malloc(n + 1);
    if (!d)
        return TRG_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? trg_hex_digit((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < n ? trg_hex_digit((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            trg_free(d);
            return TRG_EINVAL;
        }
        d[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

/* A decimal number in s[0..n) within [min, max]. */
static int parse_num(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 9)
        return TRG_EINVAL;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return TRG_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return TRG_EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_unix(const char *rest, char **unix_path, int *db)
{
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen < 2 || rest[0] != '/')
        return TRG_EINVAL;
    if (q) {
        const char *p = q + 1;
        while (*p) {
            const char *amp = strchr(p, '&');
            size_t len = amp ? (size_t)(amp - p) : strlen(p);
            if (len < 3 || strncmp(p, "db=", 3) != 0 || parse_num(p + 3, len - 3, 0, INT_MAX, db) < 0)
                return TRG_EINVAL;
            p += len + (amp ? 1 : 0);
        }
    }
    *unix_path = trg_strndup(rest, plen);
    return *unix_path ? 0 : TRG_ENOMEM;
}

static int parse_tcp(const char *rest, char **host, int *port, char **user, char **password, int *db)
{
    if (strpbrk(rest, "?#"))
        return TRG_EINVAL;
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *hp = rest;
    size_t hplen = alen;
    const char *at = memrchr(rest, '@', alen);
    int rc;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        if ((rc = pct_decode(rest, ulen, user)) < 0)
            return rc;
        if (colon && (rc = pct_decode(colon + 1, (size_t)(at - colon - 1), password)) < 0)
            return rc;
        hp = at + 1;
        hplen = alen - (size_t)(hp - rest);
    }
    const char *h = hp, *portp = NULL;
    size_t hlen;
    if (hplen > 0 && hp[0] == '[') {
        const char *close = memchr(hp, ']', hplen);
        if (!close)
            return TRG_EINVAL;
        h = hp + 1;
        hlen = (size_t)(close - h);
        size_t after = hplen - (size_t)(close + 1 - hp);
        if (after > 0) {
            if (close[1] != ':')
                return TRG_EINVAL;
            portp = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', hplen);
        hlen = colon ? (size_t)(colon - hp) : hplen;
        if (colon)
            portp = colon + 1;
    }
    if (hlen == 0 || memchr(h, '@', hlen) || (hp[0] != '[' && memchr(h, ':', hlen)))
        return TRG_EINVAL;
    if (portp && parse_num(portp, hplen - (size_t)(portp - hp), 1, 65535, port) < 0)
        return TRG_EINVAL;
    if (slash && slash[1] && parse_num(slash + 1, strlen(slash + 1), 0, INT_MAX, db) < 0)
        return TRG_EINVAL;
    *host = trg_strndup(h, hlen);
    return *host ? 0 : TRG_ENOMEM;
}

int trg_redis_parse_url(const char *url, char **host, int *port, char **unix_path, char **user,
                        char **password, int *db)
{
    *host = *unix_path = *user = *password = NULL;
    *port = 6379;
    *db = 0;
    if (!url)
        return TRG_EINVAL;
    int rc;
    if (strncmp(url, "unix://", 7) == 0)
        rc = parse_unix(url + 7, unix_path, db);
    else if (strncmp(url, "redis://", 8) == 0)
        rc = parse_tcp(url + 8, host, port, user, password, db);
    else
        rc = TRG_EINVAL;
    if (rc < 0) {
        trg_free(*host);
        trg_free(*unix_path);
        trg_free(*user);
        trg_free(*password);
        *host = *unix_path = *user = *password = NULL;
        *port = 6379;
        *db = 0;
    }
    return rc;
}

void trg_redis_check(const struct trg_redis_conf *conf, const char *path, struct trg_errs *errs)
{
    char *host, *unix_path, *user, *password, *at, shown[256];
    int port, db, rc;

    if (!conf->url)
        return; /* required: trg_opt_apply() said so */
    at = trg_asprintf("%s.url", path ? path : "$");
    rc = trg_redis_parse_url(conf->url, &host, &port, &unix_path, &user, &password, &db);
    if (rc == TRG_EINVAL)
        trg_errs_add(errs, at ? at : path,
                     "\"%s\" is not redis://[user[:password]@]host[:port][/db] (port 1-65535, db a number) "
                     "or unix:///path[?db=N]",
                     trg_url_redact(conf->url, shown, sizeof shown));
    else if (rc == 0 && user && *user && !password && !conf->password)
        trg_errs_add(errs, at ? at : path,
                     "names the user \"%s\" but no password: add it to the URL or set password_env / "
                     "password_file",
                     user);
    trg_free(host);
    trg_free(unix_path);
    trg_free(user);
    trg_free(password);
    trg_free(at);
}

/* --- requests and listeners ------------------------------------------------------------------ */

static void req_unlink(struct trg_redis *r, struct req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        r->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        r->tail = q->prev;
    q->prev = q->next = NULL;
}

/* Call every attached request's callback with NULL now, and detach it. */
static void fail_pending(struct trg_redis *r)
{
    struct req *q;
    while ((q = r->head)) {
        req_unlink(r, q);
        trg_redis_cb cb = q->cb;
        void *arg = q->arg;
        q->cb = NULL;
        q->r = NULL;
        cb(arg, NULL);
    }
}

static void notify(struct trg_redis *r, bool connected)
{
    for (size_t i = 0; i < r->n_listeners && !r->destroying; i++) {
        struct listener l = r->listeners[i];
        if (l.fn)
            l.fn(l.arg, connected);
    }
}

/* --- link life ------------------------------------------------------------------------------- */

/* Without an owner's random source (tools, unit tests). */
static uint64_t os_random(void *unused)
{
    (void)unused;
    uint64_t x;
    trg_random_bytes(&x, sizeof x);
    return x;
}

static void schedule_retry(struct trg_redis *r)
{
    int attempt = r->failures > 0 ? r->failures - 1 : 0;
    if (attempt > 30)
        attempt = 30;
    int64_t ms = trg_backoff_ms(attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS, r->rnd, r->rnd_state);
    ev_timer_stop(r->loop, &r->retry_timer);
    ev_timer_set(&r->retry_timer, (double)ms / 1000.0, 0.);
    ev_timer_start(r->loop, &r->retry_timer);
}

static void connect_failed(struct trg_redis *r, const char *why, const char *hint)
{
    r->state = ST_WAIT;
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_stop(r->loop, &r->cmd_timer);
    if (r->destroying)
        return;
    r->failures++;
    if (r->failures == 1)
        trg_warn("redis", r->name, "cannot connect: %s; %s; retrying with backoff up to %d s", why,
                 hint ? hint : "check that Redis is running and reachable at that address",
                 BACKOFF_MAX_MS / 1000);
    else
        trg_debug("redis", r->name, "attempt %d failed: %s", r->failures, why);
    schedule_retry(r);
}

/* The link went away (was_ready: it had been up). */
static void link_lost(struct trg_redis *r, bool was_ready, const char *why)
{
    if (!was_ready) {
        connect_failed(r, why, NULL);
        return;
    }
    r->state = ST_WAIT;
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_stop(r->loop, &r->cmd_timer);
    if (r->destroying)
        return;
    r->failures = 1;
    trg_warn("redis", r->name, "connection lost: %s; commands fail until it is back; reconnecting", why);
    notify(r, false);
    if (!r->destroying)
        schedule_retry(r);
}

/* Give up on the current context from a place where freeing it is safe (a timer, or a hiredis
 * reply callback, where hiredis defers the free itself). */
static void drop_link(struct trg_redis *r, const char *why, const char *hint)
{
    redisAsyncContext *ac = r->ac;
    bool was_ready = r->state == ST_READY;
    r->ac = NULL;
    r->state = ST_WAIT;
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_stop(r->loop, &r->cmd_timer);
    if (ac)
        redisAsyncFree(ac); /* pending callbacks get NULL; its on_disconnect is ignored */
    if (r->destroying)
        return;
    if (hint || !was_ready)
        connect_failed(r, why, hint);
    else
        link_lost(r, true, why);
}

static void ready(struct trg_redis *r)
{
    r->state = ST_READY;
    ev_timer_stop(r->loop, &r->connect_timer);
    if (r->failures > 0)
        trg_info("redis", r->name, "%s after %d failed attempt%s", r->ever_ready ? "reconnected" : "connected",
                 r->failures, r->failures == 1 ? "" : "s");
    else
        trg_info("redis", r->name, "connected");
    r->failures = 0;
    r->ever_ready = true;
    notify(r, true);
}

static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct trg_redis *r = ac->data;
    const char *step = privdata;
    redisReply *rep = reply;
    if (!r || ac != r->ac || !rep)
        return; /* the link is gone; whoever dropped it handles the state */
    r->depth++;
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[256];
        snprintf(why, sizeof(why), "%s failed: %.200s", step, rep->str ? rep->str : "error");
        const char *hint = step == STEP_AUTH
            ? "check the password (redis.password_env / password_file or the URL) and, with a user, that "
              "the ACL user exists, is on and may run the commands (ACL SETUSER)"
            : step == STEP_SELECT ? "check the db number in redis.url against the server's `databases`"
                                  : "check the server's state and the ACL user's permissions";
        drop_link(r, why, hint);
    } else if (step == STEP_PING) {
        ready(r);
    }
    r->depth--;
}

static int send_handshake(struct trg_redis *r, redisAsyncContext *ac)
{
    if (r->password) {
        const char *argv[3] = {"AUTH", r->user ? r->user : r->password, r->password};
        int argc = r->user ? 3 : 2;
        if (redisAsyncCommandArgv(ac, on_handshake, (void *)STEP_AUTH, argc, argv, NULL) != REDIS_OK)
            return TRG_EIO;
    }
    if (r->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[2] = {"SELECT", db};
        if (redisAsyncCommandArgv(ac, on_handshake, (void *)STEP_SELECT, 2, argv, NULL) != REDIS_OK)
            return TRG_EIO;
    }
    const char *argv[1] = {"PING"};
    if (redisAsyncCommandArgv(ac, on_handshake, (void *)STEP_PING, 1, argv, NULL) != REDIS_OK)
        return TRG_EIO;
    return 0;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct trg_redis *r = ac->data;
    if (!r || ac != r->ac)
        return;
    r->depth++;
    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        char why[256];
        snprintf(why, sizeof(why), "%.200s", ac->errstr[0] ? ac->errstr : "connect failed");
        r->ac = NULL;
        connect_failed(r, why, NULL);
    } else if (send_handshake(r, ac) < 0) {
        /* freeing the context here is unsafe: let the kick timer drop it */
        r->drop_pending = true;
        ev_timer_start(r->loop, &r->kick);
    }
    r->depth--;
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct trg_redis *r = ac->data;
    if (!r || ac != r->ac)
        return;
    char why[256];
    snprintf(why, sizeof(why), "%.200s",
             status == REDIS_OK ? "closed" : ac->errstr[0] ? ac->errstr : "connection error");
    bool was_ready = r->state == ST_READY;
    r->ac = NULL; /* hiredis frees it when this returns */
    r->depth++;
    link_lost(r, was_ready, why);
    r->depth--;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct req *q = privdata;
    if (!q->cb) {
        trg_free(q);
        return;
    }
    struct trg_redis *r = q->r;
    if (!reply && ac == r->ac)
        r->dying = true; /* on_disconnect follows; meanwhile commands fail with TRG_ESTATE */
    req_unlink(r, q);
    trg_redis_cb cb = q->cb;
    void *arg = q->arg;
    trg_free(q);
    r->depth++;
    cb(arg, reply);
    r->depth--;
}

static void start_connect(struct trg_redis *r)
{
    redisAsyncContext *ac = r->unix_path ? redisAsyncConnectUnix(r->unix_path)
                                         : redisAsyncConnect(r->host, r->port);
    if (!ac) {
        connect_failed(r, "out of memory", NULL);
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof(why), "%.200s", ac->errstr);
        redisAsyncFree(ac);
        connect_failed(r, why, NULL);
        return;
    }
    ac->data = r;
    if (redisLibevAttach(r->loop, ac) != REDIS_OK || redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK) {
        redisAsyncFree(ac);
        connect_failed(r, "cannot attach to the event loop", NULL);
        return;
    }
    r->ac = ac;
    r->dying = false;
    r->state = ST_CONNECTING;
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_set(&r->connect_timer, r->connect_timeout, 0.);
    ev_timer_start(r->loop, &r->connect_timer);
}

/* --- timers ---------------------------------------------------------------------------------- */

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_redis *r = w->data;
    r->depth++;
    if (!r->destroying && !r->ac)
        start_connect(r);
    r->depth--;
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_redis *r = w->data;
    if (r->state != ST_CONNECTING)
        return;
    char why[64];
    snprintf(why, sizeof(why), "no answer within %.0f ms", r->connect_timeout * 1000.0);
    r->depth++;
    drop_link(r, why, NULL);
    r->depth--;
}

static void cmd_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct trg_redis *r = w->data;
    if (!r->head || r->state != ST_READY)
        return;
    double age = ev_now(loop) - r->head->sent;
    if (age < r->command_timeout) {
        ev_timer_set(w, r->command_timeout - age, 0.);
        ev_timer_start(loop, w);
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "a command got no reply within %.0f ms (check the server's load)",
             r->command_timeout * 1000.0);
    r->depth++;
    drop_link(r, why, NULL);
    r->depth--;
}

static void final_free(struct trg_redis *r)
{
    fail_pending(r);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        r->depth++;
        redisAsyncFree(ac);
        r->depth--;
    }
    ev_timer_stop(r->loop, &r->retry_timer);
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_stop(r->loop, &r->cmd_timer);
    ev_timer_stop(r->loop, &r->kick);
    trg_free(r->host);
    trg_free(r->unix_path);
    trg_free(r->user);
    trg_free(r->password);
    trg_free(r->name);
    trg_free(r->listeners);
    trg_free(r);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct trg_redis *r = w->data;
    if (r->destroying) {
        final_free(r);
        return;
    }
    if (r->drop_pending) {
        r->drop_pending = false;
        r->depth++;
        drop_link(r, "could not send the handshake", NULL);
        r->depth--;
    }
}

/* --- public ---------------------------------------------------------------------------------- */

int trg_redis_create(struct ev_loop *loop, const struct trg_redis_conf *conf, trg_rand_fn rnd, void *rnd_state,
                     struct trg_redis **out)
{
    *out = NULL;
    if (!loop || !conf)
        return TRG_EINVAL;
    struct trg_redis *r = trg_calloc(1, sizeof(*r));
    if (!r)
        return TRG_ENOMEM;
    int rc = trg_redis_parse_url(conf->url, &r->host, &r->port, &r->unix_path, &r->user, &r->password,
                                 &r->db);
    if (rc < 0) {
        char shown[256];
        if (rc == TRG_EINVAL)
            trg_error("redis", NULL, "redis.url \"%s\" is not redis://[user[:password]@]host[:port][/db] "
                      "or unix:///path[?db=N] (TLS is not supported); fix the config",
                      trg_url_redact(conf->url, shown, sizeof shown));
        goto fail;
    }
    if (conf->password) {
        trg_free(r->password);
        if (!(r->password = trg_strdup(conf->password))) {
            rc = TRG_ENOMEM;
            goto fail;
        }
    }
    if (r->user && !r->password) {
        trg_error("redis", NULL, "redis.url names the user \"%s\" but no password is given; add it to the "
                  "URL or set redis.password_env / password_file", r->user);
        rc = TRG_EINVAL;
        goto fail;
    }
    r->name = r->unix_path ? trg_asprintf("%s/%d", r->unix_path, r->db)
                           : trg_asprintf("%s:%d/%d", r->host, r->port, r->db);
    if (!r->name) {
        rc = TRG_ENOMEM;
        goto fail;
    }
    r->loop = loop;
    r->conf = conf;
    r->prefix = conf->prefix ? conf->prefix : "trigd:";
    r->connect_timeout = (conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS)
                         / 1000.0;
    r->command_timeout = (conf->command_timeout_ms > 0 ? conf->command_timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS)
                         / 1000.0;
    r->rnd = rnd ? rnd : os_random;
    r->rnd_state = rnd_state;
    ev_timer_init(&r->retry_timer, retry_cb, 0., 0.);
    ev_timer_init(&r->connect_timer, connect_timeout_cb, 0., 0.);
    ev_timer_init(&r->cmd_timer, cmd_timeout_cb, 0., 0.);
    ev_timer_init(&r->kick, kick_cb, 0., 0.);
    r->retry_timer.data = r->connect_timer.data = r->cmd_timer.data = r->kick.data = r;
    r->state = ST_WAIT;
    start_connect(r);
    *out = r;
    return 0;
fail:
    trg_free(r->host);
    trg_free(r->unix_path);
    trg_free(r->user);
    trg_free(r->password);
    trg_free(r->name);
    trg_free(r);
    return rc;
}

void trg_redis_destroy(struct trg_redis *r)
{
    if (!r || r->destroying)
        return;
    r->destroying = true;
    r->n_listeners = 0;
    ev_timer_stop(r->loop, &r->retry_timer);
    ev_timer_stop(r->loop, &r->connect_timer);
    ev_timer_stop(r->loop, &r->cmd_timer);
    r->depth++;
    fail_pending(r);
    r->depth--;
    if (r->depth > 0) {
        ev_timer_stop(r->loop, &r->kick);
        ev_timer_set(&r->kick, 0., 0.);
        ev_timer_start(r->loop, &r->kick);
        return;
    }
    final_free(r);
}

bool trg_redis_connected(const struct trg_redis *r)
{
    return r && !r->destroying && r->state == ST_READY && r->ac && !r->dying;
}

const char *trg_redis_prefix(const struct trg_redis *r)
{
    return r && r->prefix ? r->prefix : "trigd:";
}

void trg_redis_on_state(struct trg_redis *r, void (*fn)(void *arg, bool connected), void *arg)
{
    if (!r || r->destroying)
        return;
    struct listener *free_slot = NULL;
    for (size_t i = 0; i < r->n_listeners; i++) {
        if (r->listeners[i].fn && r->listeners[i].arg == arg) {
            r->listeners[i].fn = fn;
            return;
        }
        if (!r->listeners[i].fn && !free_slot)
            free_slot = &r->listeners[i];
    }
    if (!fn)
        return;
    if (!free_slot) {
        struct listener *l = trg_realloc(r->listeners, (r->n_listeners + 1) * sizeof(*l));
        if (!l) {
            trg_error("redis", r->name, "out of memory adding a state listener");
            return;
        }
        r->listeners = l;
        free_slot = &l[r->n_listeners++];
    }
    free_slot->fn = fn;
    free_slot->arg = arg;
}

size_t trg_redis_pending(const struct trg_redis *r)
{
    size_t n = 0;
    for (const struct req *q = r ? r->head : NULL; q; q = q->next)
        n++;
    return n;
}

int trg_redis_command(struct trg_redis *r, trg_redis_cb cb, void *arg, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (!r || !cb || argc <= 0 || !argv)
        return TRG_EINVAL;
    if (!trg_redis_connected(r))
        return TRG_ESTATE;
    struct req *q = trg_calloc(1, sizeof(*q));
    if (!q)
        return TRG_ENOMEM;
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->sent = ev_now(r->loop);
    if (redisAsyncCommandArgv(r->ac, on_reply, q, argc, argv, argvlen) != REDIS_OK) {
        trg_free(q); /* the context is going away (or hiredis is out of memory) */
        return TRG_ESTATE;
    }
    q->prev = r->tail;
    if (r->tail)
        r->tail->next = q;
    else
        r->head = q;
    r->tail = q;
    if (!ev_is_active(&r->cmd_timer)) {
        ev_timer_set(&r->cmd_timer, r->command_timeout, 0.);
        ev_timer_start(r->loop, &r->cmd_timer);
    }
    return 0;
}
