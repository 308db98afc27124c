/* runtime_api.c — the Lambda Runtime API (2018-06-01) an instance talks to (see runtime.h and
 * reference/lambda-runtime-api.md).
 *
 * Each instance has its own libmicrohttpd daemon on 127.0.0.1 with a free port, driven from the
 * loop like trigd's main server (src/http.c): the port says which instance asks. `next` is a
 * suspended request (parked in inst->next_req) until the pool hands the instance an invoke.
 * Answers, with Lambda's statuses and bodies:
 *   GET  /2018-06-01/runtime/invocation/next          200 event | 403 InvalidStateTransition
 *   POST /2018-06-01/runtime/invocation/ID/response   202 | 400 InvalidRequestID | 403 | 413
 *   POST /2018-06-01/runtime/invocation/ID/error      202 | 400 | 403 | 413
 *   POST /2018-06-01/runtime/init/error               202 | 403 outside init
 * Extensions API (register, event/next answered with SHUTDOWN so an extension exits cleanly, init
 * and exit errors) and the Telemetry and Logs subscriptions are accepted and otherwise ignored.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../http.h"
#include "../log.h"
#include "runtime.h"

#define API "/2018-06-01/runtime"
#define INVOCATION API "/invocation/"
#define RT_CONN_MEMORY (16 * 1024) /* libmicrohttpd's pool per connection: headers and read buffer */
#define RT_CONNS 8                 /* the runtime's client and an extension or two */

static const char json_ct[] = "application/json";

static void respond_err(struct trg_http_req *req, int status, const char *type, const char *msg)
{
    char *body = rt_error_body(type, msg);
    if (!body)
        trg_http_respond(req, 500, json_ct, "{}", 2, NULL);
    else
        trg_http_respond(req, status, json_ct, body, strlen(body), NULL);
    trg_free(body);
}

static void respond_accepted(struct trg_http_req *req)
{
    static const char ok[] = "{\"status\":\"OK\"}";
    trg_http_respond(req, 202, json_ct, ok, sizeof ok - 1, NULL);
}

static const char *const state_names[] = {"Init", "Idle", "Invoke", "Finishing", "Stopping"};

static void respond_transition(struct trg_http_req *req, const struct rt_inst *inst, const char *to)
{
    char msg[160];
    snprintf(msg, sizeof msg, "State transition from %s to %s failed for runtime. Error: invalid transition",
             state_names[inst->state], to);
    respond_err(req, 403, "InvalidStateTransition", msg);
}

bool rt_valid_error_type(const char *t)
{
    size_t p;
    if (!t)
        return false;
    if (strncmp(t, "Runtime.", 8) == 0)
        p = 8;
    else if (strncmp(t, "Function.", 9) == 0)
        p = 9;
    else
        return false;
    if (t[p] < 'A' || t[p] > 'Z' || !t[p + 1]) /* [A-Z][a-zA-Z]+: two letters at least */
        return false;
    for (p++; t[p]; p++)
        if (!((t[p] >= 'a' && t[p] <= 'z') || (t[p] >= 'A' && t[p] <= 'Z')))
            return false;
    return true;
}

char *rt_error_body(const char *type, const char *msg)
{
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"errorMessage\":");
    rc |= trg_buf_add_json_str(&b, msg, strlen(msg));
    rc |= trg_buf_adds(&b, ",\"errorType\":");
    rc |= trg_buf_add_json_str(&b, type, strlen(type));
    rc |= trg_buf_adds(&b, "}");
    if (rc != 0) {
        trg_buf_free(&b);
        return NULL;
    }
    return trg_buf_steal(&b);
}

static void on_next(void *arg, struct trg_http_req *req)
{
    struct rt_inst *inst = arg;

    if (inst->next_req || inst->state == RT_BUSY || inst->state == RT_STOPPING) {
        respond_transition(req, inst, "Ready");
        return;
    }
    inst->next_req = req; /* parked: answered when an invoke is handed over */
    rt_inst_next(inst);
}

/* The errorType of a posted error: a valid header, else the body's own "errorType", else Runtime.Unknown. */
static char *error_type(struct trg_http_req *req, const char *body, size_t len)
{
    const char *h = trg_http_req_header(req, "Lambda-Runtime-Function-Error-Type");
    if (rt_valid_error_type(h))
        return trg_strdup(h);
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
    char *r = trg_strdup(cJSON_IsString(t) && t->valuestring[0] ? t->valuestring : "Runtime.Unknown");
    cJSON_Delete(j);
    return r;
}

