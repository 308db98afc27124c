/* async.c — the Invoke API's Event invocations, queued and retried as Lambda does (see async.h). */
#include "async.h"

#include <cjson/cJSON.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_error.h"
#include "config.h"
#include "dlq.h"
#include "engine.h"
#include "invoke_api.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "rstream.h"
#include "util.h"

struct trg_async {
    struct trg_engine *e;
    struct ev_loop *loop;   /* the engine's: it outlives the engine, which goes first */
    struct trg_list events; /* every event not finished yet */
    /* With Redis: events are XADDed to `key` and read back through a consumer group (rs). */
    struct trg_redis *redis;
    char *key;
    char *consumer;
    struct trg_rstream *rs;
    struct trg_list adds; /* XADDs waiting for Redis's answer */
};

/* An XADD in flight: the 202 waits for it. */
struct async_add {
    struct trg_list link;
    struct trg_async *a;
    trg_async_queued_cb cb; /* NULL once answered by trg_async_stop() */
    void *arg;
    char *function; /* for the metric; NULL for a retry's re-queue (not counted again) */
};

struct async_event {
    struct trg_list link;
    struct trg_async *a;
    char *function;
    char *payload;
    size_t len;
    char request_id[40];
    int64_t created_ms;
    int attempts;        /* invocations that ended (not counting throttles); kept in its Redis entry */
    int64_t retry_at_ms; /* when the next attempt is due (wall clock), after a failure */
    bool inflight;
    bool requeueing;             /* its retry's entry is being added to Redis */
    ev_timer timer;              /* the wait before the next attempt */
    struct trg_rstream_msg *msg; /* the Redis entry it came from (acked when it ends), or NULL */
    struct trg_buf response;     /* the last error's response (Lambda's error object) */
    char *function_error;        /* the last error's X-Amz-Function-Error, or NULL */
};

static void count(struct trg_async *a, const char *function, const char *what)
{
    trg_metrics_add(trg_engine_metrics(a->e), TRG_M_ASYNC_EVENTS, function, what, 1);
}

/* The event is finished with (succeeded, or its record was handed on): its Redis entry goes. */
static void event_free(struct async_event *ev)
{
    if (!ev)
        return;
    if (ev->msg)
        trg_rstream_ack(ev->msg, true);
    ev_timer_stop(ev->a->loop, &ev->timer);
    trg_list_remove(&ev->link);
    trg_buf_free(&ev->response);
    trg_free(ev->function_error);
    trg_free(ev->function);
    trg_free(ev->payload);
    trg_free(ev);
}

static void attempt(struct async_event *ev);
static void entry_cb(void *arg, const struct trg_rstream_entry *en);
static int xadd(struct trg_async *a, const struct async_event *ev, const char *created, const char *attempts,
                const char *retry_at, trg_async_queued_cb cb, void *arg, const char *metric_function);

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    attempt(w->data);
}

static void retry_in(struct async_event *ev, int64_t delay_ms)
{
    ev_timer_set(&ev->timer, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(ev->a->loop, &ev->timer);
}

/* Append Lambda's asynchronous invocation record of ev to b. */
static int build_record(const struct async_event *ev, const char *condition, int64_t now_ms,
                        struct trg_buf *b)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    char ts[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(now_ms % 1000));
    int rc =
        trg_buf_addf(b,
                     "{\"version\":\"1.0\",\"timestamp\":\"%s\",\"requestContext\":{\"requestId\":\"%s\","
                     "\"functionArn\":\"arn:aws:lambda:%s:%s:function:",
                     ts, ev->request_id, TRG_AWS_REGION, TRG_AWS_ACCOUNT);
    rc |= trg_buf_adds(b, ev->function);
    rc |= trg_buf_addf(
        b, ":$LATEST\",\"condition\":\"%s\",\"approximateInvokeCount\":%d},\"requestPayload\":", condition,
        ev->attempts);
    rc |= trg_buf_add(b, ev->payload, ev->len);
    rc |= trg_buf_adds(b, ",\"responseContext\":{\"statusCode\":200,\"executedVersion\":\"$LATEST\"");
    if (ev->function_error) {
        rc |= trg_buf_adds(b, ",\"functionError\":");
        rc |= trg_buf_add_json_str(b, ev->function_error, strlen(ev->function_error));
    }
    rc |= trg_buf_adds(b, "}");
    if (ev->response.len > 0) {
        rc |= trg_buf_adds(b, ",\"responsePayload\":");
        cJSON *j = trg_json_parse(ev->response.data, ev->response.len, NULL);
        if (j)
            rc |= trg_buf_add(b, ev->response.data, ev->response.len);
        else
            rc |= trg_buf_add_json_str(b, ev->response.data, ev->response.len);
        cJSON_Delete(j);
    }
    rc |= trg_buf_adds(b, "}");
    return rc;
}

