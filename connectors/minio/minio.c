/* minio.c — the "minio" source: MinIO / S3 bucket notifications as Lambda's S3 event.
 *
 * mode "webhook": MinIO's notify_webhook target POSTs one event per request to a path on trigd's
 * HTTP server. Each record becomes one trigd event; the sender gets 200 only once every record of its
 * request is accepted by the engine (stored in the durable intake when Redis is configured), 503 with
 * Retry-After when a route is full or the event could not be stored, 400 for a body that is not a MinIO
 * event, 401 for a wrong token, and 200 to HEAD (older MinIO probes the endpoint that way).
 *
 * mode "listen": trigd calls MinIO's ListenBucketNotification API (a long GET signed with SigV4)
 * through the loop's libcurl multi handle and reads one JSON object per line. Best effort: MinIO drops
 * events for slow or disconnected listeners, and there is no resume after a reconnect.
 *
 * Both modes give the same event per record: MinIO's record with s3.object.key form-encoded (as in
 * MinIO's webhook bodies and AWS's S3 events); a batch is {"Records":[...]}.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ev.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "../connector.h"
#include "minio_event.h"

#define LISTEN_MAX_LINE (8u << 20)   /* one record line; longer ones drop the connection */
#define LISTEN_BACKOFF_MIN_MS 500
#define LISTEN_ERRBODY_MAX 512

enum minio_mode {
    MINIO_WEBHOOK,
    MINIO_LISTEN
};

struct minio_opts {
    int mode;
    char *path;
    char *auth_token;
    int64_t max_body_bytes;
    char *endpoint;
    char *bucket;
    char *access_key;
    char *secret_key;
    char *region;
    struct trg_strlist events;
    char *prefix;
    char *suffix;
    int64_t ping_s;
    int64_t connect_timeout_ms;
    int64_t reconnect_max_ms;
};

static const char *const minio_modes[] = {"webhook", "listen", NULL};

static const struct trg_opt minio_options[] = {
    {"mode", TRG_OPT_ENUM, "\"webhook\"", 0, 0, NULL, offsetof(struct minio_opts, mode),
     "webhook: MinIO's notify_webhook target POSTs events to `path` (at-least-once with MinIO's queue_dir); "
     "listen: trigd calls MinIO's ListenBucketNotification API (best effort: events are lost while "
     "disconnected or slow).",
     minio_modes, 0},
    {"path", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct minio_opts, path),
     "webhook mode: HTTP path on trigd's HTTP server that MinIO's notify_webhook endpoint points at; "
     "must start with '/'. Required in webhook mode.",
     NULL, 0},
    {"auth_token", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct minio_opts, auth_token),
     "webhook mode: the notify_webhook auth_token; requests must carry `Authorization: Bearer <token>` "
     "(401 otherwise, compared in constant time). Without it any client may post events.",
     NULL, 0},
    {"max_body_bytes", TRG_OPT_INT, "1048576", 1, 6291456, "bytes", offsetof(struct minio_opts, max_body_bytes),
     "webhook mode: largest request body accepted; larger requests are answered 413.", NULL, 0},
    {"endpoint", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct minio_opts, endpoint),
     "listen mode: MinIO's S3 endpoint URL (`http://minio:9000`). Required in listen mode.", NULL, 0},
    {"bucket", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct minio_opts, bucket),
     "listen mode: the bucket to listen on; unset = every bucket.", NULL, 0},
    {"access_key", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct minio_opts, access_key),
     "listen mode: access key the request is signed with (SigV4). Required in listen mode.", NULL, 0},
    {"secret_key", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct minio_opts, secret_key),
     "listen mode: secret key the request is signed with (SigV4). Required in listen mode.", NULL, 0},
    {"region", TRG_OPT_STRING, "\"us-east-1\"", 0, 0, NULL, offsetof(struct minio_opts, region),
     "listen mode: region of the SigV4 signature (MinIO's MINIO_REGION; any region works when the server "
     "has none).",
     NULL, 0},
    {"events", TRG_OPT_STRLIST, "[]", 0, 0, NULL, offsetof(struct minio_opts, events),
     "Event names to pass on, with wildcards (`s3:ObjectCreated:*`); [] = every event (listen mode then "
     "asks for `s3:ObjectCreated:*` and `s3:ObjectRemoved:*`). Other records are dropped (webhook: "
     "answered 200).",
     NULL, 0},
    {"prefix", TRG_OPT_STRING, "\"\"", 0, 0, NULL, offsetof(struct minio_opts, prefix),
     "Pass on only objects whose decoded key starts with this.", NULL, 0},
    {"suffix", TRG_OPT_STRING, "\"\"", 0, 0, NULL, offsetof(struct minio_opts, suffix),
     "Pass on only objects whose decoded key ends with this.", NULL, 0},
    {"ping_s", TRG_OPT_INT, "10", 0, 3600, "s", offsetof(struct minio_opts, ping_s),
     "listen mode: MinIO sends a keep-alive line this often; a connection silent for 3 times as long (at "
     "least 30 s) is reconnected. 0 = do not ask (old servers send a space every 500 ms).",
     NULL, 0},
    {"connect_timeout_ms", TRG_OPT_INT, "10000", 100, 300000, "ms",
     offsetof(struct minio_opts, connect_timeout_ms), "listen mode: TCP and TLS connect timeout.", NULL, 0},
    {"reconnect_max_ms", TRG_OPT_INT, "30000", 500, 3600000, "ms", offsetof(struct minio_opts, reconnect_max_ms),
     "listen mode: longest wait between reconnect attempts (the wait doubles from 500 ms, with jitter).",
     NULL, 0},
};

