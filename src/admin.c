/* admin.c — the admin API (/admin/...) for trigctl and the Lambda Invoke API, on trigd's HTTP server.
 *
 * Every handler gets the engine as its argument; what an asynchronous operation needs lives in a
 * context allocated per request and freed when the request is answered. docs/ADMIN.md describes
 * the endpoints.
 */
#include "admin.h"

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
#include "util.h"

#define ADMIN_PREFIX "/admin/"
#define DLQ_PREFIX "/admin/dlq/"
#define INVOKE_PREFIX "/2015-03-31/functions/"
#define INVOKE_SUFFIX "/invocations"
#define INVOKE_MAX_BODY 6291456u /* Lambda's synchronous payload limit */
#define ADMIN_MAX_BODY 65536u
#define LIST_DEFAULT 50
#define LIST_MAX 1000
#define REDRIVE_PAGE 20        /* entries listed (and held in memory) at a time */
#define REDRIVE_INFLIGHT 20    /* entries being redriven at once */
#define REDRIVE_FULL_WAIT 0.05 /* seconds to wait when the route is full */
#define ERROR_MESSAGE_MAX 4096

/* --- small helpers ---------------------------------------------------------------------------- */

static void respond_json(struct trg_http_req *req, int status, const struct trg_buf *b)
{
    trg_http_respond(req, status, "application/json", b->data ? b->data : "", b->len, NULL);
}

static void respond_oom(struct trg_http_req *req) { trg_http_respond_error(req, 500, "out of memory"); }
/* Answer 200 with the JSON built in b, or 500 when building it failed (rc != 0); frees b. */
static void respond_built(struct trg_http_req *req, int rc, struct trg_buf *b)
{
    if (rc != 0)
        respond_oom(req);
    else
        respond_json(req, 200, b);
    trg_buf_free(b);
}

/* The token in force: the running config's, so that a reload that changes it takes effect. */
static const char *current_token(const struct trg_engine *e)
{
    const struct trg_config *cfg = trg_engine_config(e);
    return cfg ? cfg->http.admin_token : NULL;
}

/* true when the request may go on; otherwise it has been answered 401. */
static bool authorized(const struct trg_engine *e, struct trg_http_req *req)
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

/* Is [p, p+n) only JSON whitespace? */
static bool only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return false;
    return true;
}

/* Parse exactly one JSON value from s (len bytes); NULL when it is not JSON (or on ENOMEM). */
static cJSON *parse_json(const char *s, size_t len)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (j && (!end || end < s || (size_t)(end - s) > len || !only_space(end, len - (size_t)(end - s)))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Append a stored record: as JSON when it is JSON, else as a JSON string. */
static int add_record(struct trg_buf *b, const char *record, size_t len)
{
    cJSON *j = parse_json(record, len);
    if (!j)
        return trg_buf_add_json_str(b, record, len);
    cJSON_Delete(j);
    return trg_buf_add(b, record, len);
}

static int add_kv_str(struct trg_buf *b, const char *key, const char *value)
{
    int rc = trg_buf_addf(b, "\"%s\":", key);
    return rc | trg_buf_add_json_str(b, value, strlen(value));
}

/* HTTP status for an error code of the DLQ or the engine. */
static int status_of(int err)
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

static void respond_err(struct trg_http_req *req, int err, const char *what)
{
    char *msg = trg_asprintf("%s: %s", what, trg_strerror(err));
    trg_http_respond_error(req, status_of(err), msg ? msg : what);
    trg_free(msg);
}

/* --- status and routes ------------------------------------------------------------------------ */

static void on_status(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
        return;
    struct trg_buf b = {0};
    respond_built(req, trg_engine_status_json(e, &b), &b);
}

/* {"schedules":[...]}: every schedule source with its next N fire times (?next=N, 1-100, default 5),
 * in its zone and in UTC. */
static void on_schedules(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
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
    respond_built(req, rc, &b);
}

/* {"routes":[...]}: the routes part of the status. */
static void on_routes(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
        return;
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"routes\":");
    rc = rc ? rc : trg_engine_routes_json(e, &b);
    rc = rc ? rc : trg_buf_addc(&b, '}');
    respond_built(req, rc, &b);
}

