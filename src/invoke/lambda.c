/* lambda.c — the "lambda" function type: the AWS Lambda Invoke API (see invoke.h).
 *
 * POST {endpoint}/2015-03-31/functions/{function_name}/invocations[?Qualifier=q] with
 * X-Amz-Invocation-Type: RequestResponse, signed with SigV4 by libcurl when keys are configured.
 * Works against AWS, LocalStack and the Runtime Interface Emulator. A present X-Amz-Function-Error
 * header = error (function_error = its value); 429 = throttled; 413 = rejected; other non-2xx =
 * error; 2xx = success. Transport errors and the deadline are classified like the http type, by
 * post.c (post.h), which also keeps the calls in flight.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util.h"
#include "invoke.h"
#include "post.h"

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

struct lambda_inst {
    char *name;
    char *url;     /* the invocations URL */
    char *userpwd; /* "key:secret" or NULL */
    char *sigv4;   /* "aws:amz:REGION:lambda" or NULL */
    struct trg_post post;
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

static struct curl_slist *lambda_headers(const void *ctx, const char *request_id)
{
    const struct lambda_opts *o = ctx;
    struct curl_slist *h = NULL;

    if (!trg_post_header(&h, "Content-Type", "application/json") ||
        !trg_post_header(&h, "X-Amz-Invocation-Type", "RequestResponse"))
        return NULL;
    /* for tracing on the server side; Lambda and the emulator ignore it */
    if (!trg_post_header(&h, "X-Trigd-Request-Id", request_id))
        return NULL;
    if (o->session_token && !trg_post_header(&h, "X-Amz-Security-Token", o->session_token))
        return NULL;
    return h;
}

/* The Runtime Interface Emulator answers a timeout with a plain-text 200 "Task timed out after N.00 seconds"
 * (no function can return that: a Lambda response is JSON). */
static bool emulator_timeout(const struct trg_invoke_result *res)
{
    static const char prefix[] = "Task timed out after ";
    return res->body && res->body_len >= sizeof prefix - 1 && memcmp(res->body, prefix, sizeof prefix - 1) == 0;
}

/* The emulator never sends X-Amz-Function-Error: a handler error comes back as a 200 whose body is the error
 * object. AWS Lambda sends X-Amz-Executed-Version on every invoke answer and the emulator never does, so a 200
 * without it whose body is an object of only errorMessage, errorType (and stackTrace, requestId) is taken for a
 * handler error behind the emulator. */
static bool emulator_error(const struct trg_curl_resp *resp, const struct trg_invoke_result *res)
{
    if (resp->executed_version || !res->body || res->body_len == 0)
        return false;
    cJSON *j = trg_json_parse(res->body, res->body_len, NULL);
    bool yes = cJSON_IsObject(j) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")) &&
               cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "errorType"));
    for (const cJSON *it = yes ? j->child : NULL; it; it = it->next)
        if (strcmp(it->string, "errorMessage") != 0 && strcmp(it->string, "errorType") != 0 &&
            strcmp(it->string, "stackTrace") != 0 && strcmp(it->string, "requestId") != 0)
            yes = false;
    cJSON_Delete(j);
    return yes;
}

/* A response arrived: X-Amz-Function-Error first, then the status; the emulator's answers that lack the
 * header are recognised by their shape (docs/ADMIN.md says what cannot be). */
static void lambda_classify(const char *name, const char *request_id, struct trg_curl_resp *resp,
                            struct trg_invoke_result *res)
{
    if (!resp->function_error && resp->status >= 200 && resp->status < 300 && emulator_timeout(res)) {
        trg_post_error(res, "Sandbox.Timedout");
        trg_info("lambda", name, "%s timed out in the function (the emulator's plain-text answer)", request_id);
    } else if (!resp->function_error && resp->status >= 200 && resp->status < 300 && emulator_error(resp, res)) {
        trg_post_error(res, "Unhandled");
        trg_debug("lambda", name, "%s function error (an error object without X-Amz-Executed-Version)", request_id);
    } else if (resp->function_error) {
        res->outcome = TRG_OUT_ERROR;
        res->function_error = resp->function_error;
        resp->function_error = NULL;
        trg_debug("lambda", name, "%s function error %s", request_id, res->function_error);
    } else if (resp->status >= 200 && resp->status < 300) {
        res->outcome = TRG_OUT_SUCCESS;
    } else if (resp->status == 429) {
        res->outcome = TRG_OUT_THROTTLED;
        res->retry_after_ms = resp->retry_after_ms;
        trg_info("lambda", name, "%s throttled (HTTP 429)", request_id);
    } else if (resp->status == 413) {
        trg_post_reject_too_large("lambda", name, request_id, res);
    } else {
        trg_post_error(res, "Unhandled");
        if (resp->status == 403 || resp->status == 401)
            trg_warn("lambda", name, "%s HTTP %ld: the endpoint refused the credentials; check access_key, "
                     "secret_key and region", request_id, resp->status);
        else
            trg_warn("lambda", name, "%s HTTP %ld from the Lambda API", request_id, resp->status);
    }
}

static const struct trg_post_kind lambda_kind = {
    .component = "lambda",
    .timeout_hint = "raise the function's timeout_ms",
    .failed_hint = "check the endpoint",
    .log_max_body = false,
    .headers = lambda_headers,
    .classify = lambda_classify,
};

static void lambda_free(struct lambda_inst *inst)
{
    trg_free(inst->name);
    trg_free(inst->url);
    trg_free(inst->userpwd);
    trg_free(inst->sigv4);
    trg_free(inst);
}

static int lambda_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    const struct lambda_opts *o = opts;
    struct lambda_inst *inst = trg_calloc(1, sizeof(*inst));
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!inst)
        return TRG_ENOMEM;
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
    inst->post = (struct trg_post){
        .kind = &lambda_kind,
        .ctx = o,
        .name = inst->name,
        .url = inst->url,
        .max_body = (size_t)o->max_response_bytes,
        .userpwd = inst->userpwd,
        .aws_sigv4 = inst->sigv4,
    };
    rc = trg_post_open(&inst->post, loop);
    if (rc != 0)
        goto fail;
    trg_debug("lambda", name, "invoking %s%s", inst->url, inst->sigv4 ? " (SigV4 signed)" : " (unsigned)");
    *out = inst;
    return 0;
fail:
    lambda_free(inst);
    return rc;
}

static int lambda_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct lambda_inst *inst = instp;

    return trg_post_invoke(&inst->post, req, cb, arg);
}

static void lambda_destroy(void *instp)
{
    struct lambda_inst *inst = instp;

    if (!inst)
        return;
    trg_post_close(&inst->post);
    lambda_free(inst);
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
