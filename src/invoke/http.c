/* http.c — the "http" function type: POST the event to a URL (see invoke.h).
 *
 * 2xx = success (the body goes back to the engine, which parses batchItemFailures); 429 and 503 =
 * throttled, honouring Retry-After; 413 = rejected; any other status = error "Unhandled"; a
 * transport error = error named after curl's error; the deadline = error "Timeout".
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util.h"
#include "curl_loop.h"
#include "invoke.h"

#define HTTP_MAX_RESPONSE_DEFAULT 6291456

struct http_opts {
    char *url;
    struct trg_kvlist headers;
    int64_t max_response_bytes;
};

static const struct trg_opt http_options[] = {
    {"url", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct http_opts, url),
     "URL the event is POSTed to (http:// or https://).", NULL, TRG_OPT_REQUIRED},
    {"headers", TRG_OPT_KVLIST, NULL, 0, 0, NULL, offsetof(struct http_opts, headers),
     "Extra request headers, as an object from header name to value.", NULL, 0},
    {"max_response_bytes", TRG_OPT_INT, "6291456", 1, 1073741824, "bytes",
     offsetof(struct http_opts, max_response_bytes),
     "Largest response body accepted; a longer one fails the invocation (error ResponseSizeTooLarge).",
     NULL, 0},
};

struct http_inst;

struct http_call {
    struct http_inst *inst;
    struct trg_curl_post *post;
    trg_invoke_cb cb;
    void *arg;
    char request_id[40];
    struct http_call *prev, *next;
};

struct http_inst {
    char *name;
    const struct http_opts *opts;
    struct trg_curl_loop *cl;
    struct http_call *calls;
};

/* A header name is an HTTP token; a value has no line breaks. */
static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    }
    return true;
}

static bool header_value_ok(const char *s)
{
    return !strpbrk(s, "\r\n");
}

static void http_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct http_opts *o = opts;
    char at[512];

    if (o->url && strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0) {
        snprintf(at, sizeof(at), "%s.url", path ? path : "$");
        trg_errs_add(errs, at, "\"%s\" is not an http:// or https:// URL", o->url);
    }
    for (size_t i = 0; i < o->headers.n; i++) {
        snprintf(at, sizeof(at), "%s.headers.%s", path ? path : "$", o->headers.k[i]);
        if (!header_name_ok(o->headers.k[i]))
            trg_errs_add(errs, at, "not a valid header name");
        else if (!header_value_ok(o->headers.v[i]))
            trg_errs_add(errs, at, "a header value cannot contain line breaks");
    }
}

static int http_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    struct http_inst *inst = trg_calloc(1, sizeof(*inst));
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!inst)
        return TRG_ENOMEM;
    inst->opts = opts;
    inst->name = trg_strdup(name);
    if (!inst->name)
        goto fail;
    rc = trg_curl_loop_acquire(loop, &inst->cl);
    if (rc != 0)
        goto fail;
    *out = inst;
    return 0;
fail:
    trg_free(inst->name);
    trg_free(inst);
    return rc;
}

static bool kv_has(const struct trg_kvlist *kv, const char *name)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcasecmp(kv->k[i], name) == 0)
            return true;
    }
    return false;
}

/* Append "Name: value" to the list; false when out of memory (the list is then freed). */
static bool headers_add(struct curl_slist **list, const char *name, const char *value)
{
    char *line = trg_asprintf("%s: %s", name, value);
    struct curl_slist *n = line ? curl_slist_append(*list, line) : NULL;

    trg_free(line);
    if (!n) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    *list = n;
    return true;
}

static struct curl_slist *http_headers(const struct http_opts *o, const char *request_id)
{
    struct curl_slist *h = NULL;

    if (!kv_has(&o->headers, "Content-Type") && !headers_add(&h, "Content-Type", "application/json"))
        return NULL;
    if (!headers_add(&h, "X-Trigd-Request-Id", request_id))
        return NULL;
    /* no "Expect: 100-continue" round trip for large events */
    struct curl_slist *n = curl_slist_append(h, "Expect:");
    if (!n) {
        curl_slist_free_all(h);
        return NULL;
    }
    h = n;
    for (size_t i = 0; i < o->headers.n; i++) {
        if (!headers_add(&h, o->headers.k[i], o->headers.v[i]))
            return NULL;
    }
    return h;
}

