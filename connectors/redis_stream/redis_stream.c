/* redis_stream.c — the "redis_stream" source: a Redis stream read through a consumer group, the
 * self-hosted SQS. Each entry becomes an SQS-shaped record (sqs_record.h); an entry is XACKed once its
 * record reached its final outcome (succeeded, filtered out, or in the DLQ), and left pending otherwise,
 * to be reclaimed after visibility_timeout_ms (src/rstream.h does the reading, claiming and heartbeats).
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <string.h>

#include "../connector.h"
#include "sqs_record.h"

struct rs_opts {
    char *stream;
    char *group;
    char *consumer;
    int start;
    int64_t visibility_timeout_ms;
    int64_t max_receive_count;
    int64_t max_concurrency;
    int envelope;
};

static const char *const rs_starts[] = {"$", "0", NULL};
static const char *const rs_envelopes[] = {"trigd", "sqs", NULL};

#define O(f) offsetof(struct rs_opts, f)
static const struct trg_opt rs_options[] = {
    {"stream", TRG_OPT_STRING, NULL, 0, 0, NULL, O(stream), "Key of the stream to consume (created when missing).",
     NULL, TRG_OPT_REQUIRED},
    {"group", TRG_OPT_STRING, "\"trigd\"", 0, 0, NULL, O(group),
     "Consumer group; created (MKSTREAM) when missing. Replicas with the same group share the entries.", NULL,
     0},
    {"consumer", TRG_OPT_STRING, NULL, 0, 0, NULL, O(consumer),
     "Consumer name within the group; default: host name and pid (`host-1234`), unique per replica.", NULL, 0},
    {"start", TRG_OPT_ENUM, "\"$\"", 0, 0, NULL, O(start),
     "Where a new group starts (Lambda's StartingPosition): `$` new entries only (LATEST), `0` every entry "
     "in the stream (TRIM_HORIZON). An existing group keeps its position.", rs_starts, 0},
    {"visibility_timeout_ms", TRG_OPT_INT, "30000", 100, 43200000, "ms", O(visibility_timeout_ms),
     "An entry delivered and not acknowledged for this long without a heartbeat (its replica crashed), or "
     "given back (shutdown), is delivered again (XPENDING/XCLAIM), with its receive count raised.", NULL, 0},
    {"max_receive_count", TRG_OPT_INT, "0", 0, 10000, "receives", O(max_receive_count),
     "SQS's redrive policy maxReceiveCount: an entry received more often than this (redeliveries after "
     "crashes, and failed invocations, each count) goes to the route's DLQ and is acknowledged. Acts as "
     "max_retry_attempts = max_receive_count - 1 across restarts. 0 = no limit of its own.", NULL, 0},
    {"max_concurrency", TRG_OPT_INT, "1000", 1, 1000000, "entries", O(max_concurrency),
     "Entries taken from the stream and not yet finished, at most: reading pauses at this many.", NULL, 0},
    {"envelope", TRG_OPT_ENUM, "\"trigd\"", 0, 0, NULL, O(envelope),
     "Records' eventSource: `trigd` = \"trigd:redis\"; `sqs` = \"aws:sqs\", for handlers and batch "
     "libraries written for SQS.", rs_envelopes, 0},
};

struct rs {
    struct trg_source *src;
    const struct rs_opts *opts;
    const char *name;
    char *consumer;
    struct trg_rstream *rs;
    struct trg_buf scratch; /* the SQS record being built, reused */
    bool stopped;
};

static int rs_create(struct trg_source *src, const void *opts, void **out)
{
    const struct rs_opts *o = opts;
    *out = NULL;
    if (!trg_source_redis(src)) {
        trg_error("redis_stream", trg_source_name(src), "needs the top-level \"redis\" object (redis.url)");
        return TRG_EINVAL;
    }
    struct rs *s = trg_calloc(1, sizeof *s);
    if (!s)
        return TRG_ENOMEM;
    s->src = src;
    s->opts = o;
    s->name = trg_source_name(src);
    s->consumer = o->consumer ? trg_strdup(o->consumer) : trg_rstream_default_consumer();
    if (!s->consumer) {
        trg_free(s);
        return TRG_ENOMEM;
    }
    *out = s;
    return 0;
}

