/* invoke_api.c — the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations): RequestResponse,
 * Event and DryRun invocations of a configured function, answered as Lambda answers. */
#include "invoke_api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_http.h"
#include "config.h"
#include "dlq.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define INVOKE_SUFFIX "/invocations"
#define ERROR_MESSAGE_MAX 4096

/* Is [p, p+n) only JSON whitespace (no payload)? */
static bool only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return false;
    return true;
}

/* --- Lambda Invoke API ------------------------------------------------------------------------ */

/* {"Type":"User","message":msg} with X-Amzn-ErrorType: type. */
static void respond_lambda_error(struct trg_http_req *req, int status, const char *type, const char *msg)
{
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"Type\":\"User\",");
    rc |= trg_admin_add_kv_str(&b, "message", msg);
    rc |= trg_buf_adds(&b, "}");
    const char *hdrs[] = {"X-Amzn-ErrorType", type, NULL};
    if (rc != 0)
        trg_admin_respond_oom(req);
    else
        trg_http_respond(req, status, "application/json", b.data, b.len, hdrs);
    trg_buf_free(&b);
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

static void respond_invoke_result(struct trg_http_req *req, const char *function,
                                  struct trg_invoke_result *res)
{
    static const char *const ok_hdrs[] = {"X-Amz-Executed-Version", "$LATEST", NULL};
    static const char *const err_hdrs[] = {"X-Amz-Executed-Version", "$LATEST", "X-Amz-Function-Error",
                                           "Unhandled", NULL};
    const char *body = res->body ? res->body : "";
    size_t len = res->body ? res->body_len : 0;
    switch (res->outcome) {
    case TRG_OUT_SUCCESS:
    case TRG_OUT_PARTIAL:
        trg_http_respond(req, 200, "application/json", body, len, ok_hdrs);
        return;
    case TRG_OUT_THROTTLED: {
        char *msg =
            trg_asprintf("Rate exceeded: function %s is throttled (status %d)", function, res->status);
        respond_lambda_error(req, 429, "TooManyRequestsException", msg ? msg : "Rate exceeded");
        trg_free(msg);
        return;
    }
    case TRG_OUT_REJECTED: {
        bool too_large = res->status == 413;
        char *msg = trg_asprintf("function %s rejected the request%s (status %d)", function,
                                 too_large ? " as too large" : "", res->status);
        respond_lambda_error(req, too_large ? 413 : 400,
                             too_large ? "RequestTooLargeException" : "InvalidRequestContentException",
                             msg ? msg : "rejected");
        trg_free(msg);
        return;
    }
    case TRG_OUT_ERROR:
        break;
    }
    if (is_lambda_error(body, len)) {
        trg_http_respond(req, 200, "application/json", body, len, err_hdrs);
        return;
    }
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"errorMessage\":");
    if (len > 0) {
        size_t n = len > ERROR_MESSAGE_MAX ? ERROR_MESSAGE_MAX : len;
        rc |= trg_buf_add_json_str(&b, body, n);
    } else {
        char *msg = res->status >= 0
                        ? trg_asprintf("function %s failed (%s, status %d)", function,
                                       res->function_error ? res->function_error : "error", res->status)
                        : trg_asprintf("function %s failed (%s)", function,
                                       res->function_error ? res->function_error : "error");
        rc |= msg ? trg_buf_add_json_str(&b, msg, strlen(msg)) : TRG_ENOMEM;
        trg_free(msg);
    }
    const char *type = res->function_error ? res->function_error : "Unhandled";
    rc |= trg_buf_adds(&b, ",\"errorType\":");
    rc |= trg_buf_add_json_str(&b, type, strlen(type));
    rc |= trg_buf_adds(&b, "}");
    if (rc != 0)
        trg_admin_respond_oom(req);
    else
        trg_http_respond(req, 200, "application/json", b.data, b.len, err_hdrs);
    trg_buf_free(&b);
}

/* A synchronous invocation's context: the function name (the request is answered from it). */
struct invoke_ctx {
    struct trg_http_req *req; /* NULL for Event invocations */
    char *function;
};