static void put_done(void *arg, int err, const char *id)
{
    struct async_event *ev = arg;
    if (err == 0)
        trg_info("async", ev->function, "event %s failed: its record is in the DLQ async.%s as %s",
                 ev->request_id, ev->function, id);
    else
        trg_error("async", ev->function, "event %s failed and its record could not be written to the DLQ: %s",
                  ev->request_id, trg_strerror(err));
    event_free(ev);
}

/* The record was queued as an Event invocation of the on_failure function (or could not be). */
static void target_queued(void *arg, int err)
{
    struct async_event *ev = arg;
    if (err == 0)
        trg_info("async", ev->function, "event %s failed: its record is queued for its on_failure function",
                 ev->request_id);
    else
        trg_error("async", ev->function,
                  "event %s failed and its record could not be queued for its on_failure "
                  "function (%s); it is lost",
                  ev->request_id, trg_strerror(err));
    event_free(ev);
}

/* The event reached its end without success: its record to the on_failure target. */
static void fail(struct async_event *ev, const char *condition)
{
    struct trg_async *a = ev->a;
    const struct trg_config *cfg = trg_engine_config(a->e);
    const struct trg_function_conf *fc = cfg ? trg_config_function(cfg, ev->function) : NULL;
    const char *target = fc && fc->async.on_failure ? fc->async.on_failure : "dlq";
    count(a, ev->function, strcmp(condition, "EventAgeExceeded") == 0 ? "expired" : "failed");
    trg_warn("async", ev->function, "event %s: %s after %d invocations; to %s", ev->request_id, condition,
             ev->attempts, target);
    struct trg_buf rec = {0};
    int rc = build_record(ev, condition, trg_wall_ms(), &rec);
    if (rc == 0 && strcmp(target, "dlq") == 0) {
        char *name = trg_asprintf("async.%s", ev->function);
        rc = name ? trg_dlq_put(trg_engine_dlq(a->e), name, rec.data, rec.len, put_done, ev) : TRG_ENOMEM;
        trg_free(name);
    } else if (rc == 0) {
        /* as Lambda invokes a destination function: asynchronously, with that function's own retries */
        char rid[40];
        trg_request_id(rid);
        rc = trg_async_submit(a, target, rec.data, rec.len, rid, target_queued, ev);
    }
    trg_buf_free(&rec);
    if (rc != 0) {
        trg_error("async", ev->function, "event %s: cannot hand its record to %s (%s); it is lost",
                  ev->request_id, target, trg_strerror(rc));
        event_free(ev);
    }
}

/* A retry's entry is in Redis (err 0): the old one goes, and the event with it here; the stream hands the new
 * entry back (to this replica or another) when it is read. Else the event waits here as it is. */
static void requeued(void *arg, int err)
{
    struct async_event *ev = arg;
    ev->requeueing = false;
    if (err == 0) {
        event_free(ev); /* acks and deletes the old entry */
        return;
    }
    if (trg_engine_stopping(ev->a->e))
        return; /* the old entry stays pending in Redis: reclaimed with the attempts it records */
    trg_warn("async", ev->function,
             "event %s: its retry could not be recorded in Redis; it waits here, and a "
             "crash before it ends would count its attempts from the last recorded entry",
             ev->request_id);
    retry_in(ev, ev->retry_at_ms - trg_wall_ms() > 0 ? ev->retry_at_ms - trg_wall_ms() : 0);
}

