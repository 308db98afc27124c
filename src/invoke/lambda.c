/* lambda.c — the "lambda" function type: the AWS Lambda Invoke API (see invoke.h).
 *
 * POST {endpoint}/2015-03-31/functions/{function_name}/invocations[?Qualifier=q] with
 * X-Amz-Invocation-Type: RequestResponse, signed with SigV4 by libcurl when keys are configured.
 * Works against AWS, LocalStack and the Runtime Interface Emulator. A present X-Amz-Function-Error
 * header = error (function_error = its value); 429 = throttled; 413 = rejected; other non-2xx =
 * error; 2xx = success. Transport errors and the deadline are classified like the http type.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util.h"
#include "curl_loop.h"
#include "invoke.h"

struct lambda_opts {
    char *endpoint;
    char *function_name;
    char *qualifier;
    char *region;
    char *access_key;
    char *secret_key;
    char *session_token;
    int64_t max_response_bytes;
};

static const struct trg_opt lambda_options[] = {
    {"endpoint", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct lambda_opts, endpoint),
     "Base URL of the Lambda API (https://lambda.us-east-1.amazonaws.com, LocalStack, or the Runtime "
     "Interface Emulator such as http://127.0.0.1:9000).",
     NULL, TRG_OPT_REQUIRED},
    {"function_name", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct lambda_opts, function_name),
     "Name or ARN of the Lambda function (\"function\" for the Runtime Interface Emulator).", NULL,
     TRG_OPT_REQUIRED},
    {"qualifier", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct lambda_opts, qualifier),
     "Version or alias to invoke (the Qualifier query parameter); none = $LATEST.", NULL, 0},
    {"region", TRG_OPT_STRING, "\"us-east-1\"", 0, 0, NULL, offsetof(struct lambda_opts, region),
     "AWS region used in the SigV4 signature.", NULL, 0},
    {"access_key", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct lambda_opts, access_key),
     "AWS access key id; requests are signed (SigV4) only when access_key and secret_key are set.", NULL,
     0},
    {"secret_key", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct lambda_opts, secret_key),
     "AWS secret access key.", NULL, 0},
    {"session_token", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct lambda_opts, session_token),
     "AWS session token for temporary credentials, sent as X-Amz-Security-Token.", NULL, 0},
    {"max_response_bytes", TRG_OPT_INT, "6291456", 1, 1073741824, "bytes",
     offsetof(struct lambda_opts, max_response_bytes),
     "Largest response accepted; a longer one fails the invocation (error ResponseSizeTooLarge).", NULL, 0},
};

struct lambda_inst;

struct lambda_call {
    struct lambda_inst *inst;
    struct trg_curl_post *post;
    trg_invoke_cb cb;
    void *arg;
    char request_id[40];
    struct lambda_call *prev, *next;
};

struct lambda_inst {
    char *name;
    const struct lambda_opts *opts;
    struct trg_curl_loop *cl;
    char *url;     /* the invocations URL */
    char *userpwd; /* "key:secret" or NULL */
    char *sigv4;   /* "aws:amz:REGION:lambda" or NULL */
    struct lambda_call *calls;
};

