/* webhook.c — the "webhook" source: POST requests on a path of trigd's HTTP server become
 * API-Gateway-v2 request events.
 *
 * async mode answers 202 once the engine took the event; sync mode keeps the request suspended
 * until the event's done callback and answers with the function's response (or 504 after
 * sync_timeout_ms, while the event carries on).
 */
#include <cjson/cJSON.h>
#include <ev.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "../connector.h"
#include "webhook_event.h"

enum webhook_mode {
    WEBHOOK_ASYNC,
    WEBHOOK_SYNC
};

struct webhook_opts {
    char *path;
    char *auth_token;
    int64_t max_body_bytes;
    int mode;
    int64_t sync_timeout_ms;
    char *order_key_header;
    struct trg_strlist redact_headers;
};

static const char *const webhook_modes[] = {"async", "sync", NULL};

static const struct trg_opt webhook_options[] = {
    {"path", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct webhook_opts, path),
     "HTTP path the webhook listens on, on trigd's HTTP server; must start with '/'.", NULL,
     TRG_OPT_REQUIRED},
    {"auth_token", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct webhook_opts, auth_token),
     "When set, requests must carry `Authorization: Bearer <token>` (401 otherwise).", NULL, 0},
    {"max_body_bytes", TRG_OPT_INT, "1048576", 1, 6291456, "bytes",
     offsetof(struct webhook_opts, max_body_bytes),
     "Largest request body accepted; larger requests are answered 413.", NULL, 0},
    {"mode", TRG_OPT_ENUM, "\"async\"", 0, 0, NULL, offsetof(struct webhook_opts, mode),
     "async: answer 202 once the event is queued; sync: answer with the function's response.", webhook_modes,
     0},
    {"order_key_header", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct webhook_opts, order_key_header),
     "Name of a request header whose value orders events: events with the same value are processed one "
     "batch at a time, in arrival order (like an SQS FIFO message group). Without it, no order.",
     NULL, 0},
    {"redact_headers", TRG_OPT_STRLIST, "[\"Authorization\",\"Proxy-Authorization\",\"Cookie\",\"X-Api-Key\"]",
     0, 0, NULL, offsetof(struct webhook_opts, redact_headers),
     "Request headers left out of the event (case-insensitive), so credentials never reach a function or "
     "the DLQ; Cookie on the list also drops `cookies`. Authorization is always left out when auth_token "
     "is set.",
     NULL, 0},
    {"sync_timeout_ms", TRG_OPT_INT, "30000", 1, 900000, "ms", offsetof(struct webhook_opts, sync_timeout_ms),
     "In sync mode, answer 504 when the function has not finished by then (the event carries on).", NULL, 0},
};

struct webhook;

/* A sync-mode request waiting for its event's outcome. */
struct webhook_wait {
    struct webhook *wh;
    struct webhook_wait *prev, *next;
    struct trg_http_req *req; /* NULL once answered */
    ev_timer timeout;
    bool in_emit; /* done may come from inside trg_source_emit() */
    bool done;
    bool async;   /* async mode: answered 202 once the event is accepted, then forgotten */
};

/* Scratch buffers bigger than this are freed after use rather than kept. */
#define SCRATCH_KEEP 65536

struct webhook {
    struct trg_source *src;
    const struct webhook_opts *opts;
    const char *name;
    struct trg_strlist redact; /* redact_headers, plus Authorization when auth_token is set */
    struct trg_http *http;
    bool routed;
    struct webhook_wait *waits;
    struct trg_buf scratch;     /* the event's JSON is built here, then packed with the event (one allocation) */
};

static void webhook_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct webhook_opts *o = opts;
    char *p;

    if (!o->path || o->path[0] == '/')
        return;
    p = trg_asprintf("%s.path", path ? path : "$");
    trg_errs_add(errs, p ? p : path, "must start with '/' (got \"%s\")", o->path);
    trg_free(p);
}

static int webhook_create(struct trg_source *src, const void *opts, void **out)
{
    struct webhook *wh = trg_calloc(1, sizeof *wh);

    *out = NULL;
    if (!wh)
        return TRG_ENOMEM;
    wh->src = src;
    wh->opts = opts;
    wh->name = trg_source_name(src);
    const struct trg_strlist *rl = &wh->opts->redact_headers;
    wh->redact.v = trg_calloc(rl->n + 1, sizeof *wh->redact.v);
    if (!wh->redact.v)
        goto fail;
    for (size_t i = 0; i < rl->n; i++)
        if (!(wh->redact.v[wh->redact.n++] = trg_strdup(rl->v[i])))
            goto fail;
    if (wh->opts->auth_token && !(wh->redact.v[wh->redact.n++] = trg_strdup("Authorization")))
        goto fail;
    *out = wh;
    return 0;
fail:
    trg_strlist_free(&wh->redact);
    trg_free(wh);
    return TRG_ENOMEM;
}

