/* invoke_api.c — the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations) and the legacy
 * InvokeAsync: RequestResponse, Event and DryRun invocations of a configured function, answered as Lambda
 * answers (reference: shared/reference/lambda-invoke-api.md). */
#include "invoke_api.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "aws_error.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define INVOKE_SUFFIX "/invocations"
#define INVOKE_ASYNC_SUFFIX "/invoke-async/"
#define ERROR_MESSAGE_MAX 4096
#define RESPONSE_LIMIT (INVOKE_MAX_BODY + 100u) /* 6 MB + 100 bytes */
#define CLIENT_CONTEXT_MAX 3583u                /* Lambda's limit on X-Amz-Client-Context (base64) */
#define THROTTLE_RETRY_AFTER_S                                                                               \
    1 /* a throttled caller's Retry-After: concurrency frees as
                                                   invocations end, which trigd cannot foresee */

/* --- parsing (pure) ----------------------------------------------------------------------------- */

/* The decoded value of the query parameter `key` (NULL when absent; *oom on allocation failure). */
static char *query_param(const char *query, const char *key, bool *oom)
{
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char *v = trg_malloc(n - klen);
            if (!v) {
                *oom = true;
                return NULL;
            }
            size_t o = 0;
            for (size_t i = klen + 1; i < n; i++) {
                if (p[i] == '%' && i + 2 < n && trg_hex_digit((unsigned char)p[i + 1]) >= 0 &&
                    trg_hex_digit((unsigned char)p[i + 2]) >= 0) {
                    v[o++] = (char)(trg_hex_digit((unsigned char)p[i + 1]) * 16 +
                                    trg_hex_digit((unsigned char)p[i + 2]));
                    i += 2;
                } else {
                    v[o++] = p[i] == '+' ? ' ' : p[i];
                }
            }
            v[o] = '\0';
            return v;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static int parse_fail(struct trg_invoke_call *c, int status, const char *type, const char *msg)
{
    trg_invoke_call_clear(c);
    c->err_status = status;
    c->err_type = type;
    c->err_msg = msg;
    return TRG_EINVAL;
}

/* Split seg[0..n) (NAME, NAME:Q, ACCOUNT:function:NAME[:Q], arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q])
 * into c->name and c->qualifier. */
static int split_name(const char *seg, size_t n, struct trg_invoke_call *c)
{
    const char *part[8];
    size_t len[8], k = 0;
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i == n || seg[i] == ':') {
            if (k == 8)
                return parse_fail(c, 400, "InvalidParameterValueException",
                                  "FunctionName is not a valid name or ARN");
            part[k] = seg + start;
            len[k++] = i - start;
            start = i + 1;
        }
    }
    size_t first = 0; /* index of NAME */
    if (k >= 6 && len[0] == 3 && strncmp(part[0], "arn", 3) == 0) {
        if (len[2] != 6 || strncmp(part[2], "lambda", 6) != 0 || len[5] != 8 ||
            strncmp(part[5], "function", 8) != 0)
            return parse_fail(c, 400, "InvalidParameterValueException",
                              "FunctionName is not a Lambda function ARN");
        first = 6;
    } else if (k >= 3 && len[1] == 8 && strncmp(part[1], "function", 8) == 0) {
        first = 2;
    }
    if (first >= k || k - first > 2 || len[first] == 0)
        return parse_fail(c, 400, "InvalidParameterValueException",
                          "FunctionName is not a valid name or ARN");
    if (!(c->name = trg_strndup(part[first], len[first])))
        return TRG_ENOMEM;
    if (k - first == 2) {
        if (len[first + 1] == 0)
            return parse_fail(c, 400, "InvalidParameterValueException", "the qualifier after ':' is empty");
        if (!(c->qualifier = trg_strndup(part[first + 1], len[first + 1])))
            return TRG_ENOMEM;
    }
    return 0;
}