/* Wait delay_ms before the next attempt. With Redis, the event is re-queued as a new entry recording its
 * attempts, the time of its next attempt and its last error, so that a crash does not start its retries again
 * (Lambda's MaximumRetryAttempts holds across trigd's restarts); the old entry is deleted once the new one is
 * in. Without Redis, it waits in memory. */
static void requeue(struct async_event *ev, int64_t delay_ms)
{
    struct trg_async *a = ev->a;
    ev->retry_at_ms = trg_wall_ms() + delay_ms;
    if (!a->rs || !ev->msg) {
        retry_in(ev, delay_ms);
        return;
    }
    char created[24], attempts[16], retry_at[24];
    snprintf(created, sizeof created, "%lld", (long long)ev->created_ms);
    snprintf(attempts, sizeof attempts, "%d", ev->attempts);
    snprintf(retry_at, sizeof retry_at, "%lld", (long long)ev->retry_at_ms);
    ev->requeueing = true;
    int rc = xadd(a, ev, created, attempts, retry_at, requeued, ev, NULL);
    if (rc != 0) {
        ev->requeueing = false;
        trg_warn("async", ev->function, "event %s: cannot re-queue its retry in Redis (%s); it waits here",
                 ev->request_id, trg_strerror(rc));
        retry_in(ev, delay_ms);
    }
}

static void invoked(void *arg, struct trg_invoke_result *res)
{
    struct async_event *ev = arg;
    ev->inflight = false;
    if (res->function_error && strcmp(res->function_error, "Shutdown") == 0)
        return; /* the engine is going away: the event stays queued and is counted lost by trg_async_destroy */
    struct trg_async *a = ev->a;
    const struct trg_config *cfg = trg_engine_config(a->e);
    const struct trg_function_conf *fc = cfg ? trg_config_function(cfg, ev->function) : NULL;
    if (res->outcome == TRG_OUT_SUCCESS || res->outcome == TRG_OUT_PARTIAL) {
        count(a, ev->function, "succeeded");
        trg_debug("async", ev->function, "event %s succeeded (invocation %d)", ev->request_id,
                  ev->attempts + 1);
        event_free(ev);
        return;
    }
    int64_t delay = fc ? fc->async.retry_delay_ms : 60000;
    if (res->outcome == TRG_OUT_THROTTLED) { /* Lambda retries throttles until the event is too old */
        retry_in(ev, res->retry_after_ms > 0 ? res->retry_after_ms : delay);
        return;
    }
    ev->attempts++;
    trg_buf_reset(&ev->response);
    trg_free(ev->function_error);
    ev->function_error = trg_strdup("Unhandled");
    if (trg_invoke_api_error_body(ev->request_id, fc ? fc->timeout_ms : 0, res, &ev->response) != 0)
        trg_buf_reset(&ev->response);
    int64_t max = fc ? fc->async.max_retry_attempts : 2;
    if (ev->attempts > max) {
        fail(ev, "RetriesExhausted");
        return;
    }
    for (int i = 1; i < ev->attempts && delay < 3600000; i++)
        delay *= 2;
    count(a, ev->function, "retried");
    trg_info("async", ev->function, "event %s failed (invocation %d of %lld); retry in %lld ms",
             ev->request_id, ev->attempts, (long long)max + 1, (long long)delay);
    requeue(ev, delay);
}