/* ---- sync waits ------------------------------------------------------------------------------ */

static void wait_unlink(struct webhook_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (w->wh->waits == w)
        w->wh->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void wait_free(struct webhook_wait *w)
{
    if (!w)
        return;
    ev_timer_stop(trg_source_loop(w->wh->src), &w->timeout);
    wait_unlink(w);
    trg_free(w);
}

static void wait_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct webhook_wait *w = t->data;

    if (!w->req)
        return;
    trg_warn("webhook", w->wh->name,
             "function did not answer within %lld ms; answered 504 (the event carries "
             "on; raise sync_timeout_ms if the function is slow)",
             (long long)w->wh->opts->sync_timeout_ms);
    trg_http_respond_error(w->req, 504, "the function did not finish in time; the event is still processed");
    w->req = NULL;
    /* w itself lives until the event's done callback */
}

/* ---- answering with the function's response --------------------------------------------------- */

/* {"statusCode":..., "headers":{...}, "cookies":[...], "body":"...", "isBase64Encoded":...} */
static bool respond_structured(struct trg_http_req *req, const cJSON *obj)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "statusCode");
    const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(obj, "headers");
    const cJSON *cookies = cJSON_GetObjectItemCaseSensitive(obj, "cookies");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(obj, "body");
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(obj, "isBase64Encoded");
    const char *content_type = "application/json";
    const char **list = NULL;
    struct trg_buf decoded = {0};
    const char *data = "";
    size_t len = 0, n = 0, cap;
    int status;
    bool ok = false;

    if (!cJSON_IsNumber(code) || code->valuedouble < 100 || code->valuedouble > 599)
        return false;
    status = (int)code->valuedouble;
    cap = 2 * ((size_t)cJSON_GetArraySize(hdrs) + (size_t)cJSON_GetArraySize(cookies)) + 1;
    list = trg_calloc(cap, sizeof *list);
    if (!list)
        goto done;
    for (const cJSON *h = cJSON_IsObject(hdrs) ? hdrs->child : NULL; h; h = h->next) {
        if (!cJSON_IsString(h) || !h->string)
            continue;
        if (!strcasecmp(h->string, "Content-Type")) {
            content_type = h->valuestring;
            continue;
        }
        list[n++] = h->string;
        list[n++] = h->valuestring;
    }
    for (const cJSON *c = cJSON_IsArray(cookies) ? cookies->child : NULL; c; c = c->next) {
        if (!cJSON_IsString(c))
            continue;
        list[n++] = "Set-Cookie";
        list[n++] = c->valuestring;
    }
    list[n] = NULL;
    if (cJSON_IsString(body)) {
        data = body->valuestring;
        len = strlen(data);
        if (cJSON_IsTrue(b64)) {
            if (trg_base64_decode(data, len, &decoded) < 0)
                goto done;
            data = decoded.data;
            len = decoded.len;
        }
    }
    trg_http_respond(req, status, content_type, data, len, list);
    ok = true;
done:
    trg_buf_free(&decoded);
    trg_free(list);
    return ok;
}

static void respond_result(struct webhook *wh, struct trg_http_req *req, int status,
                           const struct trg_invoke_result *res)
{
    const char *retry[] = {"Retry-After", "1", NULL};
    cJSON *obj;
    char msg[160];

    if (status == TRG_DONE_ABANDONED) {
        trg_http_respond_json(req, 503, "{\"error\":\"trigd is stopping; retry later\"}", retry);
        return;
    }
    if (!res) {
        trg_http_respond_error(req, 502, "no function response: the event was filtered out or dead-lettered");
        return;
    }
    if (res->outcome != TRG_OUT_SUCCESS && res->outcome != TRG_OUT_PARTIAL) {
        snprintf(msg, sizeof msg, "function failed (%s%s%s, status %d)", trg_outcome_name(res->outcome),
                 res->function_error ? ": " : "", res->function_error ? res->function_error : "",
                 res->status);
        trg_http_respond_error(req, 502, msg);
        return;
    }
    if (res->body && res->body_len > 0) {
        obj = cJSON_ParseWithLength(res->body, res->body_len);
        if (cJSON_IsObject(obj) && cJSON_GetObjectItemCaseSensitive(obj, "statusCode")) {
            bool ok = respond_structured(req, obj);
            cJSON_Delete(obj);
            if (!ok)
                trg_http_respond_error(req, 502, "the function's response has a bad statusCode or body");
            return;
        }
        cJSON_Delete(obj);
    }
    trg_http_respond(req, 200, res->content_type ? res->content_type : "application/json",
                     res->body ? res->body : "", res->body ? res->body_len : 0, NULL);
    (void)wh;
}

