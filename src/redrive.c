/* redrive.c — POST /admin/dlq/{route}/redrive: DLQ entries re-submitted to their route (one id, or
 * all of them in pages, optionally paced), each deleted from the DLQ once it reached a new outcome. */
#include "redrive.h"

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

#define REDRIVE_PAGE 20        /* entries listed (and held in memory) at a time */
#define REDRIVE_INFLIGHT 20    /* entries being redriven at once */
#define REDRIVE_FULL_WAIT 0.05 /* seconds to wait when the route is full */

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
    rc |= trg_admin_add_kv_str(&b, "route", job->route);
    rc |= trg_buf_addf(&b, ",\"redriven\":%ld,\"failed\":%ld", job->redriven, job->failed);
    if (job->abort_err) {
        status = trg_admin_status_of(job->abort_err);
        rc |= trg_buf_adds(&b, ",");
        rc |= trg_admin_add_kv_str(&b, "error", job->abort_msg ? job->abort_msg : trg_strerror(job->abort_err));
    }
    rc |= trg_buf_adds(&b, "}");
    trg_info("admin", job->route, "redrive%s%s finished: %ld redriven, %ld failed%s%s",
             job->one_id ? " of " : "", job->one_id ? job->one_id : " of all entries", job->redriven,
             job->failed, job->abort_err ? "; stopped: " : "",
             job->abort_err ? (job->abort_msg ? job->abort_msg : "") : "");
    if (rc != 0)
        trg_admin_respond_oom(job->req);
    else
        trg_admin_respond_json(job->req, status, &b);
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

void trg_redrive_request(struct trg_engine *e, struct trg_http_req *req, const char *route)
{
    size_t len;
    const char *body = trg_http_req_body(req, &len);
    cJSON *j = trg_json_parse(body, len, NULL);
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
        trg_admin_respond_oom(req);
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

