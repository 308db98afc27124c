/* lambda_api.c — Lambda's APIs for its own clients (see lambda_api.h): the credentials check, the routing of
 * /2015-03-31/, /2019-09-30/ and /2014-11-13/, and the read-only management operations built from the running
 * config. */
#include "lambda_api.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "async.h"
#include "aws_error.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "invoke_api.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"

#define API_2015 "/2015-03-31/"
#define API_2019 "/2019-09-30/"
#define API_EVENT_INVOKE "/2019-09-25/"
/* The other path prefixes of Lambda's REST API (tags, layers, account settings, code signing, function URLs,
 * ...): answered "not supported" in AWS's shape rather than with the HTTP server's own 404. */
static const char *const other_prefixes[] = {"/2016-08-19/", "/2017-03-31/", "/2017-10-31/", "/2018-10-31/",
                                             "/2020-04-22/", "/2020-06-30/", "/2021-07-20/", "/2021-10-31/"};
#define API_2014 "/2014-11-13/"
#define FUNCTIONS "/2015-03-31/functions/"
#define MAPPINGS "/2015-03-31/event-source-mappings/"
#define MGMT_MAX_BODY 65536u

struct trg_lambda_api {
    struct trg_engine *e;
    struct trg_async *async;
};

/* --- credentials ---------------------------------------------------------------------------------------- */

static const char *req_header(void *arg, const char *name) { return trg_http_req_header(arg, name); }

/* true when the request may go on; otherwise it has been answered (403 in AWS's shape, or 401). */
static bool authorized(struct trg_lambda_api *api, struct trg_http_req *req)
{
    const struct trg_config *cfg = trg_engine_config(api->e);
    if (!cfg || cfg->http.n_credentials == 0) { /* the admin bearer token, when there is one */
        const char *token = cfg ? cfg->http.admin_token : NULL;
        if (trg_http_req_bearer_ok(req, token))
            return true;
        trg_info("lambda-api", NULL, "%s %s from %s: no or a wrong bearer token; answered 401",
                 trg_http_req_method(req), trg_http_req_path(req), trg_http_req_remote(req));
        char rid[40];
        trg_request_id(rid);
        static const char body[] =
            "{\"Type\":\"User\",\"Message\":\"unauthorized: send Authorization: Bearer <admin "
            "token>, or configure http.invoke_credentials and sign with SigV4\"}";
        static const char *const hdrs[] = {"x-amzn-ErrorType", "UnrecognizedClientException",
                                           "WWW-Authenticate", "Bearer realm=\"trigd\"", NULL};
        trg_aws_respond(req, 401, "application/json", body, sizeof body - 1, rid, hdrs);
        return false;
    }
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    struct trg_sigv4_req sr = {trg_http_req_method(req),
                               trg_http_req_raw_path(req),
                               trg_http_req_query(req),
                               body,
                               len,
                               req_header,
                               req};
    const char *why = NULL;
    enum trg_sigv4_result r =
        trg_sigv4_verify(&sr, cfg->http.credentials, cfg->http.n_credentials, trg_wall_ms() / 1000, &why);
    if (r == TRG_SIGV4_OK)
        return true;
    trg_info("lambda-api", NULL, "%s %s from %s refused: %s", trg_http_req_method(req),
             trg_http_req_path(req), trg_http_req_remote(req), why ? why : "?");
    if (r == TRG_SIGV4_NOMEM)
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", NULL);
    else if (r == TRG_SIGV4_UNKNOWN_KEY)
        trg_aws_respond_error(req, 403, "UnrecognizedClientException",
                              "The security token included in the request is invalid.", NULL);
    else if (r == TRG_SIGV4_MISSING)
        trg_aws_respond_error(req, 403, "MissingAuthenticationTokenException", "Missing Authentication Token",
                              NULL);
    else if (r == TRG_SIGV4_EXPIRED)
        trg_aws_respond_errorf(
            req, 403, "InvalidSignatureException", NULL,
            "Signature expired: %s is now earlier or later than 5 minutes from the server's time.",
            trg_http_req_header(req, "X-Amz-Date"));
    else
        trg_aws_respond_error(
            req, 403, "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check "
            "your AWS Secret Access Key and signing method. Consult the service documentation for "
            "details.",
            NULL);
    return false;
}

/* --- functions ---------------------------------------------------------------------------------------- */