static void on_invocation(void *arg, struct trg_http_req *req)
{
    struct rt_inst *inst = arg;
    const char *path = trg_http_req_path(req) + strlen(INVOCATION);
    const char *slash = strchr(path, '/');
    bool is_error;

    if (!slash || slash == path || strchr(slash + 1, '/')) {
        respond_err(req, 404, "NotFound",
                    "expected POST /2018-06-01/runtime/invocation/{id}/response or /error");
        return;
    }
    if (strcmp(slash + 1, "response") == 0)
        is_error = false;
    else if (strcmp(slash + 1, "error") == 0)
        is_error = true;
    else {
        respond_err(req, 404, "NotFound",
                    "expected POST /2018-06-01/runtime/invocation/{id}/response or /error");
        return;
    }
    size_t idlen = (size_t)(slash - path);
    bool current = inst->call && strlen(inst->call->request_id) == idlen &&
                   memcmp(inst->call->request_id, path, idlen) == 0;
    bool answered = !current && inst->answered_id[0] && strlen(inst->answered_id) == idlen &&
                    memcmp(inst->answered_id, path, idlen) == 0;
    if (answered && inst->state != RT_STOPPING) {
        respond_transition(req, inst, is_error ? "InvocationErrorResponse" : "InvocationResponse");
        return;
    }
    if (!current) {
        trg_info("runtime", inst->fn->name, "instance %u answered %.*s, which is not its current invoke: 400",
                 inst->id, (int)idlen, path);
        respond_err(req, 400, "InvalidRequestID", "Invalid request ID");
        return;
    }
    if (trg_http_req_too_large(req)) {
        respond_err(req, 413, "RequestEntityTooLarge",
                    "Exceeded maximum allowed payload size (6291556 bytes).");
        rt_inst_too_large(inst);
        return;
    }
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    char *type = is_error ? error_type(req, body, len) : NULL;
    if (is_error && !type) {
        trg_http_respond(req, 500, json_ct, "{}", 2, NULL);
        return;
    }
    respond_accepted(req);
    rt_inst_answer(inst, is_error, type, body, len, trg_http_req_header(req, "Content-Type"));
    trg_free(type);
}

static void on_init_error(void *arg, struct trg_http_req *req)
{
    struct rt_inst *inst = arg;

    if (inst->state != RT_STARTING || inst->init_error) {
        respond_transition(req, inst, "InitError");
        return;
    }
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    inst->init_error_type = error_type(req, body, len);
    inst->init_error = trg_strndup(body, len);
    if (!inst->init_error || !inst->init_error_type) {
        trg_free(inst->init_error);
        trg_free(inst->init_error_type);
        inst->init_error = inst->init_error_type = NULL;
        trg_http_respond(req, 500, json_ct, "{}", 2, NULL);
        return;
    }
    trg_warn("runtime", inst->fn->name, "instance %u reported an init error (%s): %.*s", inst->id,
             inst->init_error_type, (int)(len > 512 ? 512 : len), body);
    respond_accepted(req);
    /* The runtime exits now; if it does not, it is stopped after the kill grace. */
    rt_inst_stop(inst, SIGTERM);
}

/* ---- extensions, telemetry: enough for an extension to exit cleanly ---- */

static void on_ext_register(void *arg, struct trg_http_req *req)
{
    struct rt_inst *inst = arg;
    struct trg_buf b = {0};
    const char *hdrs[] = {"Lambda-Extension-Identifier", "trigd-extension", NULL};
    int rc = trg_buf_adds(&b, "{\"functionName\":");
    rc |= trg_buf_add_json_str(&b, inst->fn->name, strlen(inst->fn->name));
    rc |= trg_buf_adds(&b, ",\"functionVersion\":\"$LATEST\",\"handler\":");
    const char *h = inst->fn->opts->handler ? inst->fn->opts->handler : "";
    rc |= trg_buf_add_json_str(&b, h, strlen(h));
    rc |= trg_buf_adds(&b, "}");
    if (rc != 0)
        trg_http_respond(req, 500, json_ct, "{}", 2, NULL);
    else
        trg_http_respond(req, 200, json_ct, b.data, b.len, hdrs);
    trg_buf_free(&b);
}