/* Anything else under /admin/: 404 (after the token check, so that nothing leaks without one). */
static void on_admin_other(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
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
    rc |= add_kv_str(b, "id", en->id);
    rc |= trg_buf_adds(b, ",\"record\":");
    rc |= add_record(b, en->record, en->len);
    rc |= trg_buf_adds(b, "}");
    return rc;
}

static void list_done(void *arg, int err, const struct trg_dlq_entry *entries, size_t n)
{
    struct dlq_op *op = arg;
    if (err != 0) {
        respond_err(op->req, err, "cannot list the DLQ");
        dlq_op_free(op);
        return;
    }
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{");
    rc |= add_kv_str(&b, "route", op->route);
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
        respond_oom(op->req);
    else
        respond_json(op->req, 200, &b);
    trg_buf_free(&b);
    dlq_op_free(op);
}

static void get_done(void *arg, int err, const struct trg_dlq_entry *entries, size_t n)
{
    struct dlq_op *op = arg;
    if (err == TRG_ENOTFOUND || (err == 0 && n == 0)) {
        trg_http_respond_error(op->req, 404, "no such DLQ entry");
    } else if (err != 0) {
        respond_err(op->req, err, "cannot read the DLQ");
    } else {
        struct trg_buf b = {0};
        int rc = trg_buf_adds(&b, "{");
        rc |= add_kv_str(&b, "route", op->route);
        rc |= trg_buf_adds(&b, ",");
        rc |= add_kv_str(&b, "id", entries[0].id);
        rc |= trg_buf_adds(&b, ",\"record\":");
        rc |= add_record(&b, entries[0].record, entries[0].len);
        rc |= trg_buf_adds(&b, "}");
        if (rc != 0)
            respond_oom(op->req);
        else
            respond_json(op->req, 200, &b);
        trg_buf_free(&b);
    }
    dlq_op_free(op);
}

static void purge_done(void *arg, int err, long count)
{
    struct dlq_op *op = arg;
    if (err != 0) {
        respond_err(op->req, err, "cannot purge the DLQ");
    } else {
        trg_info("admin", op->route, "DLQ purged: %ld entr%s removed", count, count == 1 ? "y" : "ies");
        struct trg_buf b = {0};
        if (trg_buf_addf(&b, "{\"purged\":%ld}", count) != 0)
            respond_oom(op->req);
        else
            respond_json(op->req, 200, &b);
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
        respond_oom(req);
        return;
    }
    op->count = (size_t)count;
    int rc = trg_dlq_list(trg_engine_dlq(e), route, a.after, (size_t)count, list_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        respond_err(req, rc, rc == TRG_EINVAL ? "bad route name or after id" : "cannot list the DLQ");
    }
}

static void dlq_show(struct trg_engine *e, struct trg_http_req *req, const char *route, const char *id)
{
    struct dlq_op *op = dlq_op_new(req, route);
    if (!op) {
        respond_oom(req);
        return;
    }
    int rc = trg_dlq_get(trg_engine_dlq(e), route, id, get_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        respond_err(req, rc, rc == TRG_EINVAL ? "bad route name or entry id" : "cannot read the DLQ");
    }
}

static void dlq_purge(struct trg_engine *e, struct trg_http_req *req, const char *route)
{
    struct dlq_op *op = dlq_op_new(req, route);
    if (!op) {
        respond_oom(req);
        return;
    }
    int rc = trg_dlq_purge(trg_engine_dlq(e), route, purge_done, op);
    if (rc != 0) {
        dlq_op_free(op);
        respond_err(req, rc, rc == TRG_EINVAL ? "bad route name" : "cannot purge the DLQ");
    }
}

/* --- DLQ: redrive ----------------------------------------------------------------------------- */

/* One redrive request: a single id, or every entry of the route (in pages, optionally paced). The
 * request is answered once every entry started has reached its new outcome. */
struct redrive_job {
    struct trg_engine *e;
    struct ev_loop *loop;
    struct trg_http_req *req;
    char *route;
    char *one_id;     /* single mode: the id asked for; NULL = all */
    long rate;        /* entries started per second; 0 = as fast as the route takes them */
    int64_t bound_ms; /* all: entries whose id's time is after this were written after the start */
    int64_t t0_ms;    /* monotonic start, for the rate */
    long started;
    char *cursor;                /* all: the last id listed */
    struct trg_dlq_entry *queue; /* listed, not yet started (owned copies) */
    size_t q_n, q_pos;
    bool listing;  /* a list/get is in flight */
    bool end;      /* nothing more to list */
    int abort_err; /* stop starting entries; answer with this error */
    char *abort_msg;
    int inflight; /* redrives and deletes in flight */
    long redriven, failed;
    ev_timer timer;     /* pacing, and waiting for room in the route */
    ev_cleanup cleanup; /* the loop going away under a paced job */
};

/* One entry being redriven: owns its id until the DLQ entry is deleted. */
struct redrive_one {
    struct redrive_job *job;
    char *id;
};

static void job_pump(struct redrive_job *job);

static void queue_clear(struct redrive_job *job)
{
    for (size_t i = job->q_pos; i < job->q_n; i++) {
        trg_free(job->queue[i].id);
        trg_free(job->queue[i].record);
    }
    trg_free(job->queue);
    job->queue = NULL;
    job->q_n = job->q_pos = 0;
}

static void job_free(struct redrive_job *job)
{
    ev_timer_stop(job->loop, &job->timer);
    ev_cleanup_stop(job->loop, &job->cleanup);
    queue_clear(job);
    trg_free(job->cursor);
    trg_free(job->one_id);
    trg_free(job->route);
    trg_free(job->abort_msg);
    trg_free(job);
}

static void job_abort(struct redrive_job *job, int err, const char *msg)
{
    if (job->abort_err)
        return;
    job->abort_err = err;
    job->abort_msg = trg_strdup(msg);
    queue_clear(job);
}

static void job_answer(struct redrive_job *job)
{
    struct trg_buf b = {0};
    int status = 200;
    int rc = trg_buf_adds(&b, "{");
    rc |= add_kv_str(&b, "route", job->route);
    rc |= trg_buf_addf(&b, ",\"redriven\":%ld,\"failed\":%ld", job->redriven, job->failed);
    if (job->abort_err) {
        status = status_of(job->abort_err);
        rc |= trg_buf_adds(&b, ",");
        rc |= add_kv_str(&b, "error", job->abort_msg ? job->abort_msg : trg_strerror(job->abort_err));
    }
    rc |= trg_buf_adds(&b, "}");
    trg_info("admin", job->route, "redrive%s%s finished: %ld redriven, %ld failed%s%s",
             job->one_id ? " of " : "", job->one_id ? job->one_id : " of all entries", job->redriven,
             job->failed, job->abort_err ? "; stopped: " : "",
             job->abort_err ? (job->abort_msg ? job->abort_msg : "") : "");
    if (rc != 0)
        respond_oom(job->req);
    else
        respond_json(job->req, status, &b);
    trg_buf_free(&b);
    job->req = NULL;
}

/* Answer and free the job when nothing is left to do. Returns true when it did. */
static bool job_maybe_finish(struct redrive_job *job)
{
    bool nothing_left = job->abort_err || (job->end && job->q_pos == job->q_n);
    if (!nothing_left || job->inflight > 0 || job->listing)
        return false;
    job_answer(job);
    job_free(job);
    return true;
}

static void one_finish(struct redrive_one *one, bool ok)
{
    struct redrive_job *job = one->job;
    if (ok)
        job->redriven++;
    else
        job->failed++;
    trg_free(one->id);
    trg_free(one);
    job->inflight--;
    job_pump(job);
}

static void delete_done(void *arg, int err, long count)
{
    struct redrive_one *one = arg;
    (void)count; /* 0 when someone else removed it meanwhile: it was redriven all the same */
    if (err != 0)
        trg_warn("admin", one->job->route,
                 "entry %s was redriven but cannot be deleted from the DLQ (%s): it "
                 "stays there and a later redrive would send it again",
                 one->id, trg_strerror(err));
    one_finish(one, err == 0);
}

static void redrive_done(void *arg, int err)
{
    struct redrive_one *one = arg;
    struct redrive_job *job = one->job;
    if (err != 0) {
        trg_warn("admin", job->route,
                 "redrive of entry %s did not reach a new outcome (%s); it stays in the DLQ", one->id,
                 trg_strerror(err));
        /* Abandoned events mean shutdown or a removed route: start nothing more. */
        job_abort(job, TRG_ESTATE, "the route stopped (shutdown or reload) during the redrive");
        one_finish(one, false);
        return;
    }
    int rc = trg_dlq_delete(trg_engine_dlq(job->e), job->route, one->id, delete_done, one);
    if (rc != 0) {
        trg_warn("admin", job->route, "entry %s was redriven but cannot be deleted from the DLQ (%s)",
                 one->id, trg_strerror(rc));
        one_finish(one, false);
    }
}

/* Milliseconds part of an entry id ("<ms>-<seq>"). */
static int64_t id_ms(const char *id) { return (int64_t)strtoll(id, NULL, 10); }

static void list_page_done(void *arg, int err, const struct trg_dlq_entry *entries, size_t n)
{
    struct redrive_job *job = arg;
    job->listing = false;
    if (err == TRG_ENOTFOUND && job->one_id) {
        job_abort(job, TRG_ENOTFOUND, "no such DLQ entry");
    } else if (err != 0) {
        job_abort(job, err, "cannot read the DLQ");
    } else if (!job->abort_err) {
        struct trg_dlq_entry *q = n ? trg_calloc(n, sizeof *q) : NULL;
        if (n && !q)
            job_abort(job, TRG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && q; i++) {
            q[i].id = trg_strdup(entries[i].id);
            q[i].record = trg_strndup(entries[i].record, entries[i].len);
            q[i].len = entries[i].len;
            if (!q[i].id || !q[i].record) {
                for (size_t k = 0; k <= i; k++) {
                    trg_free(q[k].id);
                    trg_free(q[k].record);
                }
                trg_free(q);
                q = NULL;
                job_abort(job, TRG_ENOMEM, "out of memory");
            }
        }
        if (q || n == 0) {
            queue_clear(job);
            job->queue = q;
            job->q_n = n;
            if (job->one_id || n < REDRIVE_PAGE) {
                job->end = true;
            }
            if (n > 0) {
                char *c = trg_strdup(entries[n - 1].id);
                if (c) {
                    trg_free(job->cursor);
                    job->cursor = c;
                } else {
                    job_abort(job, TRG_ENOMEM, "out of memory");
                }
            }
        }
    }
    job_pump(job);
}

static void job_list_next(struct redrive_job *job)
{
    struct trg_dlq *d = trg_engine_dlq(job->e);
    int rc = job->one_id ? trg_dlq_get(d, job->route, job->one_id, list_page_done, job)
                         : trg_dlq_list(d, job->route, job->cursor, REDRIVE_PAGE, list_page_done, job);
    if (rc != 0)
        job_abort(job, rc, rc == TRG_EINVAL ? "bad route name or entry id" : "cannot read the DLQ");
    else
        job->listing = true;
}

static void job_wait(struct redrive_job *job, double after)
{
    ev_timer_stop(job->loop, &job->timer);
    ev_timer_set(&job->timer, after, 0.);
    ev_timer_start(job->loop, &job->timer);
}

/* Start what may be started, list more when the queue ran out, and finish when all is done. */
static void job_pump(struct redrive_job *job)
{
    if (ev_is_active(&job->timer))
        return; /* waiting: the timer pumps */
    if (!job->abort_err && trg_engine_stopping(job->e))
        job_abort(job, TRG_ESTATE, "trigd is shutting down");
    if (!job->one_id && !job->abort_err && job->q_pos < job->q_n && trg_wall_ms() <= job->bound_ms) {
        /* Entries written by this redrive must be told from older ones by their time: start no
         * earlier than the millisecond after the bound. */
        job_wait(job, 0.002);
        return;
    }
    while (!job->abort_err && job->q_pos < job->q_n && job->inflight < REDRIVE_INFLIGHT) {
        struct trg_dlq_entry *en = &job->queue[job->q_pos];
        if (!job->one_id && id_ms(en->id) > job->bound_ms) {
            job->end = true; /* written after the redrive began: not part of it */
            queue_clear(job);
            break;
        }
        if (job->rate > 0) {
            int64_t elapsed = trg_mono_ms() - job->t0_ms;
            if (job->started >= job->rate * (elapsed / 1000 + 1)) {
                job_wait(job, (double)(1000 - elapsed % 1000) / 1000.0);
                return;
            }
        }
        struct redrive_one *one = trg_calloc(1, sizeof *one);
        if (!one) {
            job_abort(job, TRG_ENOMEM, "out of memory");
            break;
        }
        one->job = job;
        one->id = en->id;
        int rc = trg_engine_redrive(job->e, job->route, en->record, en->len, redrive_done, one);
        if (rc == TRG_EFULL) {
            trg_free(one);
            job_wait(job, REDRIVE_FULL_WAIT);
            return;
        }
        en->id = NULL; /* one owns it now, or frees it below */
        trg_free(en->record);
        en->record = NULL;
        job->q_pos++;
        if (rc == TRG_EINVAL) {
            trg_warn("admin", job->route, "DLQ entry %s holds no records trigd can redrive; left in the DLQ",
                     one->id);
            job->failed++;
            trg_free(one->id);
            trg_free(one);
            continue;
        }
        if (rc != 0) {
            trg_free(one->id);
            trg_free(one);
            job_abort(job, rc,
                      rc == TRG_ENOTFOUND ? "no such route in the running config"
                      : rc == TRG_ESTATE  ? "trigd is shutting down"
                                          : "cannot redrive");
            break;
        }
        job->started++;
        job->inflight++;
    }
    if (job->q_pos == job->q_n && job->queue)
        queue_clear(job);
    if (!job->abort_err && !job->end && !job->listing && job->q_pos == job->q_n)
        job_list_next(job);
    job_maybe_finish(job);
}

static void job_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct redrive_job *job = w->data;
    ev_timer_stop(job->loop, &job->timer);
    job_pump(job);
}

