/* admin.c — the admin API (/admin/...) for trigctl on trigd's HTTP server: status, routes, schedules,
 * DLQ list/show/purge, and the routing of the DLQ paths (redrive is redrive.c; the Lambda Invoke API,
 * invoke_api.c, is registered here too).
 *
 * Every handler gets the engine as its argument; what an asynchronous operation needs lives in a
 * context allocated per request and freed when the request is answered. docs/ADMIN.md describes
 * the endpoints.
 */
#include "admin.h"
#include "admin_http.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dlq.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "redrive.h"
#include "util.h"

#define ADMIN_PREFIX "/admin/"
#define DLQ_PREFIX "/admin/dlq/"
#define ADMIN_MAX_BODY 65536u
#define LIST_DEFAULT 50
#define LIST_MAX 1000

/* --- small helpers ---------------------------------------------------------------------------- */

void trg_admin_respond_json(struct trg_http_req *req, int status, const struct trg_buf *b)
{
    trg_http_respond(req, status, "application/json", b->data ? b->data : "", b->len, NULL);
}

void trg_admin_respond_oom(struct trg_http_req *req) { trg_http_respond_error(req, 500, "out of memory"); }
/* Answer 200 with the JSON built in b, or 500 when building it failed (rc != 0); frees b. */
void trg_admin_respond_built(struct trg_http_req *req, int rc, struct trg_buf *b)
{
    if (rc != 0)
        trg_admin_respond_oom(req);
    else
        trg_admin_respond_json(req, 200, b);
    trg_buf_free(b);
}

/* The token in force: the running config's, so that a reload that changes it takes effect. */
static const char *current_token(const struct trg_engine *e)
{
    const struct trg_config *cfg = trg_engine_config(e);
    return cfg ? cfg->http.admin_token : NULL;
}

/* true when the request may go on; otherwise it has been answered 401. */
bool trg_admin_authorized(const struct trg_engine *e, struct trg_http_req *req)
{
    const char *token = current_token(e);
    if (!token)
        return true;
    const char *auth = trg_http_req_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *given = auth + 7;
        while (*given == ' ')
            given++;
        if (*given && trg_secure_streq(given, token))
            return true;
    }
    trg_info("admin", NULL, "%s %s from %s: %s bearer token; answered 401", trg_http_req_method(req),
             trg_http_req_path(req), trg_http_req_remote(req), auth ? "wrong" : "no");
    static const char *const hdrs[] = {"WWW-Authenticate", "Bearer realm=\"trigd\"", NULL};
    static const char body[] = "{\"error\":\"unauthorized: send Authorization: Bearer <admin token>\"}";
    trg_http_respond(req, 401, "application/json", body, sizeof body - 1, hdrs);
    return false;
}

/* Append a stored record: as JSON when it is JSON, else as a JSON string. */
int trg_admin_add_record(struct trg_buf *b, const char *record, size_t len)
{
    cJSON *j = trg_json_parse(record, len, NULL);
    if (!j)
        return trg_buf_add_json_str(b, record, len);
    cJSON_Delete(j);
    return trg_buf_add(b, record, len);
}

int trg_admin_add_kv_str(struct trg_buf *b, const char *key, const char *value)
{
    int rc = trg_buf_addf(b, "\"%s\":", key);
    return rc | trg_buf_add_json_str(b, value, strlen(value));
}

/* HTTP status for an error code of the DLQ or the engine. */
int trg_admin_status_of(int err)
{
    switch (err) {
    case TRG_EINVAL:
        return 400;
    case TRG_ENOTFOUND:
        return 404;
    case TRG_EFULL:
    case TRG_ESTATE:
        return 503;
    default:
        return 500;
    }
}

void trg_admin_respond_err(struct trg_http_req *req, int err, const char *what)
{
    char *msg = trg_asprintf("%s: %s", what, trg_strerror(err));
    trg_http_respond_error(req, trg_admin_status_of(err), msg ? msg : what);
    trg_free(msg);
}