static void lambda_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct lambda_opts *o = opts;
    char at[512];
    const char *p = path ? path : "$";

    if (o->endpoint && strncasecmp(o->endpoint, "http://", 7) != 0 &&
        strncasecmp(o->endpoint, "https://", 8) != 0) {
        snprintf(at, sizeof(at), "%s.endpoint", p);
        trg_errs_add(errs, at, "\"%s\" is not an http:// or https:// URL", o->endpoint);
    }
    if (o->function_name && !o->function_name[0]) {
        snprintf(at, sizeof(at), "%s.function_name", p);
        trg_errs_add(errs, at, "must not be empty");
    }
    if (o->region && (!o->region[0] || strpbrk(o->region, ":/ \r\n"))) {
        snprintf(at, sizeof(at), "%s.region", p);
        trg_errs_add(errs, at, "\"%s\" is not a region name such as us-east-1", o->region);
    }
    if (!o->access_key != !o->secret_key) {
        snprintf(at, sizeof(at), "%s.%s", p, o->access_key ? "secret_key" : "access_key");
        trg_errs_add(errs, at, "access_key and secret_key must be set together (as *_env or *_file)");
    }
    if (o->session_token && !o->access_key) {
        snprintf(at, sizeof(at), "%s.session_token", p);
        trg_errs_add(errs, at, "a session token needs access_key and secret_key");
    }
    if (o->session_token && strpbrk(o->session_token, "\r\n")) {
        snprintf(at, sizeof(at), "%s.session_token", p);
        trg_errs_add(errs, at, "the session token contains a line break");
    }
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static int url_escape(struct trg_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int rc;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            rc = trg_buf_addc(b, (char)ch);
        else
            rc = trg_buf_addf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static char *lambda_url(const struct lambda_opts *o)
{
    struct trg_buf b = {0};
    size_t n = strlen(o->endpoint);

    while (n > 0 && o->endpoint[n - 1] == '/')
        n--;
    if (trg_buf_add(&b, o->endpoint, n) || trg_buf_adds(&b, "/2015-03-31/functions/") ||
        url_escape(&b, o->function_name) || trg_buf_adds(&b, "/invocations"))
        goto fail;
    if (o->qualifier && o->qualifier[0] && (trg_buf_adds(&b, "?Qualifier=") || url_escape(&b, o->qualifier)))
        goto fail;
    return trg_buf_steal(&b);
fail:
    trg_buf_free(&b);
    return NULL;
}

static int lambda_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    const struct lambda_opts *o = opts;
    struct lambda_inst *inst = trg_calloc(1, sizeof(*inst));
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!inst)
        return TRG_ENOMEM;
    inst->opts = o;
    inst->name = trg_strdup(name);
    inst->url = lambda_url(o);
    if (!inst->name || !inst->url)
        goto fail;
    if (o->access_key && o->secret_key) {
        inst->userpwd = trg_asprintf("%s:%s", o->access_key, o->secret_key);
        inst->sigv4 = trg_asprintf("aws:amz:%s:lambda", o->region ? o->region : "us-east-1");
        if (!inst->userpwd || !inst->sigv4)
            goto fail;
    }
    rc = trg_curl_loop_acquire(loop, &inst->cl);
    if (rc != 0)
        goto fail;
    trg_debug("lambda", name, "invoking %s%s", inst->url, inst->sigv4 ? " (SigV4 signed)" : " (unsigned)");
    *out = inst;
    return 0;
fail:
    trg_free(inst->name);
    trg_free(inst->url);
    trg_free(inst->userpwd);
    trg_free(inst->sigv4);
    trg_free(inst);
    return rc;
}

static bool headers_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = line ? curl_slist_append(*list, line) : NULL;

    if (!n) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    *list = n;
    return true;
}

static struct curl_slist *lambda_headers(const struct lambda_inst *inst, const char *request_id)
{
    struct curl_slist *h = NULL;

    if (!headers_add(&h, "Content-Type: application/json") ||
        !headers_add(&h, "X-Amz-Invocation-Type: RequestResponse"))
        return NULL;
    /* for tracing on the server side; Lambda and the emulator ignore it */
    char *id = trg_asprintf("X-Trigd-Request-Id: %s", request_id);
    bool id_ok = headers_add(&h, id);
    trg_free(id);
    if (!id_ok)
        return NULL;
    if (inst->opts->session_token) {
        char *line = trg_asprintf("X-Amz-Security-Token: %s", inst->opts->session_token);
        bool ok = headers_add(&h, line);
        trg_free(line);
        if (!ok)
            return NULL;
    }
    return h;
}

static void call_unlink(struct lambda_call *c)
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