struct minio;

/* A webhook request waiting until the engine accepted each of its records. */
struct minio_req {
    struct minio *m;
    struct minio_req *prev, *next;
    struct trg_http_req *req; /* NULL once answered */
    unsigned pending;         /* records emitted, not yet accepted */
    unsigned accepted;
    bool failed;              /* a record was refused or could not be stored */
    bool emitting;
};

struct minio {
    struct trg_source *src;
    const struct minio_opts *opts;
    const char *name;
    struct ev_loop *loop;
    struct trg_minio_filter filter;
    /* webhook mode */
    struct trg_http *http;
    bool routed;
    struct minio_req *reqs;
    /* listen mode */
    struct trg_curl_loop *cl;
    CURL *easy;
    bool running;      /* started and not stopped */
    bool in_transfer;  /* easy is on the curl loop */
    bool connected;    /* got a 200 on the current transfer */
    bool blocked;      /* a route was full: lines wait in buf */
    bool curl_paused;  /* the write callback returned CURL_WRITEFUNC_PAUSE */
    bool oom;          /* blocked by running out of memory (no pause(false) will come): retried by a timer */
    long status;
    size_t line_done;  /* records of the first line in buf already emitted */
    char *url;
    char *userpwd;
    char *sigv4;
    struct trg_buf buf;
    struct trg_buf errbody;
    ev_timer retry;
    ev_timer resume;
    int attempt;
    uint64_t lost;     /* records that could not be stored (listen mode has no redelivery) */
};

/* ---- config --------------------------------------------------------------------------------- */