static void attempt(struct async_event *ev)
{
    struct trg_async *a = ev->a;
    const struct trg_config *cfg = trg_engine_config(a->e);
    const struct trg_function_conf *fc = cfg ? trg_config_function(cfg, ev->function) : NULL;
    if (!fc) {
        trg_warn("async", ev->function, "event %s: the function is gone from the config; dropped",
                 ev->request_id);
        count(a, ev->function, "failed");
        event_free(ev);
        return;
    }
    if (trg_wall_ms() - ev->created_ms > fc->async.max_event_age_s * 1000) {
        fail(ev, "EventAgeExceeded");
        return;
    }
    struct trg_direct_call call = {.payload = ev->payload, .len = ev->len, .request_id = ev->request_id};
    int rc = trg_engine_invoke(a->e, ev->function, &call, invoked, ev);
    if (rc == 0) {
        ev->inflight = true;
    } else if (rc == TRG_ESTATE) {
        trg_debug("async", ev->function, "event %s waits: trigd is stopping", ev->request_id);
    } else {
        trg_warn("async", ev->function, "event %s cannot be invoked now (%s); retry in %lld ms",
                 ev->request_id, trg_strerror(rc), (long long)fc->async.retry_delay_ms);
        retry_in(ev, fc->async.retry_delay_ms);
    }
}

int trg_async_create(struct trg_engine *e, struct trg_async **out)
{
    struct trg_async *a = trg_calloc(1, sizeof *a);
    if (!a)
        return TRG_ENOMEM;
    a->e = e;
    a->loop = trg_engine_loop(e);
    trg_list_init(&a->events);
    trg_list_init(&a->adds);
    const struct trg_redis_conf *rconf = NULL;
    a->redis = trg_engine_redis(e, &rconf);
    if (!a->redis) {
        *out = a;
        return 0;
    }
    int rc = TRG_ENOMEM;
    a->key = trg_asprintf("%sasync", trg_redis_prefix(a->redis));
    a->consumer = trg_rstream_default_consumer();
    if (!a->key || !a->consumer)
        goto fail;
    struct trg_rstream_conf c = {
        .stream = a->key,
        .group = "trigd-async",
        .consumer = a->consumer,
        .start = "0",
        .batch = 100,
        .max_inflight = 10000,
        .visibility_timeout_ms = rconf->intake_visibility_timeout_ms,
        .log_component = "async",
        .log_instance = NULL,
    };
    if ((rc = trg_rstream_create(a->loop, rconf, a->redis, &c, entry_cb, a, &a->rs)) != 0 ||
        (rc = trg_rstream_start(a->rs)) != 0)
        goto fail;
    *out = a;
    return 0;
fail:
    trg_rstream_destroy(a->rs);
    a->rs = NULL;
    trg_async_destroy(a);
    return rc;
}

void trg_async_stop(struct trg_async *a)
{
    if (!a)
        return;
    struct trg_list *p, *t;
    trg_list_each(p, t, &a->adds) /* their callbacks come when the shared connection is freed: answer now */
    {
        struct async_add *add = trg_list_entry(p, struct async_add, link);
        trg_list_remove(&add->link);
        trg_async_queued_cb cb = add->cb;
        add->cb = NULL;
        cb(add->arg, TRG_ESTATE);
    }
    if (!a->rs)
        return;
    /* every message still out is released by the reader: the entries stay pending in Redis */
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &a->events)
    {
        struct async_event *ev = trg_list_entry(pos, struct async_event, link);
        ev->msg = NULL;
    }
    trg_rstream_destroy(a->rs);
    a->rs = NULL;
}

void trg_async_destroy(struct trg_async *a)
{
    if (!a)
        return;
    trg_async_stop(a);
    struct trg_list *pos, *tmp;
    trg_list_each(pos, tmp, &a->events)
    {
        struct async_event *ev = trg_list_entry(pos, struct async_event, link);
        if (a->redis)
            trg_info("async", ev->function, "event %s stays queued in Redis (%d invocations so far)",
                     ev->request_id, ev->attempts);
        else
            trg_warn("async", ev->function, "event %s was still queued at shutdown (%d invocations): lost",
                     ev->request_id, ev->attempts);
        event_free(ev);
    }
    trg_free(a->key);
    trg_free(a->consumer);
    trg_free(a);
}

/* What a Redis entry recorded of an event's earlier attempts (none for a new event). */
struct past {
    int attempts;
    int64_t retry_at_ms;
    const char *function_error; /* NULL: none */
    size_t fe_len;
    const char *response; /* NULL: none */
    size_t resp_len;
};

/* Queue an event in memory (from a submit without Redis, or an entry read from Redis: msg, with what it
 * recorded of earlier attempts: past, or NULL). */