static void lambda_classify(struct lambda_call *c, struct trg_curl_resp *resp, struct trg_invoke_result *res)
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
        trg_warn("lambda", name, "%s timed out after %.0f ms; raise the function's timeout_ms", c->request_id,
                 resp->duration_ms);
        result_error(res, "Timeout");
    } else if (resp->body_too_large) {
        trg_warn("lambda", name, "%s response larger than max_response_bytes; failing the invocation",
                 c->request_id);
        result_error(res, "ResponseSizeTooLarge");
    } else if (resp->nomem) {
        trg_error("lambda", name, "%s out of memory while receiving the response", c->request_id);
        result_error(res, "OutOfMemory");
    } else if (resp->code != CURLE_OK) {
        trg_warn("lambda", name, "%s POST %s failed: %s; check the endpoint", c->request_id, c->inst->url,
                 resp->error);
        result_error(res, curl_easy_strerror(resp->code));
    } else if (resp->function_error) {
        res->outcome = TRG_OUT_ERROR;
        res->function_error = resp->function_error;
        resp->function_error = NULL;
        trg_debug("lambda", name, "%s function error %s", c->request_id, res->function_error);
    } else if (resp->status >= 200 && resp->status < 300) {
        res->outcome = TRG_OUT_SUCCESS;
    } else if (resp->status == 429) {
        res->outcome = TRG_OUT_THROTTLED;
        res->retry_after_ms = resp->retry_after_ms;
        trg_info("lambda", name, "%s throttled (HTTP 429)", c->request_id);
    } else if (resp->status == 413) {
        res->outcome = TRG_OUT_REJECTED;
        res->function_error = trg_strdup("RequestTooLarge");
        trg_warn("lambda", name, "%s rejected: payload too large (HTTP 413)", c->request_id);
    } else {
        result_error(res, "Unhandled");
        if (resp->status == 403 || resp->status == 401)
            trg_warn("lambda", name, "%s HTTP %ld: the endpoint refused the credentials; check access_key, "
                     "secret_key and region", c->request_id, resp->status);
        else
            trg_warn("lambda", name, "%s HTTP %ld from the Lambda API", c->request_id, resp->status);
    }
}

static void lambda_call_done(void *arg, struct trg_curl_resp *resp)
{
    struct lambda_call *c = arg;
    struct trg_invoke_result res = {0};

    /* Unlinked first: the callback may destroy the instance, which then no longer sees this call. */
    call_unlink(c);
    lambda_classify(c, resp, &res);
    trg_debug("lambda", c->inst->name, "%s %s status %d in %.2f ms", c->request_id,
              trg_outcome_name(res.outcome), res.status, res.duration_ms);
    c->cb(c->arg, &res);
    trg_invoke_result_clear(&res);
    trg_free(c);
}

static int lambda_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct lambda_inst *inst = instp;
    struct lambda_call *c = trg_calloc(1, sizeof(*c));

    if (!c)
        return TRG_ENOMEM;
    c->inst = inst;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->request_id, sizeof(c->request_id), "%s", req->request_id ? req->request_id : "");

    struct trg_curl_post_req pr = {
        .url = inst->url,
        .headers = lambda_headers(inst, c->request_id),
        .payload = req->payload,
        .len = req->len,
        .timeout_ms = req->timeout_ms,
        .max_body = (size_t)inst->opts->max_response_bytes,
        .userpwd = inst->userpwd,
        .aws_sigv4 = inst->sigv4,
    };
    if (!pr.headers) {
        trg_free(c);
        return TRG_ENOMEM;
    }
    int rc = trg_curl_post_start(inst->cl, &pr, lambda_call_done, c, &c->post);
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

static void lambda_destroy(void *instp)
{
    struct lambda_inst *inst = instp;

    if (!inst)
        return;
    while (inst->calls) {
        struct lambda_call *c = inst->calls;
        call_unlink(c);
        trg_curl_post_cancel(c->post);
        trg_free(c);
    }
    trg_curl_loop_release(inst->cl);
    trg_free(inst->name);
    trg_free(inst->url);
    trg_free(inst->userpwd);
    trg_free(inst->sigv4);
    trg_free(inst);
}

const struct trg_invoker_ops trg_invoke_lambda = {
    .name = "lambda",
    .options = lambda_options,
    .n_options = TRG_ARRAY_SIZE(lambda_options),
    .opts_size = sizeof(struct lambda_opts),
    .check = lambda_check,
    .create = lambda_create,
    .invoke = lambda_invoke,
    .destroy = lambda_destroy,
};