/* Append "Variables":{NAME:"*****",...} from the definition's env / environment object: names, never values. */
static int add_env_names(struct trg_buf *b, const cJSON *def)
{
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(def, "env");
    if (!cJSON_IsObject(env))
        env = cJSON_GetObjectItemCaseSensitive(def, "environment");
    if (!cJSON_IsObject(env) || !env->child)
        return 0;
    int rc = trg_buf_adds(b, ",\"Environment\":{\"Variables\":{");
    for (const cJSON *kv = env->child; kv; kv = kv->next) {
        rc |= trg_buf_adds(b, kv == env->child ? "" : ",");
        rc |= trg_buf_add_json_str(b, kv->string, strlen(kv->string));
        rc |= trg_buf_adds(b, ":\"*****\"");
    }
    return rc | trg_buf_adds(b, "}}");
}

/* Append the FunctionConfiguration of f. */
static int add_function_config(struct trg_buf *b, const struct trg_function_conf *f)
{
    cJSON *def = f->fingerprint ? cJSON_Parse(f->fingerprint) : NULL;
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(def, "memory_mb");
    const cJSON *handler = cJSON_GetObjectItemCaseSensitive(def, "handler");
    int rc = trg_buf_adds(b, "{\"FunctionName\":");
    rc |= trg_buf_add_json_str(b, f->name, strlen(f->name));
    rc |=
        trg_buf_addf(b, ",\"FunctionArn\":\"arn:aws:lambda:%s:%s:function:", TRG_AWS_REGION, TRG_AWS_ACCOUNT);
    rc |= trg_buf_adds(b, f->name); /* names are letters, digits, '_', '-', '.' */
    rc |= trg_buf_addf(b, "\",\"Runtime\":\"trigd:%s\",\"Handler\":", f->type);
    const char *h = cJSON_IsString(handler) && handler->valuestring[0] ? handler->valuestring : f->type;
    rc |= trg_buf_add_json_str(b, h, strlen(h));
    rc |= trg_buf_addf(
        b,
        ",\"MemorySize\":%lld,\"Timeout\":%lld,\"Version\":\"$LATEST\",\"State\":\"Active\","
        "\"LastUpdateStatus\":\"Successful\",\"PackageType\":\"Zip\",\"Description\":\"a trigd %s "
        "function\"",
        cJSON_IsNumber(mem) && mem->valuedouble > 0 ? (long long)mem->valuedouble : 128LL,
        (long long)((f->timeout_ms + 999) / 1000), f->type);
    rc |= add_env_names(b, def);
    cJSON_Delete(def);
    return rc | trg_buf_addc(b, '}');
}

static const struct trg_function_conf *find_function(struct trg_lambda_api *api, const char *seg, size_t n,
                                                     char **name_out)
{
    struct trg_invoke_call c;
    char *path = trg_asprintf(FUNCTIONS "%.*s/invocations", (int)n, seg);
    *name_out = NULL;
    if (!path || trg_invoke_api_parse(path, "", NULL, NULL, &c) != 0) {
        trg_free(path);
        return NULL;
    }
    trg_free(path);
    const struct trg_config *cfg = trg_engine_config(api->e);
    const struct trg_function_conf *f =
        cfg && trg_invoke_qualifier_ok(c.qualifier) ? trg_config_function(cfg, c.name) : NULL;
    *name_out = c.name;
    c.name = NULL;
    trg_invoke_call_clear(&c);
    return f;
}

static void not_found(struct trg_http_req *req, const char *name)
{
    trg_aws_respond_errorf(req, 404, "ResourceNotFoundException", NULL,
                           "Function not found: arn:aws:lambda:%s:%s:function:%s", TRG_AWS_REGION,
                           TRG_AWS_ACCOUNT, name ? name : "");
}

/* The function seg[0..n) names, or NULL after answering 404 (ResourceNotFoundException naming it). */
static const struct trg_function_conf *find_or_404(struct trg_lambda_api *api, struct trg_http_req *req,
                                                   const char *seg, size_t n)
{
    char *name = NULL;
    const struct trg_function_conf *f = find_function(api, seg, n, &name);
    if (!f)
        not_found(req, name);
    trg_free(name);
    return f;
}

static void respond_built(struct trg_http_req *req, int rc, struct trg_buf *b)
{
    char rid[40];
    trg_request_id(rid);
    if (rc != 0)
        trg_aws_respond_error(req, 500, "ServiceException", "out of memory", rid);
    else
        trg_aws_respond(req, 200, "application/json", b->data, b->len, rid, NULL);
    trg_buf_free(b);
}