static void minio_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct minio_opts *o = opts;
    const char *p = path ? path : "$";

    if (o->mode == MINIO_WEBHOOK) {
        if (!o->path)
            trg_errs_add(errs, p, "\"path\" is required in webhook mode");
        else if (o->path[0] != '/')
            trg_errs_add(errs, p, "path must start with '/' (got \"%s\")", o->path);
        if (o->endpoint)
            trg_errs_add(errs, p, "\"endpoint\" is only for mode \"listen\"; webhook mode uses \"path\"");
        return;
    }
    if (o->path)
        trg_errs_add(errs, p, "\"path\" is only for mode \"webhook\"; listen mode uses \"endpoint\"");
    if (!o->endpoint)
        trg_errs_add(errs, p, "\"endpoint\" is required in listen mode (e.g. \"http://minio:9000\")");
    else if (strncmp(o->endpoint, "http://", 7) && strncmp(o->endpoint, "https://", 8))
        trg_errs_add(errs, p, "endpoint must start with http:// or https:// (got \"%s\")", o->endpoint);
    if (!o->access_key || !o->secret_key)
        trg_errs_add(errs, p, "access_key_env (or _file) and secret_key_env (or _file) are required in "
                              "listen mode");
    if (o->bucket && (!*o->bucket || strchr(o->bucket, '/') || strchr(o->bucket, '?')))
        trg_errs_add(errs, p, "bucket must be a bucket name (got \"%s\")", o->bucket);
    if (o->auth_token)
        trg_errs_add(errs, p, "auth_token is only for mode \"webhook\"");
}

static void listen_retry_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void listen_resume_cb(struct ev_loop *loop, ev_timer *t, int revents);

static int minio_create(struct trg_source *src, const void *opts, void **out)
{
    struct minio *m = trg_calloc(1, sizeof *m);

    *out = NULL;
    if (!m)
        return TRG_ENOMEM;
    m->src = src;
    m->opts = opts;
    m->name = trg_source_name(src);
    m->loop = trg_source_loop(src);
    m->filter.events = m->opts->events.v;
    m->filter.n_events = m->opts->events.n;
    m->filter.prefix = m->opts->prefix && *m->opts->prefix ? m->opts->prefix : NULL;
    m->filter.suffix = m->opts->suffix && *m->opts->suffix ? m->opts->suffix : NULL;
    ev_timer_init(&m->retry, listen_retry_cb, 0., 0.);
    m->retry.data = m;
    ev_timer_init(&m->resume, listen_resume_cb, 0., 0.);
    m->resume.data = m;
    *out = m;
    return 0;
}

/* ---- webhook mode ---------------------------------------------------------------------------- */

static void mreq_free(struct minio_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (r->m->reqs == r)
        r->m->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    trg_free(r);
}

/* Every record of the request is accepted or refused: answer and forget it. */
static void mreq_finish(struct minio_req *r)
{
    char answer[64];

    if (r->req) {
        if (r->failed) {
            trg_http_respond_retry(r->req, 503,
                                   "the event could not be queued (route full or storage down); retry later");
        } else {
            snprintf(answer, sizeof answer, "{\"accepted\":%u}", r->accepted);
            trg_http_respond_json(r->req, 200, answer, NULL);
        }
        r->req = NULL;
    }
    mreq_free(r);
}

static void minio_accepted(void *inst, struct trg_event *ev, int err)
{
    struct minio *m = inst;
    struct minio_req *r = ev->token;

    if (!r) {
        if (err < 0) { /* listen mode: nobody to refuse, the record is gone */
            m->lost++;
            trg_warn("minio", m->name,
                     "a record could not be stored (%s) and is lost (listen mode cannot refuse it; "
                     "%llu lost so far): check Redis",
                     trg_strerror(err), (unsigned long long)m->lost);
        }
        return;
    }
    ev->token = NULL;
    if (err < 0) {
        r->failed = true;
        trg_warn("minio", m->name, "an event could not be stored (%s): answered 503, MinIO retries it",
                 trg_strerror(err));
    } else {
        r->accepted++;
    }
    if (--r->pending == 0 && !r->emitting)
        mreq_finish(r);
}

static void minio_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    (void)inst;
    (void)status;
    (void)res;
    ev->token = NULL; /* answered in minio_accepted(); MinIO needs nothing more */
}