static void invoke_done(void *arg, struct trg_invoke_result *res)
{
    struct invoke_ctx *ctx = arg;
    if (ctx->req) {
        respond_invoke_result(ctx->req, ctx->function, res);
    } else if (res->outcome == TRG_OUT_SUCCESS || res->outcome == TRG_OUT_PARTIAL) {
        trg_info("admin", ctx->function, "event invocation succeeded in %.1f ms", res->duration_ms);
    } else {
        trg_warn("admin", ctx->function, "event invocation ended with %s (status %d%s%s) after %.1f ms",
                 trg_outcome_name(res->outcome), res->status, res->function_error ? ", " : "",
                 res->function_error ? res->function_error : "", res->duration_ms);
    }
    trg_free(ctx->function);
    trg_free(ctx);
}

/* The function name in the path: NAME, NAME:QUALIFIER or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]. */
static char *function_name(const struct trg_engine *e, const char *seg, size_t n)
{
    char *name = trg_strndup(seg, n);
    if (!name)
        return NULL;
    const struct trg_config *cfg = trg_engine_config(e);
    if (cfg && trg_config_function(cfg, name))
        return name;
    const char *p = name;
    if (strncmp(p, "arn:", 4) == 0) {
        const char *f = strstr(p, ":function:");
        if (f)
            p = f + strlen(":function:");
    }
    size_t k = strcspn(p, ":");
    memmove(name, p, k);
    name[k] = '\0';
    return name;
}

void trg_invoke_api_request(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    const char *path = trg_http_req_path(req);
    const char *seg = path + strlen(INVOKE_PREFIX);
    size_t plen = strlen(seg), slen = strlen(INVOKE_SUFFIX);
    if (plen <= slen || strcmp(seg + plen - slen, INVOKE_SUFFIX) != 0 || memchr(seg, '/', plen - slen)) {
        respond_lambda_error(req, 404, "ResourceNotFoundException",
                             "expected POST /2015-03-31/functions/{FunctionName}/invocations");
        return;
    }
    char *name = function_name(e, seg, plen - slen);
    if (!name) {
        trg_admin_respond_oom(req);
        return;
    }
    const struct trg_config *cfg = trg_engine_config(e);
    if (!cfg || !trg_config_function(cfg, name)) {
        char *msg = trg_asprintf("Function not found: %s", name);
        respond_lambda_error(req, 404, "ResourceNotFoundException", msg ? msg : "Function not found");
        trg_free(msg);
        trg_free(name);
        return;
    }
    const char *type = trg_http_req_header(req, "X-Amz-Invocation-Type");
    if (!type || !*type)
        type = "RequestResponse";
    bool event = strcmp(type, "Event") == 0;
    if (strcmp(type, "DryRun") == 0) {
        trg_http_respond(req, 204, NULL, NULL, 0, NULL);
        trg_free(name);
        return;
    }
    if (!event && strcmp(type, "RequestResponse") != 0) {
        respond_lambda_error(req, 400, "InvalidParameterValueException",
                             "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun");
        trg_free(name);
        return;
    }
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    if (only_space(body, len)) {
        body = "{}"; /* no payload: the function gets an empty object, as in Lambda */
        len = 2;
    }
    cJSON *j = trg_json_parse(body, len, NULL);
    if (!j) {
        respond_lambda_error(req, 400, "InvalidRequestContentException",
                             "Could not parse request body into json: the payload must be a JSON document");
        trg_free(name);
        return;
    }
    cJSON_Delete(j);
    struct invoke_ctx *ctx = trg_calloc(1, sizeof *ctx);
    if (!ctx) {
        trg_free(name);
        trg_admin_respond_oom(req);
        return;
    }
    ctx->function = name;
    ctx->req = event ? NULL : req;
    int rc = trg_engine_invoke(e, name, body, len, NULL, invoke_done, ctx);
    if (rc != 0) {
        trg_free(ctx);
        if (rc == TRG_ENOTFOUND) {
            char *msg = trg_asprintf("Function not found: %s", name);
            respond_lambda_error(req, 404, "ResourceNotFoundException", msg ? msg : "Function not found");
            trg_free(msg);
        } else if (rc == TRG_ESTATE) {
            respond_lambda_error(req, 503, "ServiceException", "trigd is shutting down");
        } else if (rc == TRG_EFULL) {
            respond_lambda_error(req, 429, "TooManyRequestsException", "Rate exceeded");
        } else {
            respond_lambda_error(req, 500, "ServiceException", trg_strerror(rc));
        }
        trg_free(name);
        return;
    }
    if (event)
        trg_http_respond(req, 202, "application/json", "", 0, NULL);
}