/* The engine has the event safely (in memory, or in Redis with durable intake): async mode answers
 * 202 now; a failure to store it is a 503 in both modes (the sender retries). */
static void webhook_accepted(void *inst, struct trg_event *ev, int err)
{
    struct webhook *wh = inst;
    struct webhook_wait *w = ev->token;
    if (!w)
        return;
    if (err < 0) {
        ev->token = NULL;
        if (w->req)
            trg_http_respond_retry(w->req, 503, "the event could not be stored; retry later");
        w->req = NULL;
        wait_free(w);
        trg_warn("webhook", wh->name, "an event could not be stored (%s): answered 503", trg_strerror(err));
        return;
    }
    if (!w->async)
        return;
    ev->token = NULL;
    if (w->req) {
        char answer[80];
        snprintf(answer, sizeof answer, "{\"requestId\":\"%s\"}", ev->item_id ? ev->item_id : "");
        trg_http_respond(w->req, 202, "application/json", answer, strlen(answer), NULL);
        w->req = NULL;
    }
    wait_free(w);
}

/* The body alone, for routes with "envelope": "raw". */
static int webhook_raw(void *inst, const struct trg_event *ev, struct trg_buf *out)
{
    (void)inst;
    cJSON *doc = cJSON_ParseWithLength(ev->json, ev->len);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    int rc = 0;
    if (cJSON_IsString(body)) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "isBase64Encoded")))
            rc = trg_base64_decode(body->valuestring, strlen(body->valuestring), out);
        else
            rc = trg_buf_adds(out, body->valuestring);
    }
    cJSON_Delete(doc);
    return rc < 0 ? rc : 0;
}

static void webhook_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    struct webhook *wh = inst;
    struct webhook_wait *w = ev->token;

    if (!w)
        return; /* async mode: the sender has its 202 already */
    ev->token = NULL;
    if (w->req) {
        respond_result(wh, w->req, status, res);
        w->req = NULL;
    }
    w->done = true;
    if (!w->in_emit)
        wait_free(w);
}

/* ---- requests -------------------------------------------------------------------------------- */