static void bad_request(struct minio *m, struct trg_http_req *req, const char *why)
{
    struct trg_buf b = {0};

    trg_warn("minio", m->name, "refused a POST from %s with 400: %s (is this endpoint a MinIO notify_webhook "
                               "target?)",
             trg_http_req_remote(req), why);
    if (trg_buf_adds(&b, "{\"error\":") == 0 && trg_buf_add_json_str(&b, why, strlen(why)) == 0 &&
        trg_buf_addc(&b, '}') == 0)
        trg_http_respond(req, 400, "application/json", b.data, b.len, NULL);
    else
        trg_http_respond_json(req, 400, "{\"error\":\"not a MinIO event\"}", NULL);
    trg_buf_free(&b);
}

/* Build the events of a request's records. Records the source filter drops are left out (NULL). */
static int build_events(struct minio *m, cJSON *records, struct trg_event **evs, size_t n, const char **why)
{
    size_t i = 0;
    int err = 0;

    for (cJSON *rec = records->child; rec && i < n && !err; rec = rec->next, i++) {
        struct trg_minio_record r;
        err = trg_minio_record_build(rec, false, &r, why);
        if (err < 0)
            break;
        if (!trg_minio_filter_match(&m->filter, r.event_name, r.key)) {
            trg_debug("minio", m->name, "dropped %s of \"%s\": not matched by the source's events/prefix/suffix",
                      r.event_name, r.key);
            trg_minio_record_free(&r);
            continue;
        }
        evs[i] = trg_event_new(r.json, r.len);
        r.json = NULL;
        if (!evs[i]) {
            trg_minio_record_free(&r);
            *why = "out of memory";
            return TRG_ENOMEM;
        }
        evs[i]->item_id = r.item_id;
        r.item_id = NULL;
        trg_minio_record_free(&r);
    }
    return err;
}

static void webhook_request(void *arg, struct trg_http_req *req)
{
    struct minio *m = arg;
    struct trg_event **evs = NULL;
    struct minio_req *r = NULL;
    const char *body, *why = NULL;
    cJSON *doc = NULL, *records;
    size_t len, n;
    int err;

    if (!trg_source_ingress(m->src, req, m->opts->auth_token, true,
                            "check auth_token in MinIO's notify_webhook config against auth_token_env"))
        return;
    body = trg_http_req_body(req, &len);
    err = trg_minio_webhook_parse(body, len, &doc, &why);
    if (err == TRG_ENOMEM)
        goto oom;
    if (err < 0) {
        bad_request(m, req, why);
        return;
    }
    records = cJSON_GetObjectItemCaseSensitive(doc, "Records");
    n = (size_t)cJSON_GetArraySize(records);
    evs = trg_calloc(n, sizeof *evs);
    if (!evs)
        goto oom;
    err = build_events(m, records, evs, n, &why);
    if (err == TRG_ENOMEM)
        goto oom;
    if (err < 0) {
        bad_request(m, req, why);
        goto out;
    }
    cJSON_Delete(doc);
    doc = NULL;
    if (!trg_source_can_accept(m->src)) {
        trg_debug("minio", m->name, "a route is full: answered 503 (MinIO retries)");
        trg_source_ingress_refuse(m->src, req);
        goto out;
    }
    r = trg_calloc(1, sizeof *r);
    if (!r)
        goto oom;
    r->m = m;
    r->req = req;
    r->next = m->reqs;
    if (r->next)
        r->next->prev = r;
    m->reqs = r;
    r->emitting = true;
    for (size_t i = 0; i < n; i++) {
        if (!evs[i])
            continue;
        evs[i]->token = r;
        r->pending++;
        err = trg_source_emit(m->src, evs[i]);
        if (err < 0) {
            r->pending--;
            r->failed = true;
            trg_debug("minio", m->name, "event refused by the engine (%s); answering 503", trg_strerror(err));
            break;
        }
        evs[i] = NULL; /* the engine owns it */
    }
    r->emitting = false;
    if (r->pending == 0)
        mreq_finish(r);
    goto out;
oom:
    trg_error("minio", m->name, "out of memory handling an event; answered 503");
    trg_http_respond_retry(req, 503, "out of memory; retry later");
out:
    cJSON_Delete(doc);
    if (evs)
        for (size_t i = 0; i < n; i++)
            trg_event_free(evs[i]);
    trg_free(evs);
}