/* The loop is destroyed while a job waits on its timer (the engine is gone by now). */
static void job_cleanup_cb(struct ev_loop *loop, ev_cleanup *w, int revents)
{
    (void)loop;
    (void)revents;
    struct redrive_job *job = w->data;
    if (job->inflight > 0 || job->listing)
        return; /* cannot happen: the engine called every callback when it went */
    job_abort(job, TRG_ESTATE, "trigd stopped during the redrive");
    job_answer(job);
    job_free(job);
}

static void dlq_redrive(struct trg_engine *e, struct trg_http_req *req, const char *route)
{
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    cJSON *j = parse_json(body, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(j, "all");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "rate");
    const char *bad = NULL;
    if (!cJSON_IsObject(j))
        bad = "the body must be {\"id\":\"ID\"} or {\"all\":true[,\"rate\":N]}";
    else if (id && (!cJSON_IsString(id) || !*id->valuestring))
        bad = "id must be a DLQ entry id such as \"1718357467563-0\"";
    else if (all && !cJSON_IsBool(all))
        bad = "all must be true or false";
    else if (!!id == !!cJSON_IsTrue(all))
        bad = "give either id or \"all\":true";
    else if (rate && (!cJSON_IsNumber(rate) || rate->valuedouble < 0 || rate->valuedouble > 1e6 ||
                      rate->valuedouble != (double)(long)rate->valuedouble))
        bad = "rate must be an integer from 0 (no limit) to 1000000 entries per second";
    if (bad) {
        cJSON_Delete(j);
        trg_http_respond_error(req, 400, bad);
        return;
    }
    struct redrive_job *job = trg_calloc(1, sizeof *job);
    if (!job || !(job->route = trg_strdup(route)) || (id && !(job->one_id = trg_strdup(id->valuestring)))) {
        if (job) {
            trg_free(job->route);
            trg_free(job);
        }
        cJSON_Delete(j);
        respond_oom(req);
        return;
    }
    job->rate = rate ? (long)rate->valuedouble : 0;
    cJSON_Delete(j);
    job->e = e;
    job->loop = trg_engine_loop(e);
    job->req = req;
    job->bound_ms = trg_wall_ms();
    job->t0_ms = trg_mono_ms();
    ev_timer_init(&job->timer, job_timer_cb, 0., 0.);
    job->timer.data = job;
    ev_cleanup_init(&job->cleanup, job_cleanup_cb);
    job->cleanup.data = job;
    ev_cleanup_start(job->loop, &job->cleanup);
    trg_info("admin", route, "redrive of %s%s requested%s", job->one_id ? "entry " : "all entries",
             job->one_id ? job->one_id : "", job->rate ? " (paced)" : "");
    job_list_next(job);
    if (job->abort_err) {
        /* Nothing is in flight: answer now. */
        job_answer(job);
        job_free(job);
    }
}