static void list_functions(struct trg_lambda_api *api, struct trg_http_req *req)
{
    const struct trg_config *cfg = trg_engine_config(api->e);
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"Functions\":[");
    for (size_t i = 0; cfg && i < cfg->n_functions; i++) {
        rc |= trg_buf_adds(&b, i ? "," : "");
        rc |= add_function_config(&b, &cfg->functions[i]);
    }
    rc |= trg_buf_adds(&b, "],\"NextMarker\":null}");
    respond_built(req, rc, &b);
}

/* GET /2015-03-31/functions/{name}[/configuration] and GET /2019-09-30/functions/{name}/concurrency. */
static void get_function(struct trg_lambda_api *api, struct trg_http_req *req, const char *rest,
                         bool concurrency_api)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *what = slash ? slash + 1 : "";
    if (concurrency_api ? strcmp(what, "concurrency") != 0
                        : (strcmp(what, "") != 0 && strcmp(what, "configuration") != 0)) {
        trg_aws_respond_error(req, 400, "InvalidParameterValueException",
                              "this Lambda operation is not supported by trigd (read-only management API)",
                              NULL);
        return;
    }
    const struct trg_function_conf *f = find_or_404(api, req, rest, n);
    if (!f)
        return;
    struct trg_buf b = {0};
    int rc;
    if (concurrency_api) {
        rc = trg_buf_addf(&b, "{\"ReservedConcurrentExecutions\":%lld}", (long long)f->max_concurrency);
    } else if (strcmp(what, "configuration") == 0) {
        rc = add_function_config(&b, f);
    } else {
        rc = trg_buf_adds(&b, "{\"Configuration\":");
        rc |= add_function_config(&b, f);
        rc |= trg_buf_addf(&b,
                           ",\"Code\":{\"RepositoryType\":\"trigd\"},\"Concurrency\":"
                           "{\"ReservedConcurrentExecutions\":%lld}}",
                           (long long)f->max_concurrency);
    }
    respond_built(req, rc, &b);
}

/* GET /2019-09-25/functions/{name}/event-invoke-config: the function's `async` settings. */
static void get_event_invoke_config(struct trg_lambda_api *api, struct trg_http_req *req, const char *rest)
{
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/event-invoke-config") != 0) {
        trg_aws_respond_errorf(req, 400, "InvalidParameterValueException", NULL,
                               "%s %s is not supported by trigd (read-only management API)",
                               trg_http_req_method(req), trg_http_req_path(req));
        return;
    }
    const struct trg_function_conf *f = find_or_404(api, req, rest, (size_t)(slash - rest));
    if (!f)
        return;
    const char *of = f->async.on_failure ? f->async.on_failure : "dlq";
    struct trg_buf b = {0};
    int rc = trg_buf_addf(
        &b,
        "{\"FunctionArn\":\"arn:aws:lambda:%s:%s:function:%s:$LATEST\",\"MaximumRetryAttempts\":%lld,"
        "\"MaximumEventAgeInSeconds\":%lld,\"DestinationConfig\":{\"OnFailure\":{\"Destination\":",
        TRG_AWS_REGION, TRG_AWS_ACCOUNT, f->name, (long long)f->async.max_retry_attempts,
        (long long)f->async.max_event_age_s);
    char *dest = strcmp(of, "dlq") == 0
                     ? trg_asprintf("trigd:dlq:async.%s", f->name)
                     : trg_asprintf("arn:aws:lambda:%s:%s:function:%s", TRG_AWS_REGION, TRG_AWS_ACCOUNT, of);
    rc |= dest ? trg_buf_add_json_str(&b, dest, strlen(dest)) : TRG_ENOMEM;
    trg_free(dest);
    rc |= trg_buf_adds(&b, "},\"OnSuccess\":{}}}");
    respond_built(req, rc, &b);
}

/* --- event source mappings (one per route) --------------------------------------------------------------- */