/* ---- listen mode ----------------------------------------------------------------------------- */

/* GET {endpoint}/{bucket}?events=..&ping=N&prefix=..&suffix=.. with the query already in SigV4
 * canonical order (names sorted, then values), so the signature holds whatever curl canonicalises. */
static char *listen_url(const struct minio_opts *o)
{
    static const char *const default_events[] = {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"};
    const char **evs;
    size_t n = o->events.n ? o->events.n : TRG_ARRAY_SIZE(default_events);
    struct trg_buf b = {0};
    size_t elen = strlen(o->endpoint);
    int err = 0;

    evs = trg_calloc(n, sizeof *evs);
    if (!evs)
        return NULL;
    for (size_t i = 0; i < n; i++)
        evs[i] = o->events.n ? o->events.v[i] : default_events[i];
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && strcmp(evs[j - 1], evs[j]) > 0; j--) {
            const char *t = evs[j];
            evs[j] = evs[j - 1];
            evs[j - 1] = t;
        }
    while (elen > 0 && o->endpoint[elen - 1] == '/')
        elen--;
    err = trg_buf_add(&b, o->endpoint, elen);
    err = err ? err : trg_buf_addf(&b, "/%s?", o->bucket ? o->bucket : "");
    for (size_t i = 0; i < n && !err; i++) {
        err = trg_buf_adds(&b, i ? "&events=" : "events=");
        err = err ? err : trg_minio_uri_escape(evs[i], &b);
    }
    if (!err && o->ping_s > 0)
        err = trg_buf_addf(&b, "&ping=%lld", (long long)o->ping_s);
    if (!err && o->prefix && *o->prefix) {
        err = trg_buf_adds(&b, "&prefix=");
        err = err ? err : trg_minio_uri_escape(o->prefix, &b);
    }
    if (!err && o->suffix && *o->suffix) {
        err = trg_buf_adds(&b, "&suffix=");
        err = err ? err : trg_minio_uri_escape(o->suffix, &b);
    }
    trg_free(evs);
    if (err) {
        trg_buf_free(&b);
        return NULL;
    }
    return trg_buf_steal(&b);
}

/* Emit the records of one line, from record m->line_done on. 0 when the line is finished, TRG_EFULL
 * when a route is full (the line stays, with line_done records already emitted). */
static int listen_records(struct minio *m, cJSON *records)
{
    size_t i = 0;

    for (cJSON *rec = records->child; rec; rec = rec->next, i++) {
        struct trg_minio_record r;
        const char *why = "";
        struct trg_event *ev;
        int err;

        if (i < m->line_done)
            continue;
        err = trg_minio_record_build(rec, true, &r, &why);
        if (err < 0) {
            trg_warn("minio", m->name, "skipped a record of the listen stream: %s", why);
            m->line_done++;
            continue;
        }
        if (!trg_minio_filter_match(&m->filter, r.event_name, r.key)) {
            trg_minio_record_free(&r);
            m->line_done++;
            continue;
        }
        ev = trg_event_new(r.json, r.len);
        r.json = NULL;
        if (!ev) {
            trg_minio_record_free(&r);
            m->oom = true;
            return TRG_EFULL; /* out of memory: try again later */
        }
        ev->item_id = r.item_id;
        r.item_id = NULL;
        trg_minio_record_free(&r);
        err = trg_source_emit(m->src, ev);
        if (err == TRG_EFULL) {
            trg_event_free(ev);
            return TRG_EFULL;
        }
        if (err < 0) {
            trg_event_free(ev);
            trg_warn("minio", m->name, "dropped a record of the listen stream (%s): MinIO does not send it again; "
                     "enable a route for this source, or use webhook mode with a queue",
                     trg_strerror(err));
            trg_source_count(m->src, "dropped", 1);
        }
        m->line_done++;
    }
    return 0;
}