int trg_invoke_api_parse(const char *path, const char *query, const char *invocation_type,
                         const char *log_type, struct trg_invoke_call *out)
{
    memset(out, 0, sizeof *out);
    const char *prefix = INVOKE_PREFIX, *suffix = INVOKE_SUFFIX;
    if (path && strncmp(path, INVOKE_ASYNC_PREFIX, strlen(INVOKE_ASYNC_PREFIX)) == 0) {
        prefix = INVOKE_ASYNC_PREFIX;
        suffix = INVOKE_ASYNC_SUFFIX;
        out->legacy_async = true;
    }
    if (!path || strncmp(path, prefix, strlen(prefix)) != 0)
        return parse_fail(out, 404, "ResourceNotFoundException",
                          "expected /2015-03-31/functions/{FunctionName}/invocations");
    const char *seg = path + strlen(prefix);
    size_t plen = strlen(seg), slen = strlen(suffix);
    if (out->legacy_async && plen > 0 && seg[plen - 1] != '/')
        slen--; /* invoke-async without the trailing slash */
    if (plen <= slen || strncmp(seg + plen - slen, suffix, slen) != 0 || memchr(seg, '/', plen - slen))
        return parse_fail(out, 404, "ResourceNotFoundException",
                          out->legacy_async ? "expected /2014-11-13/functions/{FunctionName}/invoke-async/"
                                            : "expected /2015-03-31/functions/{FunctionName}/invocations");
    int rc = split_name(seg, plen - slen, out);
    if (rc != 0)
        return rc;
    bool oom = false;
    char *q = query_param(query, "Qualifier", &oom);
    if (oom) {
        trg_invoke_call_clear(out);
        return TRG_ENOMEM;
    }
    if (q && out->qualifier && strcmp(q, out->qualifier) != 0) {
        trg_free(q);
        return parse_fail(
            out, 400, "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.");
    }
    if (q) {
        trg_free(out->qualifier);
        out->qualifier = q;
    }
    if (out->legacy_async) {
        out->type = TRG_INVOKE_EVENT;
    } else if (!invocation_type || !*invocation_type || strcmp(invocation_type, "RequestResponse") == 0) {
        out->type = TRG_INVOKE_SYNC;
    } else if (strcmp(invocation_type, "Event") == 0) {
        out->type = TRG_INVOKE_EVENT;
    } else if (strcmp(invocation_type, "DryRun") == 0) {
        out->type = TRG_INVOKE_DRYRUN;
    } else {
        return parse_fail(out, 400, "InvalidParameterValueException",
                          "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun");
    }
    if (log_type && *log_type && strcmp(log_type, "None") != 0) {
        if (strcmp(log_type, "Tail") != 0)
            return parse_fail(out, 400, "InvalidParameterValueException",
                              "X-Amz-Log-Type must be None or Tail");
        out->tail = out->type == TRG_INVOKE_SYNC; /* Lambda returns the log only to synchronous callers */
    }
    return 0;
}

void trg_invoke_call_clear(struct trg_invoke_call *c)
{
    trg_free(c->name);
    trg_free(c->qualifier);
    c->name = c->qualifier = NULL;
}

bool trg_invoke_qualifier_ok(const char *qualifier)
{
    return !qualifier || !*qualifier || strcmp(qualifier, "$LATEST") == 0;
}

/* --- answering ---------------------------------------------------------------------------------- */

/* Is [p, p+n) only JSON whitespace (no payload)? */
static bool only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return false;
    return true;
}

/* Is body already a Lambda error object ({"errorMessage": "...", ...})? */
static bool is_lambda_error(const char *body, size_t len)
{
    if (!body || !len)
        return false;
    cJSON *j = trg_json_parse(body, len, NULL);
    bool yes = cJSON_IsObject(j) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "errorMessage"));
    cJSON_Delete(j);
    return yes;
}

/* A synchronous invocation in flight: what its answer needs. */
struct invoke_ctx {
    struct trg_http_req *req;
    char *function;
    char request_id[40];
    int64_t timeout_ms;
    bool tail;
};

/* The error body Lambda would give for res (an error outcome): errorType and errorMessage. */
/* Is res's body a Lambda error object from the function itself (then it is the answer as it is)? */
static bool own_error(const struct trg_invoke_result *res)
{
    return is_lambda_error(res->body, res->body ? res->body_len : 0) &&
           (!res->function_error || strcmp(res->function_error, "Unhandled") == 0 ||
            strchr(res->function_error, '.'));
}