/* --- status and routes ------------------------------------------------------------------------ */

static void on_status(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    struct trg_buf b = {0};
    trg_admin_respond_built(req, trg_engine_status_json(e, &b), &b);
}

/* {"schedules":[...]}: every schedule source with its next N fire times (?next=N, 1-100, default 5),
 * in its zone and in UTC. */
static void on_schedules(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    long next_n = 5;
    const char *q = strstr(trg_http_req_query(req), "next=");
    if (q) {
        char *end;
        next_n = strtol(q + 5, &end, 10);
        if (end == q + 5 || (*end && *end != '&') || next_n < 1 || next_n > 100) {
            trg_http_respond_error(req, 400, "next must be a number from 1 to 100");
            return;
        }
    }
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"schedules\":");
    rc = rc ? rc : trg_engine_sources_status_json(e, "schedule", (int)next_n, &b);
    rc = rc ? rc : trg_buf_addc(&b, '}');
    trg_admin_respond_built(req, rc, &b);
}

/* {"routes":[...]}: the routes part of the status. */
static void on_routes(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"routes\":");
    rc = rc ? rc : trg_engine_routes_json(e, &b);
    rc = rc ? rc : trg_buf_addc(&b, '}');
    trg_admin_respond_built(req, rc, &b);
}

/* POST /admin/routes/{route}/pause and .../resume: trg_engine_route_set_enabled(). */
static void on_route_action(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    const char *rest = trg_http_req_path(req) + strlen("/admin/routes/");
    const char *slash = strrchr(rest, '/');
    bool pause = slash && strcmp(slash, "/pause") == 0, resume = slash && strcmp(slash, "/resume") == 0;
    if (!pause && !resume) {
        trg_http_respond_error(req, 404, "expected POST /admin/routes/{route}/pause or .../resume");
        return;
    }
    char *route = trg_strndup(rest, (size_t)(slash - rest));
    if (!route) {
        trg_admin_respond_oom(req);
        return;
    }
    int rc = trg_engine_route_set_enabled(e, route, resume);
    if (rc == TRG_EINVAL) {
        trg_http_respond_error(req, 400, "the route is disabled in the config: enable it there and reload");
    } else if (rc != 0) {
        trg_admin_respond_err(req, rc, "route");
    } else {
        struct trg_buf b = {0};
        int brc = trg_buf_adds(&b, "{");
        brc |= trg_admin_add_kv_str(&b, "route", route);
        brc |= trg_buf_addf(&b, ",\"enabled\":%s}", resume ? "true" : "false");
        trg_admin_respond_built(req, brc, &b);
    }
    trg_free(route);
}

/* Anything else under /admin/: 404 (after the token check, so that nothing leaks without one). */
static void on_admin_other(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    trg_http_respond_error(req, 404, "no such admin endpoint (see docs/ADMIN.md)");
}

/* --- DLQ: list, show, purge ------------------------------------------------------------------- */

struct dlq_op {
    struct trg_http_req *req;
    char *route;
    size_t count; /* list: how many were asked for */
};

static struct dlq_op *dlq_op_new(struct trg_http_req *req, const char *route)
{
    struct dlq_op *op = trg_calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->req = req;
    op->route = trg_strdup(route);
    if (!op->route) {
        trg_free(op);
        return NULL;
    }
    return op;
}

static void dlq_op_free(struct dlq_op *op)
{
    trg_free(op->route);
    trg_free(op);
}

static int add_entry(struct trg_buf *b, const struct trg_dlq_entry *en)
{
    int rc = trg_buf_adds(b, "{");
    rc |= trg_admin_add_kv_str(b, "id", en->id);
    rc |= trg_buf_adds(b, ",\"record\":");
    rc |= trg_admin_add_record(b, en->record, en->len);
    rc |= trg_buf_adds(b, "}");
    return rc;
}