static int queue_local(struct trg_async *a, const char *function, const char *payload, size_t len,
                       const char *request_id, int64_t created_ms, struct trg_rstream_msg *msg,
                       const struct past *past)
{
    struct async_event *ev = trg_calloc(1, sizeof *ev);
    if (!ev)
        return TRG_ENOMEM;
    ev->a = a;
    trg_list_init(&ev->link);
    ev->function = trg_strdup(function);
    ev->payload = trg_strndup(payload, len);
    if (!ev->function || !ev->payload) {
        event_free(ev);
        return TRG_ENOMEM;
    }
    ev->len = len;
    ev->msg = msg;
    snprintf(ev->request_id, sizeof ev->request_id, "%s", request_id);
    ev->created_ms = created_ms;
    ev_timer_init(&ev->timer, timer_cb, 0., 0.);
    ev->timer.data = ev;
    int64_t delay = 0; /* from the loop, after the 202 is answered */
    if (past && past->attempts > 0) {
        ev->attempts = past->attempts;
        if ((past->function_error &&
             !(ev->function_error = trg_strndup(past->function_error, past->fe_len))) ||
            (past->response && trg_buf_add(&ev->response, past->response, past->resp_len) != 0)) {
            event_free(ev);
            return TRG_ENOMEM;
        }
        /* the recorded wait, but no longer than the config asks now (it may have been shortened) */
        const struct trg_config *cfg = trg_engine_config(a->e);
        const struct trg_function_conf *fc = cfg ? trg_config_function(cfg, function) : NULL;
        int64_t conf_delay = fc ? fc->async.retry_delay_ms : 60000;
        for (int i = 1; i < ev->attempts && conf_delay < 3600000; i++)
            conf_delay *= 2;
        delay = past->retry_at_ms - trg_wall_ms();
        delay = delay < 0 ? 0 : delay > conf_delay ? conf_delay : delay;
        ev->retry_at_ms = trg_wall_ms() + delay;
    }
    trg_list_push_back(&a->events, &ev->link);
    retry_in(ev, delay);
    return 0;
}

/* The integer in a stream field's value (0 when absent or not a number). */
static int64_t field_int(const char *v, size_t len)
{
    char s[24] = {0};
    snprintf(s, sizeof s, "%.*s", (int)(len < 23 ? len : 23), v ? v : "");
    return strtoll(s, NULL, 10);
}

/* An entry of the Redis stream: an event to run (here, whichever replica queued it). */
static void entry_cb(void *arg, const struct trg_rstream_entry *en)
{
    struct trg_async *a = arg;
    const char *f[8] = {"function", "request_id",  "created_ms",     "payload",
                        "attempts", "retry_at_ms", "function_error", "response"};
    const char *v[8] = {0};
    size_t vl[8] = {0};
    for (size_t i = 0; i < en->n_fields; i++)
        for (int k = 0; k < 8; k++)
            if (en->field_lens[i] == strlen(f[k]) && memcmp(en->fields[i], f[k], en->field_lens[i]) == 0) {
                v[k] = en->values[i];
                vl[k] = en->value_lens[i];
            }
    if (!v[0] || !v[1] || !v[3] || vl[1] >= 40) {
        trg_warn("async", NULL, "stream entry %s is not an Event invocation: deleted", en->id);
        trg_rstream_ack(en->msg, true);
        return;
    }
    if (trg_engine_stopping(a->e)) { /* left pending: reclaimed after a restart, or by another replica */
        trg_rstream_release(en->msg);
        return;
    }
    char *function = trg_strndup(v[0], vl[0]), *rid = trg_strndup(v[1], vl[1]);
    int64_t created_ms = field_int(v[2], vl[2]);
    struct past past = {.attempts = (int)field_int(v[4], vl[4]),
                        .retry_at_ms = field_int(v[5], vl[5]),
                        .function_error = v[6],
                        .fe_len = vl[6],
                        .response = v[7],
                        .resp_len = vl[7]};
    if (past.attempts < 0 || past.attempts > 1000)
        past.attempts = 0;
    int rc = function && rid ? queue_local(a, function, v[3], vl[3], rid,
                                           created_ms > 0 ? created_ms : trg_wall_ms(), en->msg, &past)
                             : TRG_ENOMEM;
    if (rc != 0) {
        trg_error("async", function, "cannot take event %s from Redis (%s): left pending", en->id,
                  trg_strerror(rc));
        trg_rstream_release(en->msg);
    }
    trg_free(function);
    trg_free(rid);
}