int trg_invoke_api_error_body(const char *request_id, int64_t timeout_ms, const struct trg_invoke_result *res,
                              struct trg_buf *b)
{
    if (own_error(res))
        return trg_buf_add(b, res->body, res->body_len);
    const char *fe = res->function_error ? res->function_error : "Unhandled";
    const char *body = res->body ? res->body : "";
    size_t len = res->body ? res->body_len : 0;
    char *msg = NULL;
    const char *type = fe;
    if (strcmp(fe, "Timeout") == 0 || strcmp(fe, "Sandbox.Timedout") == 0) {
        type = "Sandbox.Timedout";
        msg = trg_asprintf("RequestId: %s Error: Task timed out after %.2f seconds", request_id,
                           (double)timeout_ms / 1000.0);
    } else if (strcmp(fe, "ResponseSizeTooLarge") == 0 || strcmp(fe, "Function.ResponseSizeTooLarge") == 0) {
        type = "Function.ResponseSizeTooLarge";
        msg = trg_asprintf("Response payload size exceeded maximum allowed payload size (%u bytes).",
                           RESPONSE_LIMIT);
    } else if (strcmp(fe, "Signal") == 0) {
        type = "Runtime.ExitError";
        msg = trg_asprintf("RequestId: %s Error: Runtime exited with error: signal: killed", request_id);
    } else if (strcmp(fe, "Unhandled") == 0 && res->status > 0 && res->status < 256) {
        /* exec: a non-zero exit; its stdout (if any) is not a Lambda error object */
        type = "Runtime.ExitError";
        msg = trg_asprintf("RequestId: %s Error: Runtime exited with error: exit status %d", request_id,
                           res->status);
    } else if (len > 0) {
        size_t n = len > ERROR_MESSAGE_MAX ? ERROR_MESSAGE_MAX : len;
        msg = trg_strndup(body, n);
    } else {
        msg = trg_asprintf("RequestId: %s Error: %s", request_id, fe);
    }
    if (!msg)
        return TRG_ENOMEM;
    int rc = trg_buf_adds(b, "{\"errorMessage\":");
    rc |= trg_buf_add_json_str(b, msg, strlen(msg));
    rc |= trg_buf_adds(b, ",\"errorType\":");
    rc |= trg_buf_add_json_str(b, type, strlen(type));
    rc |= trg_buf_adds(b, "}");
    trg_free(msg);
    return rc;
}

static void respond_invoke_result(struct invoke_ctx *ctx, struct trg_invoke_result *res)
{
    struct trg_http_req *req = ctx->req;
    const char *body = res->body ? res->body : "";
    size_t len = res->body ? res->body_len : 0;
    struct trg_buf tail = {0}, err = {0};
    const char *hdrs[8] = {"X-Amz-Executed-Version", "$LATEST", NULL};
    size_t nh = 2;
    if (ctx->tail && res->log_tail && res->log_tail_len > 0 &&
        trg_buf_add_base64(&tail, res->log_tail, res->log_tail_len) == 0) {
        hdrs[nh++] = "X-Amz-Log-Result";
        hdrs[nh++] = tail.data;
    }
    switch (res->outcome) {
    case TRG_OUT_SUCCESS:
    case TRG_OUT_PARTIAL:
        hdrs[nh] = NULL;
        trg_aws_respond(req, 200, "application/json", body, len, ctx->request_id, hdrs);
        goto done;
    case TRG_OUT_THROTTLED:
        trg_aws_respond_error(req, 429, "TooManyRequestsException", "Rate Exceeded.", ctx->request_id);
        goto done;
    case TRG_OUT_REJECTED:
        if (res->status == 413)
            trg_aws_respond_errorf(req, 413, "RequestEntityTooLargeException", ctx->request_id,
                                   "Request must be smaller than %u bytes for the InvokeFunction operation",
                                   INVOKE_MAX_BODY);
        else
            trg_aws_respond_errorf(req, 400, "InvalidRequestContentException", ctx->request_id,
                                   "function %s rejected the request (status %d)", ctx->function,
                                   res->status);
        goto done;
    case TRG_OUT_ERROR:
        if (res->function_error && strcmp(res->function_error, "Shutdown") == 0) {
            /* shutdown_timeout_ms passed before the function answered: a service error, which Lambda's
             * clients retry (against trigd once it is back, or another replica) */
            trg_aws_respond_errorf(
                req, 503, "ServiceException", ctx->request_id,
                "trigd shut down before function %s answered (shutdown_timeout_ms passed); "
                "the invocation may or may not have completed",
                ctx->function);
            goto done;
        }
        break;
    }
    hdrs[nh++] = "X-Amz-Function-Error";
    hdrs[nh++] = "Unhandled";
    hdrs[nh] = NULL;
    if (trg_invoke_api_error_body(ctx->request_id, ctx->timeout_ms, res, &err) != 0) {
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", ctx->request_id);
    } else {
        trg_aws_respond(req, 200, "application/json", err.data, err.len, ctx->request_id, hdrs);
    }
done:
    trg_buf_free(&tail);
    trg_buf_free(&err);
}