/* /admin/dlq/{route}[/{id}|/redrive] */
static void on_dlq(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
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
        respond_oom(req);
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
            dlq_redrive(e, req, route);
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

/* --- Lambda Invoke API ------------------------------------------------------------------------ */

/* {"Type":"User","message":msg} with X-Amzn-ErrorType: type. */
static void respond_lambda_error(struct trg_http_req *req, int status, const char *type, const char *msg)
{
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"Type\":\"User\",");
    rc |= add_kv_str(&b, "message", msg);
    rc |= trg_buf_adds(&b, "}");
    const char *hdrs[] = {"X-Amzn-ErrorType", type, NULL};
    if (rc != 0)
        respond_oom(req);
    else
        trg_http_respond(req, status, "application/json", b.data, b.len, hdrs);
    trg_buf_free(&b);
}

/* Is body already a Lambda error object ({"errorMessage": "...", ...})? */
static bool is_lambda_error(const char *body, size_t len)
{
    if (!body || !len)
        return false;
    cJSON *j = parse_json(body, len);
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
        respond_oom(req);
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

static void on_invoke(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (!authorized(e, req))
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
        respond_oom(req);
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
    cJSON *j = parse_json(body, len);
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
        respond_oom(req);
        return;
    }
    ctx->function = name;
    ctx->req = event ? NULL : req;
    int rc = trg_engine_invoke(e, name, body, len, invoke_done, ctx);
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

/* --- registration ----------------------------------------------------------------------------- */

int trg_admin_register(struct trg_engine *e, struct trg_http *h)
{
    int rc;
    if ((rc = trg_http_route(h, "GET", "/admin/status", 0, on_status, e)) != 0 ||
        (rc = trg_http_route(h, "GET", "/admin/routes", 0, on_routes, e)) != 0 ||
        (rc = trg_http_route(h, "GET", "/admin/schedules", 0, on_schedules, e)) != 0 ||
        (rc = trg_http_route(h, NULL, DLQ_PREFIX, ADMIN_MAX_BODY, on_dlq, e)) != 0 ||
        (rc = trg_http_route(h, NULL, ADMIN_PREFIX, ADMIN_MAX_BODY, on_admin_other, e)) != 0 ||
        (rc = trg_http_route(h, "POST", INVOKE_PREFIX, INVOKE_MAX_BODY, on_invoke, e)) != 0) {
        trg_error("admin", NULL, "cannot register the admin API: %s", trg_strerror(rc));
        return rc;
    }
    return 0;
}