static void rs_entry(void *arg, const struct trg_rstream_entry *en)
{
    struct rs *s = arg;
    struct trg_rs_entry e = {
        .id = en->id,
        .n_fields = en->n_fields,
        .fields = en->fields,
        .field_lens = en->field_lens,
        .values = en->values,
        .value_lens = en->value_lens,
        .receive_count = en->delivery_count,
        .first_receive_ms = trg_wall_ms(),
        .event_source = s->opts->envelope == 1 ? "aws:sqs" : "trigd:redis",
        .arn = s->opts->stream,
    };
    s->scratch.len = 0;
    if (trg_rs_sqs_record(&e, &s->scratch) != 0) {
        trg_error("redis_stream", s->name, "out of memory taking entry %s: it is redelivered later", en->id);
        trg_rstream_release(en->msg);
        return;
    }
    struct trg_event *ev = trg_rstream_event(en, s->scratch.data, s->scratch.len, en->id, strlen(en->id), NULL, 0, 0);
    if (!ev)
        return;
    ev->max_receives = (int)s->opts->max_receive_count;
    ev->token = en->msg;
    int rc = trg_source_emit(s->src, ev);
    if (rc != 0) {
        trg_debug("redis_stream", s->name, "entry %s not taken (%s): it is redelivered later", en->id,
                  trg_strerror(rc));
        trg_event_free(ev);
        trg_rstream_release(en->msg);
        trg_rstream_pause(s->rs, true);
    }
}

static int rs_start(void *inst)
{
    struct rs *s = inst;
    struct trg_rstream_conf c = {
        .stream = s->opts->stream,
        .group = s->opts->group,
        .consumer = s->consumer,
        .start = rs_starts[s->opts->start],
        .batch = 100,
        .max_inflight = s->opts->max_concurrency,
        .visibility_timeout_ms = s->opts->visibility_timeout_ms,
        .log_component = "redis_stream",
        .log_instance = s->name,
        .rnd = trg_source_random,
        .rnd_state = s->src,
    };
    int rc = trg_rstream_create(trg_source_loop(s->src), trg_source_redis_conf(s->src), trg_source_redis(s->src),
                                &c, rs_entry, s, &s->rs);
    if (rc == 0 && (rc = trg_rstream_start(s->rs)) != 0) {
        trg_rstream_destroy(s->rs);
        s->rs = NULL;
    }
    if (rc != 0)
        trg_error("redis_stream", s->name, "cannot start reading %s: %s", s->opts->stream, trg_strerror(rc));
    return rc;
}

static void rs_stop(void *inst)
{
    struct rs *s = inst;
    s->stopped = true;
    if (s->rs)
        trg_rstream_pause(s->rs, true);
}

static void rs_destroy(void *inst)
{
    struct rs *s = inst;
    if (!s)
        return;
    trg_rstream_destroy(s->rs);
    trg_buf_free(&s->scratch);
    trg_free(s->consumer);
    trg_free(s);
}

static void rs_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    (void)inst;
    (void)res;
    struct trg_rstream_msg *m = ev->token;
    ev->token = NULL;
    if (status == TRG_DONE_OK)
        trg_rstream_ack(m, false);
    else
        trg_rstream_release(m);
}

static void rs_pause(void *inst, bool paused)
{
    struct rs *s = inst;
    if (s->rs)
        trg_rstream_pause(s->rs, paused || s->stopped);
}

static bool rs_ready(void *inst)
{
    struct rs *s = inst;
    return s->rs && trg_rstream_ready(s->rs);
}

static int rs_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    (void)inst;
    return trg_event_join(out, "{\"Records\":[", evs, n, "]}");
}

/* The body alone, for routes with "envelope": "raw". */
static int rs_raw(void *inst, const struct trg_event *ev, struct trg_buf *out)
{
    (void)inst;
    cJSON *doc = cJSON_ParseWithLength(ev->json, ev->len);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    int rc = cJSON_IsString(body) ? trg_buf_adds(out, body->valuestring) : 0;
    cJSON_Delete(doc);
    return rc ? TRG_ENOMEM : 0;
}

/* Filters see the record with its body parsed when the body is JSON (as Lambda's SQS filters do). */
static cJSON *rs_filter_view(void *inst, const struct trg_event *ev)
{
    (void)inst;
    return trg_json_parse_field(ev->json, ev->len, "body");
}

const struct trg_source_ops trg_source_redis_stream = {
    .name = "redis_stream",
    .route_defaults = "{\"batch_size\":10}",
    .options = rs_options,
    .n_options = TRG_ARRAY_SIZE(rs_options),
    .opts_size = sizeof(struct rs_opts),
    .create = rs_create,
    .start = rs_start,
    .stop = rs_stop,
    .destroy = rs_destroy,
    .done = rs_done,
    .pause = rs_pause,
    .raw = rs_raw,
    .envelope = rs_envelope,
    .filter_view = rs_filter_view,
    .ready = rs_ready,
};