static void invoke_done(void *arg, struct trg_invoke_result *res)
{
    struct invoke_ctx *ctx = arg;
    respond_invoke_result(ctx, res);
    trg_free(ctx->function);
    trg_free(ctx);
}

/* An Event invocation waiting to be queued. */
struct queued_ctx {
    struct trg_http_req *req;
    bool legacy;
    char request_id[40];
};

static void queued(void *arg, int err)
{
    struct queued_ctx *q = arg;
    if (err != 0)
        trg_aws_respond_errorf(q->req, 503, "ServiceException", q->request_id,
                               "the event could not be queued (%s): try again", trg_strerror(err));
    else if (q->legacy)
        trg_aws_respond(q->req, 202, "application/json", "{\"Status\":202}", 14, q->request_id, NULL);
    else
        trg_aws_respond(q->req, 202, "application/json", "", 0, q->request_id, NULL);
    trg_free(q);
}

/* X-Amz-Client-Context: base64 of a JSON object, at most CLIENT_CONTEXT_MAX bytes of base64 as in Lambda. Returns
 * 0 with *out the object as one line of JSON (NULL when the header is absent or empty; the caller frees), or -1
 * after answering the request with Lambda's error. */
static int client_context(struct trg_http_req *req, const char *rid, char **out)
{
    *out = NULL;
    const char *h = trg_http_req_header(req, "X-Amz-Client-Context");
    if (!h || !*h)
        return 0;
    size_t n = strlen(h);
    if (n > CLIENT_CONTEXT_MAX) {
        trg_aws_respond_errorf(
            req, 400, "InvalidRequestContentException", rid,
            "Client context must be at most %u bytes of base64 (X-Amz-Client-Context has %zu)",
            CLIENT_CONTEXT_MAX, n);
        return -1;
    }
    struct trg_buf raw = {0};
    int rc = trg_base64_decode(h, n, &raw);
    cJSON *j = rc == 0 ? trg_json_parse(raw.data, raw.len, NULL) : NULL;
    trg_buf_free(&raw);
    if (rc == TRG_ENOMEM) {
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", rid);
        return -1;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        trg_aws_respond_error(req, 400, "InvalidRequestContentException",
                              "Client context must be a valid Base64-encoded JSON object.", rid);
        return -1;
    }
    /* re-printed on one line: it goes into a header of the Runtime API (no line breaks can pass through) */
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!*out) {
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", rid);
        return -1;
    }
    return 0;
}

static void respond_not_found(struct trg_http_req *req, const struct trg_invoke_call *c, const char *rid)
{
    trg_aws_respond_errorf(req, 404, "ResourceNotFoundException", rid,
                           "Function not found: arn:aws:lambda:%s:%s:function:%s%s%s", TRG_AWS_REGION,
                           TRG_AWS_ACCOUNT, c->name, c->qualifier ? ":" : "",
                           c->qualifier ? c->qualifier : "");
}