/* Handle every complete line in buf until a route is full. */
static void listen_drain(struct minio *m)
{
    size_t off = 0;

    while (off < m->buf.len) {
        const char *line;
        size_t line_len, used;
        cJSON *doc = NULL;
        if (!trg_minio_stream_next(m->buf.data + off, m->buf.len - off, &line, &line_len, &used)) {
            off += used;
            break;
        }
        int kind = trg_minio_listen_line(line, line_len, &doc);
        if (kind == TRG_MINIO_LINE_RECORDS) {
            int err = listen_records(m, cJSON_GetObjectItemCaseSensitive(doc, "Records"));
            cJSON_Delete(doc);
            if (err == TRG_EFULL) {
                m->blocked = true;
                break;
            }
        } else if (kind == TRG_MINIO_LINE_BAD) {
            trg_warn("minio", m->name, "skipped a line of the listen stream that is not a notification: %.*s",
                     (int)(line_len > 120 ? 120 : line_len), line);
        } else if (kind < 0) {
            m->blocked = m->oom = true; /* out of memory: try again later */
            break;
        }
        m->line_done = 0;
        off += used;
    }
    /* A refused record is retried when the engine says so (minio_pause(false): a route drained, or Redis is
     * back); only running out of memory needs a timer. */
    if (m->blocked && m->oom && m->running && !ev_is_active(&m->resume)) {
        ev_timer_set(&m->resume, 1., 0.);
        ev_timer_start(m->loop, &m->resume);
    }
    if (off > 0) {
        memmove(m->buf.data, m->buf.data + off, m->buf.len - off);
        m->buf.len -= off;
        m->buf.data[m->buf.len] = '\0';
    }
}

static size_t listen_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct minio *m = arg;
    size_t n = size * nmemb;

    if (m->status == 0)
        curl_easy_getinfo(m->easy, CURLINFO_RESPONSE_CODE, &m->status);
    if (m->status != 200) {
        size_t room = LISTEN_ERRBODY_MAX - m->errbody.len;
        if (m->errbody.len < LISTEN_ERRBODY_MAX && trg_buf_add(&m->errbody, data, n < room ? n : room) < 0)
            return 0;
        return n;
    }
    if (m->blocked) {
        m->curl_paused = true;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps the data until listen_resume_cb() */
    }
    if (!m->connected) {
        m->connected = true;
        m->attempt = 0;
        trg_info("minio", m->name, "listening for bucket notifications at %s", m->url);
    }
    if (m->buf.len + n > LISTEN_MAX_LINE) {
        trg_warn("minio", m->name, "a listen-stream line exceeds %u bytes; reconnecting", LISTEN_MAX_LINE);
        return 0; /* aborts the transfer */
    }
    if (trg_buf_add(&m->buf, data, n) < 0)
        return 0;
    listen_drain(m);
    return n;
}

static void listen_connect(struct minio *m);

static void listen_schedule(struct minio *m)
{
    int64_t delay = trg_source_reconnect_delay_ms(m->src, m->attempt, LISTEN_BACKOFF_MIN_MS, m->opts->reconnect_max_ms);
    if (m->attempt < 30)
        m->attempt++;
    ev_timer_stop(m->loop, &m->retry);
    ev_timer_set(&m->retry, (double)delay / 1000., 0.);
    ev_timer_start(m->loop, &m->retry);
}