/* The mapping's UUID: a SHA-256 of the route name, shaped as a version-5-style UUID (stable across restarts). */
static void route_uuid(const char *route, char out[37])
{
    char h[65];
    struct trg_buf b = {0};
    if (trg_buf_addf(&b, "trigd-event-source-mapping:%s", route) != 0)
        trg_sha256_hex(route, strlen(route), h);
    else
        trg_sha256_hex(b.data, b.len, h);
    trg_buf_free(&b);
    h[12] = '5';
    h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static int add_mapping(struct trg_buf *b, const struct trg_config *cfg, const struct trg_route_conf *r,
                       const cJSON *status)
{
    char uuid[37];
    route_uuid(r->name, uuid);
    const struct trg_source_conf *s = trg_config_source(cfg, r->source);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(status, "enabled");
    bool enabled = status ? cJSON_IsTrue(en) : r->enabled;
    int rc = trg_buf_addf(b, "{\"UUID\":\"%s\",\"BatchSize\":%lld,\"MaximumBatchingWindowInSeconds\":%lld,",
                          uuid, (long long)r->batch_size, (long long)((r->batch_window_ms + 999) / 1000));
    rc |= trg_buf_addf(b, "\"EventSourceArn\":\"arn:trigd:%s:::%s\",", s ? s->type : "source", r->source);
    rc |= trg_buf_addf(b, "\"FunctionArn\":\"arn:aws:lambda:%s:%s:function:%s\",", TRG_AWS_REGION,
                       TRG_AWS_ACCOUNT, r->function);
    rc |= trg_buf_addf(b, "\"State\":\"%s\",\"StateTransitionReason\":\"trigd route %s\",",
                       enabled ? "Enabled" : "Disabled", r->name);
    rc |= trg_buf_addf(b,
                       "\"MaximumRetryAttempts\":%lld,\"MaximumRecordAgeInSeconds\":%lld,"
                       "\"BisectBatchOnFunctionError\":%s,\"FunctionResponseTypes\":[%s]",
                       (long long)r->max_retry_attempts, (long long)r->max_record_age_s,
                       r->bisect_on_error ? "true" : "false",
                       r->report_batch_item_failures ? "\"ReportBatchItemFailures\"" : "");
    if (cJSON_IsArray(r->filters)) {
        rc |= trg_buf_adds(b, ",\"FilterCriteria\":{\"Filters\":[");
        int i = 0;
        for (const cJSON *p = r->filters->child; p; p = p->next, i++) {
            char *txt = cJSON_PrintUnformatted(p);
            rc |= trg_buf_adds(b, i ? ",{\"Pattern\":" : "{\"Pattern\":");
            rc |= txt ? trg_buf_add_json_str(b, txt, strlen(txt)) : TRG_ENOMEM;
            rc |= trg_buf_addc(b, '}');
            cJSON_free(txt);
        }
        rc |= trg_buf_adds(b, "]}");
    }
    rc |= trg_buf_adds(b, ",\"DestinationConfig\":{\"OnFailure\":{\"Destination\":");
    const char *of = r->on_failure ? r->on_failure : "dlq";
    char *dest = strcmp(of, "dlq") == 0 ? trg_asprintf("trigd:dlq:%s", r->name) : trg_strdup(of);
    rc |= dest ? trg_buf_add_json_str(b, dest, strlen(dest)) : TRG_ENOMEM;
    trg_free(dest);
    return rc | trg_buf_adds(b, "}}}");
}

/* The engine's routes status, by route name (NULL when it cannot be had). */
static cJSON *routes_status(struct trg_lambda_api *api)
{
    struct trg_buf b = {0};
    cJSON *j = NULL;
    if (trg_engine_routes_json(api->e, &b) == 0 && b.data)
        j = cJSON_Parse(b.data);
    trg_buf_free(&b);
    return j;
}

static const cJSON *status_of(const cJSON *all, const char *route)
{
    for (const cJSON *it = all ? all->child : NULL; it; it = it->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, route) == 0)
            return it;
    }
    return NULL;
}

/* The FunctionName= query parameter (a name or ARN), as a function name; NULL when absent. */
static char *function_filter(struct trg_http_req *req)
{
    const char *q = trg_http_req_query(req);
    const char *p = strstr(q, "FunctionName=");
    if (!p || (p != q && p[-1] != '&'))
        return NULL;
    p += strlen("FunctionName=");
    size_t n = strcspn(p, "&");
    struct trg_invoke_call c;
    char *path = trg_asprintf(FUNCTIONS "%.*s/invocations", (int)n, p);
    /* the value is %-encoded (ARNs carry %3A): decode the few characters names and ARNs use */
    struct trg_buf dec = {0};
    for (size_t i = 0; path && path[i]; i++) {
        if (path[i] == '%' && path[i + 1] == '3' && (path[i + 2] == 'A' || path[i + 2] == 'a')) {
            trg_buf_addc(&dec, ':');
            i += 2;
        } else if (path[i] == '%' && path[i + 1] == '2' && path[i + 2] == '4') {
            trg_buf_addc(&dec, '$');
            i += 2;
        } else {
            trg_buf_addc(&dec, path[i]);
        }
    }
    trg_free(path);
    char *name = NULL;
    if (dec.data && trg_invoke_api_parse(dec.data, "", NULL, NULL, &c) == 0) {
        name = c.name;
        c.name = NULL;
        trg_invoke_call_clear(&c);
    } else {
        name = trg_strdup("");
    }
    trg_buf_free(&dec);
    return name;
}