static void on_ext_next(void *arg, struct trg_http_req *req)
{
    (void)arg;
    char body[128];
    int n = snprintf(body, sizeof body,
                     "{\"eventType\":\"SHUTDOWN\",\"shutdownReason\":\"spindown\",\"deadlineMs\":%lld}",
                     (long long)trg_wall_ms() + 500);
    trg_http_respond(req, 200, json_ct, body, (size_t)n, NULL);
}

static void on_ext_error(void *arg, struct trg_http_req *req)
{
    (void)arg;
    respond_accepted(req);
}

static void on_subscribe(void *arg, struct trg_http_req *req)
{
    (void)arg;
    trg_http_respond(req, 200, "text/plain", "OK", 2, NULL);
}

/* ---- the listener ---- */

int rt_api_open(struct rt_inst *inst)
{
    const struct trg_http_opts ho = {
        .max_connections = RT_CONNS, .reserved_connections = 1, .conn_memory = RT_CONN_MEMORY, .no_idle_timeout = true,
        .quiet = true};
    int rc = trg_http_create_with(inst->fn->loop, "127.0.0.1:0", &ho, &inst->api);
    if (rc != 0)
        return rc;
    inst->port = trg_http_port(inst->api);
    if ((rc = trg_http_route(inst->api, "GET", INVOCATION "next", 0, on_next, inst)) != 0 ||
        (rc = trg_http_route_oversize(inst->api, "POST", INVOCATION, RT_MAX_RESPONSE, true, on_invocation,
                                      inst)) != 0 ||
        (rc = trg_http_route(inst->api, "POST", API "/init/error", 1 << 20, on_init_error, inst)) != 0 ||
        (rc = trg_http_route(inst->api, "POST", "/2020-01-01/extension/register", 1 << 16, on_ext_register,
                             inst)) != 0 ||
        (rc = trg_http_route(inst->api, "GET", "/2020-01-01/extension/event/next", 0, on_ext_next, inst)) !=
            0 ||
        (rc = trg_http_route(inst->api, "POST", "/2020-01-01/extension/init/error", 1 << 20, on_ext_error,
                             inst)) != 0 ||
        (rc = trg_http_route(inst->api, "POST", "/2020-01-01/extension/exit/error", 1 << 20, on_ext_error,
                             inst)) != 0 ||
        (rc = trg_http_route(inst->api, "PUT", "/2022-07-01/telemetry", 1 << 16, on_subscribe, inst)) != 0 ||
        (rc = trg_http_route(inst->api, "PUT", "/2020-08-15/logs", 1 << 16, on_subscribe, inst)) != 0) {
        trg_http_destroy(inst->api);
        inst->api = NULL;
        return rc;
    }
    return 0;
}

bool rt_api_hand(struct rt_inst *inst, struct rt_call *call)
{
    struct trg_http_req *req = inst->next_req;
    char deadline[32], arn[512];

    inst->next_req = NULL;
    if (trg_http_req_closed(req)) {
        trg_http_respond(req, 500, json_ct, "{}", 2, NULL); /* frees it; nobody reads it */
        return false;
    }
    snprintf(deadline, sizeof deadline, "%lld", (long long)trg_wall_ms() + (long long)call->timeout_ms);
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:000000000000:function:%s", inst->fn->opts->region,
             inst->fn->name);
    const char *hdrs[] = {"Lambda-Runtime-Aws-Request-Id",
                          call->request_id,
                          "Lambda-Runtime-Deadline-Ms",
                          deadline,
                          "Lambda-Runtime-Invoked-Function-Arn",
                          arn,
                          "Lambda-Runtime-Trace-Id",
                          "Root=1-00000000-000000000000000000000000;Sampled=0",
                          NULL,
                          NULL,
                          NULL};
    if (call->client_context) { /* one line of JSON (the Invoke API re-printed it) */
        hdrs[8] = "Lambda-Runtime-Client-Context";
        hdrs[9] = call->client_context;
    }
    trg_http_respond(req, 200, json_ct, call->payload ? call->payload : "{}", call->payload ? call->len : 2,
                     hdrs);
    return true;
}

void rt_api_close(struct rt_inst *inst)
{
    if (inst->next_req) {
        trg_http_respond(inst->next_req, 500, json_ct, "{}", 2, NULL);
        inst->next_req = NULL;
    }
    trg_http_destroy(inst->api);
    inst->api = NULL;
}