static void list_done(void *arg, int err, const struct trg_dlq_entry *entries, size_t n)
{
    struct dlq_op *op = arg;
    if (err != 0) {
        trg_admin_respond_err(op->req, err, "cannot list the DLQ");
        dlq_op_free(op);
        return;
    }
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{");
    rc |= trg_admin_add_kv_str(&b, "route", op->route);
    rc |= trg_buf_adds(&b, ",\"entries\":[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= i ? trg_buf_adds(&b, ",") : 0;
        rc |= add_entry(&b, &entries[i]);
    }
    /* "next" is the cursor for the following page, null once this page is the last. */
    rc |= trg_buf_adds(&b, "],\"next\":");
    if (n > 0 && n >= op->count)
        rc |= trg_buf_add_json_str(&b, entries[n - 1].id, strlen(entries[n - 1].id));
    else
        rc |= trg_buf_adds(&b, "null");
    rc |= trg_buf_adds(&b, "}");
    if (rc != 0)
        trg_admin_respond_oom(op->req);
    else
        trg_admin_respond_json(op->req, 200, &b);
    trg_buf_free(&b);
    dlq_op_free(op);
}

static void get_done(void *arg, int err, const struct trg_dlq_entry *entries, size_t n)
{
    struct dlq_op *op = arg;
    if (err == TRG_ENOTFOUND || (err == 0 && n == 0)) {
        trg_http_respond_error(op->req, 404, "no such DLQ entry");
    } else if (err != 0) {
        trg_admin_respond_err(op->req, err, "cannot read the DLQ");
    } else {
        struct trg_buf b = {0};
        int rc = trg_buf_adds(&b, "{");
        rc |= trg_admin_add_kv_str(&b, "route", op->route);
        rc |= trg_buf_adds(&b, ",");
        rc |= trg_admin_add_kv_str(&b, "id", entries[0].id);
        rc |= trg_buf_adds(&b, ",\"record\":");
        rc |= trg_admin_add_record(&b, entries[0].record, entries[0].len);
        rc |= trg_buf_adds(&b, "}");
        if (rc != 0)
            trg_admin_respond_oom(op->req);
        else
            trg_admin_respond_json(op->req, 200, &b);
        trg_buf_free(&b);
    }
    dlq_op_free(op);
}

static void purge_done(void *arg, int err, long count)
{
    struct dlq_op *op = arg;
    if (err != 0) {
        trg_admin_respond_err(op->req, err, "cannot purge the DLQ");
    } else {
        trg_info("admin", op->route, "DLQ purged: %ld entr%s removed", count, count == 1 ? "y" : "ies");
        struct trg_buf b = {0};
        if (trg_buf_addf(&b, "{\"purged\":%ld}", count) != 0)
            trg_admin_respond_oom(op->req);
        else
            trg_admin_respond_json(op->req, 200, &b);
        trg_buf_free(&b);
    }
    dlq_op_free(op);
}

struct list_args {
    const char *after;
    const char *count;
};

static void collect_list_arg(void *arg, const char *name, const char *value)
{
    struct list_args *a = arg;
    if (strcmp(name, "after") == 0 && value && *value)
        a->after = value;
    else if (strcmp(name, "count") == 0)
        a->count = value ? value : "";
}

static void dlq_list(struct trg_engine *e, struct trg_http_req *req, const char *route)
{
    struct list_args a = {0};
    trg_http_req_each_query(req, collect_list_arg, &a);
    long count = LIST_DEFAULT;
    if (a.count) {
        char *end;
        errno = 0;
        count = strtol(a.count, &end, 10);
        if (errno || end == a.count || *end || count < 1 || count > LIST_MAX) {
            trg_http_respond_error(req, 400, "count must be an integer from 1 to 1000");
            return;
        }
    }
    struct dlq_op *op = dlq_op_new(req, route);
    if (!op) {
        trg_admin_respond_oom(req);
        return;
    }
    op->count = (size_t)count;
    int rc = trg_dlq_list(trg_engine_dlq(e), route, a.after, (size_t)count, list_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        trg_admin_respond_err(req, rc, rc == TRG_EINVAL ? "bad route name or after id" : "cannot list the DLQ");
    }
}

static void dlq_show(struct trg_engine *e, struct trg_http_req *req, const char *route, const char *id)
{
    struct dlq_op *op = dlq_op_new(req, route);
    if (!op) {
        trg_admin_respond_oom(req);
        return;
    }
    int rc = trg_dlq_get(trg_engine_dlq(e), route, id, get_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        trg_admin_respond_err(req, rc, rc == TRG_EINVAL ? "bad route name or entry id" : "cannot read the DLQ");
    }
}

static void dlq_purge(struct trg_engine *e, struct trg_http_req *req, const char *route)
{
    struct dlq_op *op = dlq_op_new(req, route);
    if (!op) {
        trg_admin_respond_oom(req);
        return;
    }
    int rc = trg_dlq_purge(trg_engine_dlq(e), route, purge_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        trg_admin_respond_err(req, rc, rc == TRG_EINVAL ? "bad route name" : "cannot purge the DLQ");
    }
}

/* /admin/dlq/{route}[/{id}|/redrive] */
static void on_dlq(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!trg_admin_authorized(e, req))
        return;
    const char *method = trg_http_req_method(req);
    const char *rest = trg_http_req_path(req) + strlen(DLQ_PREFIX);
    const char *slash = strchr(rest, '/');
    size_t route_len = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : "";
    if (route_len == 0 || strchr(sub, '/')) {
        trg_http_respond_error(req, 404,
                               "expected /admin/dlq/ROUTE, /admin/dlq/ROUTE/ID or /admin/dlq/ROUTE/redrive");
        return;
    }
    char *route = trg_strndup(rest, route_len);
    if (!route) {
        trg_admin_respond_oom(req);
        return;
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const char *allow = NULL;
    if (!*sub) {
        if (get)
            dlq_list(e, req, route);
        else if (strcmp(method, "DELETE") == 0)
            dlq_purge(e, req, route);
        else
            allow = "GET, DELETE";
    } else if (strcmp(sub, "redrive") == 0) {
        if (strcmp(method, "POST") == 0)
            trg_redrive_request(e, req, route);
        else
            allow = "POST";
    } else if (get) {
        dlq_show(e, req, route, sub);
    } else {
        allow = "GET";
    }
    if (allow) {
        const char *hdrs[] = {"Allow", allow, NULL};
        static const char body[] = "{\"error\":\"method not allowed on this path\"}";
        trg_http_respond(req, 405, "application/json", body, sizeof body - 1, hdrs);
    }
    trg_free(route);
}

/* --- registration ----------------------------------------------------------------------------- */

int trg_admin_register(struct trg_engine *e, struct trg_http *h)
{
    int rc;
    if ((rc = trg_http_route(h, "GET", "/admin/status", 0, on_status, e)) != 0 ||
        (rc = trg_http_route(h, "GET", "/admin/routes", 0, on_routes, e)) != 0 ||
        (rc = trg_http_route(h, "POST", "/admin/routes/", ADMIN_MAX_BODY, on_route_action, e)) != 0 ||
        (rc = trg_http_route(h, "GET", "/admin/schedules", 0, on_schedules, e)) != 0 ||
        (rc = trg_http_route(h, NULL, DLQ_PREFIX, ADMIN_MAX_BODY, on_dlq, e)) != 0 ||
        (rc = trg_http_route(h, NULL, ADMIN_PREFIX, ADMIN_MAX_BODY, on_admin_other, e)) != 0) {
        trg_error("admin", NULL, "cannot register the admin API: %s", trg_strerror(rc));
        return rc;
    }
    return 0;
}