static void list_mappings(struct trg_lambda_api *api, struct trg_http_req *req)
{
    const struct trg_config *cfg = trg_engine_config(api->e);
    char *only = function_filter(req);
    cJSON *st = routes_status(api);
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"EventSourceMappings\":[");
    bool first = true;
    for (size_t i = 0; cfg && i < cfg->n_routes; i++) {
        const struct trg_route_conf *r = &cfg->routes[i];
        if (only && strcmp(only, r->function) != 0)
            continue;
        rc |= trg_buf_adds(&b, first ? "" : ",");
        rc |= add_mapping(&b, cfg, r, status_of(st, r->name));
        first = false;
    }
    rc |= trg_buf_adds(&b, "],\"NextMarker\":null}");
    cJSON_Delete(st);
    trg_free(only);
    respond_built(req, rc, &b);
}

/* UpdateEventSourceMapping: only {"Enabled": bool} (with the UUID again, at most) pauses or resumes the route.
 * false when the request has been answered with an error. */
static bool update_mapping(struct trg_lambda_api *api, struct trg_http_req *req, const char *route)
{
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    cJSON *j = trg_json_parse(body, len, NULL);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "Enabled");
    bool only_enabled = cJSON_IsObject(j) && cJSON_IsBool(en);
    for (const cJSON *it = only_enabled ? j->child : NULL; it; it = it->next)
        if (strcmp(it->string, "Enabled") != 0 && strcmp(it->string, "UUID") != 0)
            only_enabled = false;
    bool enabled = cJSON_IsTrue(en);
    cJSON_Delete(j);
    if (!only_enabled) {
        trg_aws_respond_error(
            req, 400, "InvalidParameterValueException",
            "trigd changes only Enabled through UpdateEventSourceMapping: edit the route in the "
            "config and reload (SIGHUP) for anything else",
            NULL);
        return false;
    }
    int rc = trg_engine_route_set_enabled(api->e, route, enabled);
    if (rc == TRG_EINVAL) {
        trg_aws_respond_errorf(
            req, 400, "InvalidParameterValueException", NULL,
            "route %s is disabled in the config (\"enabled\": false): enable it there and reload", route);
        return false;
    }
    if (rc != 0) {
        trg_aws_respond_errorf(req, 409, "ResourceConflictException", NULL,
                               "route %s cannot be changed now: %s", route, trg_strerror(rc));
        return false;
    }
    return true;
}

static void get_mapping(struct trg_lambda_api *api, struct trg_http_req *req, const char *uuid)
{
    const struct trg_config *cfg = trg_engine_config(api->e);
    for (size_t i = 0; cfg && i < cfg->n_routes; i++) {
        char u[37];
        route_uuid(cfg->routes[i].name, u);
        if (strcmp(u, uuid) != 0)
            continue;
        if (strcmp(trg_http_req_method(req), "GET") != 0 && !update_mapping(api, req, cfg->routes[i].name))
            return;
        cJSON *st = routes_status(api);
        struct trg_buf b = {0};
        int rc = add_mapping(&b, cfg, &cfg->routes[i], status_of(st, cfg->routes[i].name));
        cJSON_Delete(st);
        respond_built(req, rc, &b);
        return;
    }
    trg_aws_respond_errorf(
        req, 404, "ResourceNotFoundException", NULL,
        "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request "
        "ID: none) no event source mapping %s",
        uuid);
}

/* --- routing ------------------------------------------------------------------------------------------- */