static void added(void *arg, redisReply *reply)
{
    struct async_add *add = arg;
    trg_list_remove(&add->link);
    if (!add->cb) { /* answered already by trg_async_stop() */
        trg_free(add->function);
        trg_free(add);
        return;
    }
    int err = reply && reply->type == REDIS_REPLY_STRING ? 0 : TRG_EIO;
    if (err)
        trg_warn("async", NULL, "an Event invocation could not be queued in Redis (%s)",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer");
    else if (add->function)
        count(add->a, add->function, "queued");
    add->cb(add->arg, err);
    trg_free(add->function);
    trg_free(add);
}

int trg_async_submit(struct trg_async *a, const char *function, const char *payload, size_t len,
                     const char *request_id, trg_async_queued_cb cb, void *arg)
{
    const struct trg_config *cfg = trg_engine_config(a->e);
    if (!cfg || !trg_config_function(cfg, function))
        return TRG_ENOTFOUND;
    if (trg_engine_stopping(a->e))
        return TRG_ESTATE;
    if (!a->redis) {
        int rc = queue_local(a, function, payload, len, request_id, trg_wall_ms(), NULL, NULL);
        if (rc == 0) {
            count(a, function, "queued");
            cb(arg, 0);
        }
        return rc;
    }
    char created[24];
    snprintf(created, sizeof created, "%lld", (long long)trg_wall_ms());
    struct async_event ev = {.function = (char *)function, .payload = (char *)payload, .len = len};
    snprintf(ev.request_id, sizeof ev.request_id, "%s", request_id);
    return xadd(a, &ev, created, NULL, NULL, cb, arg, function);
}

/* XADD ev (function, request_id, created_ms, payload; with attempts: also attempts, retry_at_ms and its last
 * error's function_error and response) to the stream; cb(arg, err) once Redis answered. metric_function: the
 * function counted "queued" then, or NULL. */
static int xadd(struct trg_async *a, const struct async_event *ev, const char *created, const char *attempts,
                const char *retry_at, trg_async_queued_cb cb, void *arg, const char *metric_function)
{
    struct async_add *add = trg_calloc(1, sizeof *add);
    if (!add || (metric_function && !(add->function = trg_strdup(metric_function)))) {
        trg_free(add);
        return TRG_ENOMEM;
    }
    const char *argv[19] = {"XADD",         a->key,       "*",     "function", ev->function, "request_id",
                            ev->request_id, "created_ms", created, "payload",  ev->payload};
    size_t lens[19] = {4,  strlen(a->key),  1, 8,      strlen(ev->function), 10, strlen(ev->request_id),
                       10, strlen(created), 7, ev->len};
    int n = 11;
    if (attempts) {
        argv[n] = "attempts", lens[n++] = 8;
        argv[n] = attempts, lens[n++] = strlen(attempts);
        argv[n] = "retry_at_ms", lens[n++] = 11;
        argv[n] = retry_at, lens[n++] = strlen(retry_at);
        if (ev->function_error) {
            argv[n] = "function_error", lens[n++] = 14;
            argv[n] = ev->function_error, lens[n++] = strlen(ev->function_error);
        }
        if (ev->response.len > 0) {
            argv[n] = "response", lens[n++] = 8;
            argv[n] = ev->response.data, lens[n++] = ev->response.len;
        }
    }
    add->a = a;
    add->cb = cb;
    add->arg = arg;
    int rc = trg_redis_command(a->redis, added, add, n, argv, lens);
    if (rc != 0) {
        trg_free(add->function);
        trg_free(add);
        return rc;
    }
    trg_list_push_back(&a->adds, &add->link);
    return 0;
}