static void listen_done_cb(void *arg, CURL *easy, CURLcode code)
{
    struct minio *m = arg;
    char *nl;

    (void)easy;
    m->in_transfer = false;
    m->curl_paused = false;
    if (m->status != 200 && m->status != 0) {
        const char *hint = m->status == 403 || m->status == 401
                               ? "check access_key, secret_key and region"
                               : m->status == 404 ? "check the bucket and endpoint"
                                                  : "check the endpoint is MinIO";
        trg_warn("minio", m->name, "ListenBucketNotification answered %ld (%s): %.*s", m->status, hint,
                 (int)m->errbody.len, m->errbody.data ? m->errbody.data : "");
    } else if (code != CURLE_OK) {
        trg_warn("minio", m->name,
                 "listen connection to %s failed or dropped: %s; reconnecting (events meanwhile are lost: "
                 "use webhook mode with a queue_dir for at-least-once)",
                 m->opts->endpoint, curl_easy_strerror(code));
    } else {
        trg_warn("minio", m->name, "MinIO closed the listen connection; reconnecting (events meanwhile are lost)");
    }
    m->connected = false;
    /* a partial last line will never be completed */
    nl = m->buf.len ? memrchr(m->buf.data, '\n', m->buf.len) : NULL;
    m->buf.len = nl ? (size_t)(nl - m->buf.data) + 1 : 0;
    if (m->buf.data)
        m->buf.data[m->buf.len] = '\0';
    if (m->running)
        listen_schedule(m);
}

static void listen_connect(struct minio *m)
{
    CURL *e = m->easy;
    long low_time = m->opts->ping_s > 0 ? (long)(3 * m->opts->ping_s) : 30;
    int ok = 0;

    if (low_time < 30)
        low_time = 30;
    curl_easy_reset(e);
    m->status = 0;
    m->connected = false;
    trg_buf_reset(&m->errbody);
    ok |= curl_easy_setopt(e, CURLOPT_URL, m->url);
    ok |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    ok |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    ok |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, listen_write_cb);
    ok |= curl_easy_setopt(e, CURLOPT_WRITEDATA, m);
    ok |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)m->opts->connect_timeout_ms);
    ok |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    ok |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, low_time);
    ok |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, m->sigv4);
    ok |= curl_easy_setopt(e, CURLOPT_USERPWD, m->userpwd);
    ok |= curl_easy_setopt(e, CURLOPT_USERAGENT, "trigd (minio listen)");
    if (ok != CURLE_OK || trg_curl_loop_add(m->cl, e, listen_done_cb, m) < 0) {
        trg_error("minio", m->name, "cannot start the listen request (libcurl setup failed); retrying");
        listen_schedule(m);
        return;
    }
    m->in_transfer = true;
}

static void listen_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct minio *m = t->data;

    (void)loop;
    (void)revents;
    if (m->running && !m->in_transfer)
        listen_connect(m);
}

/* A route drained: handle the lines that waited, then let curl deliver again. */
static void listen_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct minio *m = t->data;

    (void)loop;
    (void)revents;
    if (!m->blocked)
        return;
    m->blocked = m->oom = false;
    listen_drain(m);
    if (m->blocked || !m->curl_paused)
        return;
    m->curl_paused = false;
    if (m->in_transfer)
        curl_easy_pause(m->easy, CURLPAUSE_CONT);
}

static void minio_pause(void *inst, bool paused)
{
    struct minio *m = inst;

    if (!paused && m->blocked && m->running) {
        ev_timer_stop(m->loop, &m->resume);
        ev_timer_set(&m->resume, 0., 0.);
        ev_timer_start(m->loop, &m->resume);
    }
}