static void not_supported(struct trg_http_req *req)
{
    trg_aws_respond_errorf(
        req, 400, "InvalidParameterValueException", NULL,
        "%s %s is not supported by trigd: its Lambda API serves Invoke, InvokeAsync and read-only "
        "function and event source mapping operations (docs/ADMIN.md)",
        trg_http_req_method(req), trg_http_req_path(req));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void on_lambda(void *arg, struct trg_http_req *req)
{
    struct trg_lambda_api *api = arg;
    /* Over the route's limit the body was not kept, so its signature cannot be checked: the size is the
     * answer (it tells an unauthenticated client nothing). */
    if (trg_http_req_too_large(req)) {
        trg_aws_respond_errorf(
            req, 413, "RequestEntityTooLargeException", NULL,
            "Request must be smaller than %u bytes for the %s operation",
            strncmp(trg_http_req_path(req), API_2014, strlen(API_2014)) == 0 ? INVOKE_ASYNC_MAX_BODY
                                                                             : INVOKE_MAX_BODY,
            strncmp(trg_http_req_path(req), API_2014, strlen(API_2014)) == 0 ? "InvokeAsync"
                                                                             : "InvokeFunction");
        return;
    }
    if (!authorized(api, req))
        return;
    const char *method = trg_http_req_method(req);
    const char *path = trg_http_req_path(req);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strncmp(path, API_2014, strlen(API_2014)) == 0) {
        if (post && (ends_with(path, "/invoke-async/") || ends_with(path, "/invoke-async")))
            trg_invoke_api_handle(api->e, api->async, req);
        else
            not_supported(req);
        return;
    }
    if (strncmp(path, API_EVENT_INVOKE "functions/", strlen(API_EVENT_INVOKE "functions/")) == 0 && get) {
        get_event_invoke_config(api, req, path + strlen(API_EVENT_INVOKE "functions/"));
        return;
    }
    if (strncmp(path, API_2019, strlen(API_2019)) == 0) {
        if (get && strncmp(path, API_2019 "functions/", strlen(API_2019 "functions/")) == 0)
            get_function(api, req, path + strlen(API_2019 "functions/"), true);
        else
            not_supported(req);
        return;
    }
    if (strncmp(path, FUNCTIONS, strlen(FUNCTIONS)) == 0) {
        const char *rest = path + strlen(FUNCTIONS);
        if (post && ends_with(path, "/invocations"))
            trg_invoke_api_handle(api->e, api->async, req);
        else if (get && !*rest)
            list_functions(api, req);
        else if (get)
            get_function(api, req, rest, false);
        else
            not_supported(req);
        return;
    }
    if (strcmp(path, "/2015-03-31/functions") == 0 && get) {
        list_functions(api, req);
        return;
    }
    if (strncmp(path, MAPPINGS, strlen(MAPPINGS)) == 0 ||
        strcmp(path, "/2015-03-31/event-source-mappings") == 0) {
        const char *rest = path + (strlen(path) >= strlen(MAPPINGS) ? strlen(MAPPINGS) : strlen(path));
        if (get && !*rest)
            list_mappings(api, req);
        else if (*rest && !strchr(rest, '/') && (get || strcmp(method, "PUT") == 0))
            get_mapping(api, req, rest);
        else
            not_supported(req);
        return;
    }
    not_supported(req);
}

int trg_lambda_api_register(struct trg_engine *e, struct trg_http *h, struct trg_lambda_api **out)
{
    struct trg_lambda_api *api = trg_calloc(1, sizeof *api);
    if (!api)
        return TRG_ENOMEM;
    api->e = e;
    int rc = trg_async_create(e, &api->async);
    if (rc == 0 &&
        ((rc = trg_http_route_oversize(h, NULL, API_2015, INVOKE_MAX_BODY, true, on_lambda, api)) != 0 ||
         (rc = trg_http_route_oversize(h, NULL, API_2014, INVOKE_ASYNC_MAX_BODY, true, on_lambda, api)) !=
             0 ||
         (rc = trg_http_route(h, NULL, API_2019, MGMT_MAX_BODY, on_lambda, api)) != 0 ||
         (rc = trg_http_route(h, NULL, API_EVENT_INVOKE, MGMT_MAX_BODY, on_lambda, api)) != 0))
        trg_http_unroute(h, api);
    for (size_t i = 0; rc == 0 && i < TRG_ARRAY_SIZE(other_prefixes); i++)
        if ((rc = trg_http_route(h, NULL, other_prefixes[i], MGMT_MAX_BODY, on_lambda, api)) != 0)
            trg_http_unroute(h, api);
    if (rc != 0) {
        trg_error("lambda-api", NULL, "cannot register the Lambda API: %s", trg_strerror(rc));
        trg_lambda_api_destroy(api);
        return rc;
    }
    *out = api;
    return 0;
}

void trg_lambda_api_stop(struct trg_lambda_api *api)
{
    if (api)
        trg_async_stop(api->async);
}

void trg_lambda_api_destroy(struct trg_lambda_api *api)
{
    if (!api)
        return;
    trg_async_destroy(api->async);
    trg_free(api);
}
