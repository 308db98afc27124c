/* http.c — the "http" function type: POST the event to a URL (see invoke.h).
 *
 * 2xx = success (the body goes back to the engine, which parses batchItemFailures); 429 and 503 =
 * throttled, honouring Retry-After; 413 = rejected; any other status = error "Unhandled"; a
 * transport error = error named after curl's error; the deadline = error "Timeout" (those two, and
 * the calls in flight, are post.c's: see post.h).
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util.h"
#include "invoke.h"
#include "post.h"

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

struct http_inst {
    char *name;
    struct trg_post post;
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
        char shown[512];
        trg_errs_add(errs, at, "\"%s\" is not an http:// or https:// URL", trg_url_redact(o->url, shown, sizeof shown));
    }
    for (size_t i = 0; i < o->headers.n; i++) {
        snprintf(at, sizeof(at), "%s.headers.%s", path ? path : "$", o->headers.k[i]);
        if (!header_name_ok(o->headers.k[i]))
            trg_errs_add(errs, at, "not a valid header name");
        else if (!header_value_ok(o->headers.v[i]))
            trg_errs_add(errs, at, "a header value cannot contain line breaks");
    }
}

static bool kv_has(const struct trg_kvlist *kv, const char *name)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcasecmp(kv->k[i], name) == 0)
            return true;
    }
    return false;
}

static struct curl_slist *http_headers(const void *ctx, const char *request_id)
{
    const struct http_opts *o = ctx;
    struct curl_slist *h = NULL;

    if (!kv_has(&o->headers, "Content-Type") && !trg_post_header(&h, "Content-Type", "application/json"))
        return NULL;
    if (!trg_post_header(&h, "X-Trigd-Request-Id", request_id))
        return NULL;
    /* no "Expect: 100-continue" round trip for large events */
    if (!trg_post_header_line(&h, "Expect:"))
        return NULL;
    for (size_t i = 0; i < o->headers.n; i++) {
        if (!trg_post_header(&h, o->headers.k[i], o->headers.v[i]))
            return NULL;
    }
    return h;
}

/* A response arrived: classify its status. */
static void http_classify(const char *name, const char *request_id, struct trg_curl_resp *resp,
                          struct trg_invoke_result *res)
{
    if (resp->status >= 200 && resp->status < 300) {
        res->outcome = TRG_OUT_SUCCESS;
    } else if (resp->status == 429 || resp->status == 503) {
        res->outcome = TRG_OUT_THROTTLED;
        res->retry_after_ms = resp->retry_after_ms;
        trg_info("http", name, "%s throttled (HTTP %ld, retry after %lld ms)", request_id, resp->status,
                 (long long)resp->retry_after_ms);
    } else if (resp->status == 413) {
        trg_post_reject_too_large("http", name, request_id, res);
    } else {
        trg_post_error(res, "Unhandled");
        trg_debug("http", name, "%s function error: HTTP %ld", request_id, resp->status);
    }
}

static const struct trg_post_kind http_kind = {
    .component = "http",
    .timeout_hint = "raise the function's timeout_ms or make it faster",
    .failed_hint = "check that the function's server is up",
    .log_max_body = true,
    .headers = http_headers,
    .classify = http_classify,
};

static int http_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    const struct http_opts *o = opts;
    struct http_inst *inst = trg_calloc(1, sizeof(*inst));
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!inst)
        return TRG_ENOMEM;
    inst->name = trg_strdup(name);
    if (!inst->name)
        goto fail;
    inst->post = (struct trg_post){
        .kind = &http_kind,
        .ctx = o,
        .name = inst->name,
        .url = o->url,
        .max_body = (size_t)o->max_response_bytes,
    };
    rc = trg_post_open(&inst->post, loop);
    if (rc != 0)
        goto fail;
    *out = inst;
    return 0;
fail:
    trg_free(inst->name);
    trg_free(inst);
    return rc;
}

static int http_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct http_inst *inst = instp;

    return trg_post_invoke(&inst->post, req, cb, arg);
}

static void http_destroy(void *instp)
{
    struct http_inst *inst = instp;

    if (!inst)
        return;
    trg_post_close(&inst->post);
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