static void webhook_request(void *arg, struct trg_http_req *req)
{
    struct webhook *wh = arg;
    struct webhook_wait *w = NULL;
    struct trg_buf *json = &wh->scratch;
    struct trg_event *ev;
    char id[40];
    size_t len;
    int64_t now = trg_wall_ms();
    int err;

    if (!trg_source_ingress(wh->src, req, wh->opts->auth_token, false, NULL))
        return;
    if (!trg_source_can_accept(wh->src)) {
        trg_source_ingress_refuse(wh->src, req);
        return;
    }
    trg_source_request_id(wh->src, id);
    trg_buf_reset(json);
    if (trg_webhook_event_build(req, id, now, &wh->redact, json) < 0)
        goto oom;
    len = json->len;
    const char *key = wh->opts->order_key_header ? trg_http_req_header(req, wh->opts->order_key_header) : NULL;
    ev = trg_event_new_packed(json->data, len, id, key && *key ? key : NULL, 0);
    if (json->cap > SCRATCH_KEEP) /* a large body: do not keep its buffer for every later request */
        trg_buf_free(json);
    if (!ev)
        goto oom;
    ev->created_ms = now;
    {
        w = trg_calloc(1, sizeof *w);
        if (!w) {
            trg_event_free(ev);
            goto oom;
        }
        w->wh = wh;
        w->req = req;
        w->next = wh->waits;
        if (w->next)
            w->next->prev = w;
        wh->waits = w;
        ev_timer_init(&w->timeout, wait_timeout_cb, (double)wh->opts->sync_timeout_ms / 1000., 0.);
        w->timeout.data = w;
        w->async = wh->opts->mode != WEBHOOK_SYNC;
        ev->no_intake = !w->async; /* a synchronous request waits for its function: not queued in Redis */
        ev->token = w;
        w->in_emit = true;
    }
    err = trg_source_emit(wh->src, ev);
    if (err < 0) {
        trg_event_free(ev);
        wait_free(w);
        trg_debug("webhook", wh->name, "event refused by the engine (%s); answered 503", trg_strerror(err));
        trg_source_ingress_refuse(wh->src, req);
        return;
    }
    w->in_emit = false;
    if (w->async)
        return; /* answered in webhook_accepted() */
    if (w->done) {
        wait_free(w); /* the outcome came at once (filtered out, ...) and was answered */
        return;
    }
    ev_timer_start(trg_source_loop(wh->src), &w->timeout);
    return;
oom:
    trg_buf_free(json);
    trg_error("webhook", wh->name, "out of memory building an event; answered 503");
    trg_http_respond_retry(req, 503, "out of memory; retry later");
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int webhook_start(void *inst)
{
    struct webhook *wh = inst;
    int err;

    wh->http = trg_source_http(wh->src);
    if (!wh->http) {
        trg_error("webhook", wh->name, "trigd's HTTP server is not running; the webhook cannot listen");
        return TRG_ESTATE;
    }
    err =
        trg_http_route(wh->http, NULL, wh->opts->path, (size_t)wh->opts->max_body_bytes, webhook_request, wh);
    if (err < 0) {
        trg_error("webhook", wh->name, "cannot listen on path %s (%s): is another source using it?",
                  wh->opts->path, trg_strerror(err));
        return err;
    }
    wh->routed = true;
    trg_info("webhook", wh->name, "accepting POST %s (%s mode)", wh->opts->path,
             webhook_modes[wh->opts->mode]);
    return 0;
}

static void webhook_stop(void *inst)
{
    struct webhook *wh = inst;

    /* At shutdown keep the path: new requests get 503 + Retry-After (the engine refuses them), not a
     * 404 that tells the sender the hook is gone. On a reload the successor needs the path now. */
    if (wh->routed && !trg_source_shutting_down(wh->src)) {
        trg_http_unroute(wh->http, wh);
        wh->routed = false;
    }
}

static void webhook_destroy(void *inst)
{
    struct webhook *wh = inst;

    if (!wh)
        return;
    if (wh->routed) {
        trg_http_unroute(wh->http, wh);
        wh->routed = false;
    }
    /* The engine has called done for every event it took; anything left was never answered. */
    while (wh->waits) {
        struct webhook_wait *w = wh->waits;
        if (w->req)
            trg_http_respond_retry(w->req, 503, "trigd is stopping; retry later");
        wait_free(w);
    }
    trg_buf_free(&wh->scratch);
    trg_strlist_free(&wh->redact);
    trg_free(wh);
}

static bool webhook_ready(void *inst) { return ((struct webhook *)inst)->routed; }

/* One event as is; several as {"eventSource":"trigd:webhook","records":[...]}. */
static int webhook_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    (void)inst;
    if (n == 1)
        return trg_buf_add(out, evs[0]->json, evs[0]->len);
    return trg_event_join(out, "{\"eventSource\":\"trigd:webhook\",\"records\":[", evs, n, "]}");
}

/* Filters see the request event with its body parsed when the body is JSON (docs/FILTERS.md). */
static cJSON *webhook_filter_view(void *inst, const struct trg_event *ev)
{
    (void)inst;
    return trg_json_parse_field(ev->json, ev->len, "body");
}

const struct trg_source_ops trg_source_webhook = {
    .name = "webhook",
    .route_defaults = "{\"batch_size\":1,\"max_retry_attempts\":2,\"max_record_age_s\":21600}",
    .options = webhook_options,
    .n_options = TRG_ARRAY_SIZE(webhook_options),
    .opts_size = sizeof(struct webhook_opts),
    .check = webhook_check,
    .create = webhook_create,
    .start = webhook_start,
    .stop = webhook_stop,
    .destroy = webhook_destroy,
    .done = webhook_done,
    .pause = NULL,
    .envelope = webhook_envelope,
    .filter_view = webhook_filter_view,
    .accepted = webhook_accepted,
    .raw = webhook_raw,
    .ready = webhook_ready,
    .durable_intake = true,
};