static void call_unlink(struct http_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->inst->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void result_error(struct trg_invoke_result *res, const char *function_error)
{
    res->outcome = TRG_OUT_ERROR;
    res->function_error = trg_strdup(function_error);
}

/* Classify a finished POST; takes the body and content type from resp. */
static void http_classify(struct http_call *c, struct trg_curl_resp *resp, struct trg_invoke_result *res)
{
    const char *name = c->inst->name;

    res->status = resp->status ? (int)resp->status : -1;
    res->duration_ms = resp->duration_ms;
    res->retry_after_ms = -1;
    res->body_len = resp->body.len;
    res->body = trg_buf_steal(&resp->body);
    res->content_type = resp->content_type;
    resp->content_type = NULL;

    if (resp->code == CURLE_OPERATION_TIMEDOUT) {
        trg_warn("http", name, "%s timed out after %.0f ms; raise the function's timeout_ms or make it faster",
                 c->request_id, resp->duration_ms);
        result_error(res, "Timeout");
    } else if (resp->body_too_large) {
        trg_warn("http", name, "%s response larger than max_response_bytes (%lld); failing the invocation",
                 c->request_id, (long long)c->inst->opts->max_response_bytes);
        result_error(res, "ResponseSizeTooLarge");
    } else if (resp->nomem) {
        trg_error("http", name, "%s out of memory while receiving the response", c->request_id);
        result_error(res, "OutOfMemory");
    } else if (resp->code != CURLE_OK) {
        trg_warn("http", name, "%s POST %s failed: %s; check that the function's server is up",
                 c->request_id, c->inst->opts->url, resp->error);
        result_error(res, curl_easy_strerror(resp->code));
    } else if (resp->status >= 200 && resp->status < 300) {
        res->outcome = TRG_OUT_SUCCESS;
    } else if (resp->status == 429 || resp->status == 503) {
        res->outcome = TRG_OUT_THROTTLED;
        res->retry_after_ms = resp->retry_after_ms;
        trg_info("http", name, "%s throttled (HTTP %ld, retry after %lld ms)", c->request_id, resp->status,
                 (long long)resp->retry_after_ms);
    } else if (resp->status == 413) {
        res->outcome = TRG_OUT_REJECTED;
        res->function_error = trg_strdup("RequestTooLarge");
        trg_warn("http", name, "%s rejected: payload too large (HTTP 413)", c->request_id);
    } else {
        result_error(res, "Unhandled");
        trg_debug("http", name, "%s function error: HTTP %ld", c->request_id, resp->status);
    }
}

static void http_call_done(void *arg, struct trg_curl_resp *resp)
{
    struct http_call *c = arg;
    struct trg_invoke_result res = {0};

    /* Unlinked first: the callback may destroy the instance, which then no longer sees this call. */
    call_unlink(c);
    http_classify(c, resp, &res);
    trg_debug("http", c->inst->name, "%s %s status %d in %.2f ms", c->request_id,
              trg_outcome_name(res.outcome), res.status, res.duration_ms);
    c->cb(c->arg, &res);
    trg_invoke_result_clear(&res);
    trg_free(c);
}

static int http_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct http_inst *inst = instp;
    const struct http_opts *o = inst->opts;
    struct http_call *c = trg_calloc(1, sizeof(*c));

    if (!c)
        return TRG_ENOMEM;
    c->inst = inst;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->request_id, sizeof(c->request_id), "%s", req->request_id ? req->request_id : "");

    struct trg_curl_post_req pr = {
        .url = o->url,
        .headers = http_headers(o, c->request_id),
        .payload = req->payload,
        .len = req->len,
        .timeout_ms = req->timeout_ms,
        .max_body = (size_t)o->max_response_bytes,
    };
    if (!pr.headers) {
        trg_free(c);
        return TRG_ENOMEM;
    }
    int rc = trg_curl_post_start(inst->cl, &pr, http_call_done, c, &c->post);
    if (rc != 0) {
        trg_free(c);
        return rc;
    }
    c->next = inst->calls;
    if (inst->calls)
        inst->calls->prev = c;
    inst->calls = c;
    return 0;
}

static void http_destroy(void *instp)
{
    struct http_inst *inst = instp;

    if (!inst)
        return;
    while (inst->calls) {
        struct http_call *c = inst->calls;
        call_unlink(c);
        trg_curl_post_cancel(c->post);
        trg_free(c);
    }
    trg_curl_loop_release(inst->cl);
    trg_free(inst->name);
    trg_free(inst);
}

const struct trg_invoker_ops trg_invoke_http = {
    .name = "http",
    .options = http_options,
    .n_options = TRG_ARRAY_SIZE(http_options),
    .opts_size = sizeof(struct http_opts),
    .check = http_check,
    .create = http_create,
    .invoke = http_invoke,
    .destroy = http_destroy,
};