void trg_invoke_api_handle(struct trg_engine *e, struct trg_async *async, struct trg_http_req *req)
{
    char rid[40];
    trg_request_id(rid);
    struct trg_invoke_call c;
    char *cc = NULL; /* the client context, one line of JSON */
    int rc = trg_invoke_api_parse(trg_http_req_path(req), trg_http_req_query(req),
                                  trg_http_req_header(req, "X-Amz-Invocation-Type"),
                                  trg_http_req_header(req, "X-Amz-Log-Type"), &c);
    if (rc == TRG_ENOMEM) {
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", rid);
        return;
    }
    if (rc != 0) {
        trg_aws_respond_error(req, c.err_status, c.err_type, c.err_msg, rid);
        return;
    }
    const struct trg_config *cfg = trg_engine_config(e);
    const struct trg_function_conf *fc = cfg ? trg_config_function(cfg, c.name) : NULL;
    if (!fc || !trg_invoke_qualifier_ok(c.qualifier)) {
        respond_not_found(req, &c, rid);
        goto out;
    }
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    size_t limit = c.legacy_async               ? INVOKE_ASYNC_MAX_BODY
                   : c.type == TRG_INVOKE_EVENT ? INVOKE_EVENT_MAX_BODY
                                                : INVOKE_MAX_BODY;
    if (trg_http_req_too_large(req) || len > limit) {
        trg_aws_respond_errorf(req, 413, "RequestEntityTooLargeException", rid,
                               "Request must be smaller than %zu bytes for the %s operation", limit,
                               c.legacy_async ? "InvokeAsync" : "InvokeFunction");
        goto out;
    }
    if (client_context(req, rid, &cc) != 0)
        goto out;
    if (c.type == TRG_INVOKE_DRYRUN) {
        trg_aws_respond(req, 204, NULL, NULL, 0, rid, NULL);
        goto out;
    }
    if (only_space(body, len)) {
        body = "{}"; /* no payload: the function gets an empty object, as in Lambda */
        len = 2;
    }
    cJSON *j = trg_json_parse(body, len, NULL);
    if (!j) {
        trg_aws_respond_error(req, 400, "InvalidRequestContentException",
                              "Could not parse request body into json: the payload must be one JSON document",
                              rid);
        goto out;
    }
    cJSON_Delete(j);
    if (c.type == TRG_INVOKE_EVENT) {
        struct queued_ctx *q = trg_calloc(1, sizeof *q);
        if (!q) {
            rc = TRG_ENOMEM;
        } else {
            q->req = req;
            q->legacy = c.legacy_async;
            memcpy(q->request_id, rid, sizeof rid);
            rc = trg_async_submit(async, c.name, body, len, rid, queued, q);
            if (rc == 0)
                goto out;
            trg_free(q);
        }
    } else {
        struct invoke_ctx *ctx = trg_calloc(1, sizeof *ctx);
        if (!ctx) {
            rc = TRG_ENOMEM;
        } else {
            ctx->req = req;
            ctx->function = c.name;
            c.name = NULL;
            memcpy(ctx->request_id, rid, sizeof rid);
            ctx->timeout_ms = fc->timeout_ms;
            ctx->tail = c.tail;
            /* Lambda passes the client context to synchronous invocations only */
            struct trg_direct_call call = {
                .payload = body, .len = len, .request_id = rid, .no_wait = true, .client_context = cc};
            rc = trg_engine_invoke(e, ctx->function, &call, invoke_done, ctx);
            if (rc == 0)
                goto out;
            c.name = ctx->function;
            trg_free(ctx);
        }
    }
    if (rc == TRG_ENOTFOUND)
        respond_not_found(req, &c, rid);
    else if (rc == TRG_ESTATE) /* draining: 5xx is what the CLI and the SDKs retry as a transient failure */
        trg_aws_respond_error(req, 503, "ServiceException",
                              "trigd is shutting down and takes no new invocations: try again", rid);
    else if (rc == TRG_EFULL) /* Lambda throttles a synchronous invoke at the reserved concurrency at once */
        trg_aws_respond_throttled(req, "ReservedFunctionConcurrentInvocationLimitExceeded",
                                  THROTTLE_RETRY_AFTER_S, rid);
    else
        trg_aws_respond_error(req, 500, "ServiceException", trg_strerror(rc), rid);
out:
    cJSON_free(cc);
    trg_invoke_call_clear(&c);
}