static int listen_start(struct minio *m)
{
    const struct minio_opts *o = m->opts;
    int err;

    m->url = listen_url(o);
    m->userpwd = trg_asprintf("%s:%s", o->access_key, o->secret_key);
    m->sigv4 = trg_asprintf("aws:amz:%s:s3", o->region);
    if (!m->url || !m->userpwd || !m->sigv4)
        return TRG_ENOMEM;
    err = trg_curl_loop_acquire(m->loop, &m->cl);
    if (err < 0)
        return err;
    m->easy = curl_easy_init();
    if (!m->easy)
        return TRG_ENOMEM;
    m->running = true;
    trg_warn("minio", m->name,
             "listen mode is best effort: MinIO drops events while trigd is disconnected or slow, and there is "
             "no resume; use mode \"webhook\" with a queue_dir for at-least-once delivery");
    listen_connect(m);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int minio_start(void *inst)
{
    struct minio *m = inst;
    int err;

    if (m->opts->mode == MINIO_LISTEN) {
        err = listen_start(m);
        if (err < 0)
            trg_error("minio", m->name, "cannot start listening (%s)", trg_strerror(err));
        return err;
    }
    m->http = trg_source_http(m->src);
    if (!m->http) {
        trg_error("minio", m->name, "trigd's HTTP server is not running; the MinIO webhook cannot listen");
        return TRG_ESTATE;
    }
    err = trg_http_route(m->http, NULL, m->opts->path, (size_t)m->opts->max_body_bytes, webhook_request, m);
    if (err < 0) {
        trg_error("minio", m->name, "cannot listen on path %s (%s): is another source using it?", m->opts->path,
                  trg_strerror(err));
        return err;
    }
    m->routed = true;
    if (!m->opts->auth_token || !*m->opts->auth_token)
        trg_warn("minio", m->name, "no auth_token: anyone who can reach %s can post events; set auth_token_env",
                 m->opts->path);
    trg_info("minio", m->name, "accepting MinIO notify_webhook events on POST %s", m->opts->path);
    return 0;
}

static void minio_stop(void *inst)
{
    struct minio *m = inst;

    if (m->routed) {
        trg_http_unroute(m->http, m);
        m->routed = false;
    }
    m->running = false;
    ev_timer_stop(m->loop, &m->retry);
    ev_timer_stop(m->loop, &m->resume);
    if (m->in_transfer) {
        trg_curl_loop_remove(m->cl, m->easy);
        m->in_transfer = false;
    }
    m->connected = false;
}

static void minio_destroy(void *inst)
{
    struct minio *m = inst;

    if (!m)
        return;
    minio_stop(m);
    while (m->reqs) {
        struct minio_req *r = m->reqs;
        if (r->req)
            trg_http_respond_retry(r->req, 503, "trigd is stopping; retry later");
        r->req = NULL;
        mreq_free(r);
    }
    if (m->easy)
        curl_easy_cleanup(m->easy);
    trg_curl_loop_release(m->cl);
    trg_buf_free(&m->buf);
    trg_buf_free(&m->errbody);
    trg_free(m->url);
    if (m->userpwd) {
        memset(m->userpwd, 0, strlen(m->userpwd));
        trg_free(m->userpwd);
    }
    trg_free(m->sigv4);
    trg_free(m);
}

static bool minio_ready(void *inst)
{
    struct minio *m = inst;
    return m->opts->mode == MINIO_LISTEN ? m->connected : m->routed;
}

static int minio_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    (void)inst;
    return trg_minio_envelope(evs, n, out);
}

const struct trg_source_ops trg_source_minio = {
    .name = "minio",
    .route_defaults = "{\"batch_size\":1,\"max_retry_attempts\":2,\"max_record_age_s\":21600}",
    .options = minio_options,
    .n_options = TRG_ARRAY_SIZE(minio_options),
    .opts_size = sizeof(struct minio_opts),
    .check = minio_check,
    .create = minio_create,
    .start = minio_start,
    .stop = minio_stop,
    .destroy = minio_destroy,
    .done = minio_done,
    .pause = minio_pause,
    .accepted = minio_accepted,
    .raw = NULL,
    .envelope = minio_envelope,
    .filter_view = NULL,
    .ready = minio_ready,
    /* webhook mode is a push source: with `redis`, 200 only once stored in the durable intake */
    .durable_intake = true,
};
