/* dlq.c — the DLQ front: destination records, argument checks, and dispatch to a backend. */
#include <cjson/cJSON.h>
#include <string.h>

#include "dlq.h"
#include "dlq_backend.h"
#include "log.h"
#include "util.h"

#define RESPONSE_MAX 4096

struct trg_dlq {
    struct trg_dlq_backend *be;
    bool closing;
};

const char *trg_dlq_condition_name(enum trg_dlq_condition c)
{
    switch (c) {
    case TRG_DLQ_RETRIES_EXHAUSTED: return "RetryAttemptsExhausted";
    case TRG_DLQ_AGE_EXCEEDED: return "EventAgeExceeded";
    case TRG_DLQ_PAYLOAD_TOO_LARGE: return "MaximumPayloadSizeExceeded";
    case TRG_DLQ_REJECTED: return "Rejected";
    }
    return "Unknown";
}

/* --- ids and entries ------------------------------------------------------------------------- */

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return TRG_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TRG_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int trg_dlq_id_parse(const char *id, size_t len, uint64_t *ms, uint64_t *seq)
{
    if (!id)
        return TRG_EINVAL;
    const char *dash = memchr(id, '-', len);
    if (!dash)
        return TRG_EINVAL;
    size_t a = (size_t)(dash - id);
    if (parse_u64(id, a, ms) < 0 || parse_u64(dash + 1, len - a - 1, seq) < 0)
        return TRG_EINVAL;
    return 0;
}

void trg_dlq_entries_free(struct trg_dlq_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        trg_free(e[i].id);
        trg_free(e[i].record);
    }
    trg_free(e);
}

/* --- records --------------------------------------------------------------------------------- */

/* Append any bytes as a JSON string; invalid UTF-8 becomes U+FFFD. */
static int add_bytes_str(struct trg_buf *b, const char *s, size_t n, const char *suffix)
{
    struct trg_buf clean = {0};
    const unsigned char *u = (const unsigned char *)s;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t l = trg_utf8_seq(u + i, n - i);
        if (l == 0) {
            rc = trg_buf_add(&clean, "\xef\xbf\xbd", 3);
            i++;
        } else {
            rc = trg_buf_add(&clean, s + i, l);
            i += l;
        }
    }
    if (rc == 0 && suffix)
        rc = trg_buf_adds(&clean, suffix);
    if (rc == 0)
        rc = trg_buf_add_json_str(b, clean.data ? clean.data : "", clean.len);
    trg_buf_free(&clean);
    return rc;
}

/* Whether s[0..n) is exactly one JSON value (whitespace around it allowed). */
static bool is_json(const char *s, size_t n)
{
    if (!s || n == 0)
        return false;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, false);
    if (!j)
        return false;
    cJSON_Delete(j);
    for (; end && end < s + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return false;
    /* control characters inside strings are escaped by add_json_min() */
    return trg_json_strict(s, n, true);
}

/* Append JSON text minified (whitespace outside strings removed; numbers untouched). cJSON accepts raw
 * control characters inside strings ("a<LF>b"), which JSON does not allow and which would split the DLQ
 * line: after minifying, the only ones left are inside strings, and they are written as \u00XX. */
static int add_json_min(struct trg_buf *b, const char *s, size_t n)
{
    char *copy = trg_strndup(s, n);
    if (!copy)
        return TRG_ENOMEM;
    cJSON_Minify(copy);
    int rc = 0;
    const char *run = copy;
    for (const char *p = copy; *p && rc == 0; p++) {
        if ((unsigned char)*p >= 0x20)
            continue;
        rc = trg_buf_add(b, run, (size_t)(p - run));
        rc = rc ? rc : trg_buf_addf(b, "\\u%04x", (unsigned)(unsigned char)*p);
        run = p + 1;
    }
    rc = rc ? rc : trg_buf_adds(b, run);
    trg_free(copy);
    return rc;
}

/* Append s as JSON when it is JSON, else as a string. */
static int add_json_or_str(struct trg_buf *b, const char *s, size_t n)
{
    if (is_json(s, n))
        return add_json_min(b, s, n);
    return add_bytes_str(b, s ? s : "", s ? n : 0, NULL);
}

static int add_response(struct trg_buf *b, const char *s, size_t n)
{
    if (n <= RESPONSE_MAX)
        return add_json_or_str(b, s, n);
    size_t cut = RESPONSE_MAX;
    /* back off over continuation bytes so a multibyte character is not split */
    for (int k = 0; k < 3 && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80; k++)
        cut--;
    return add_bytes_str(b, s, cut, "...");
}

static int add_field_str(struct trg_buf *b, const char *name, const char *v)
{
    int rc = trg_buf_addf(b, "\"%s\":", name);
    if (rc == 0)
        rc = add_bytes_str(b, v ? v : "", v ? strlen(v) : 0, NULL);
    return rc;
}

int trg_dlq_record_build(const struct trg_dlq_info *info, struct trg_buf *out)
{
    if (!info || !out)
        return TRG_EINVAL;
    if (info->batch_info_key && !is_json(info->batch_info_json, info->batch_info_json
                                                                   ? strlen(info->batch_info_json) : 0))
        return TRG_EINVAL;
    if (info->n_records > 0 && (!info->records || !info->record_lens))
        return TRG_EINVAL;
    char ts[32], rid[40];
    trg_format_time_ms(info->timestamp_ms > 0 ? info->timestamp_ms : trg_wall_ms(), ts);
    if (!info->request_id)
        trg_request_id(rid);
    size_t start = out->len;
    int rc = trg_buf_addf(out, "{\"version\":\"1.0\",\"timestamp\":\"%s\",\"requestContext\":{", ts);
    if (rc == 0)
        rc = add_field_str(out, "requestId", info->request_id ? info->request_id : rid);
    if (rc == 0)
        rc = trg_buf_addc(out, ',');
    if (rc == 0)
        rc = add_field_str(out, "function", info->function);
    if (rc == 0)
        rc = trg_buf_addf(out, ",\"condition\":\"%s\",\"approximateInvokeCount\":%d},\"responseContext\":{",
                          trg_dlq_condition_name(info->condition), info->approximate_invoke_count);
    if (rc == 0 && info->status_code >= 0)
        rc = trg_buf_addf(out, "\"statusCode\":%d,", info->status_code);
    if (rc == 0)
        rc = trg_buf_adds(out, "\"executedVersion\":\"$LATEST\"");
    if (rc == 0 && info->function_error) {
        rc = trg_buf_addc(out, ',');
        if (rc == 0)
            rc = add_field_str(out, "functionError", info->function_error);
    }
    if (rc == 0)
        rc = trg_buf_adds(out, "},");
    if (rc == 0 && info->batch_info_key) {
        rc = add_bytes_str(out, info->batch_info_key, strlen(info->batch_info_key), NULL);
        if (rc == 0)
            rc = trg_buf_addc(out, ':');
        if (rc == 0)
            rc = add_json_min(out, info->batch_info_json, strlen(info->batch_info_json));
        if (rc == 0)
            rc = trg_buf_addc(out, ',');
    }
    if (rc == 0)
        rc = trg_buf_adds(out, "\"requestPayload\":");
    if (rc == 0)
        rc = add_json_or_str(out, info->request_payload, info->request_payload_len);
    if (rc == 0 && info->response_payload) {
        rc = trg_buf_adds(out, ",\"responsePayload\":");
        if (rc == 0)
            rc = add_response(out, info->response_payload, info->response_payload_len);
    }
    if (rc == 0)
        rc = trg_buf_adds(out, ",\"trigd\":{");
    if (rc == 0)
        rc = add_field_str(out, "route", info->route);
    if (rc == 0)
        rc = trg_buf_addc(out, ',');
    if (rc == 0)
        rc = add_field_str(out, "source", info->source);
    if (rc == 0)
        rc = trg_buf_adds(out, ",\"records\":[");
    for (size_t i = 0; rc == 0 && i < info->n_records; i++) {
        if (i > 0)
            rc = trg_buf_addc(out, ',');
        if (rc == 0)
            rc = add_json_or_str(out, info->records[i], info->record_lens[i]);
    }
    if (rc == 0)
        rc = trg_buf_adds(out, "]}}");
    if (rc != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* --- front ----------------------------------------------------------------------------------- */

enum trg_dlq_store trg_dlq_backend_resolve(enum trg_dlq_store configured, bool have_redis)
{
    if (configured == TRG_DLQ_BACKEND_AUTO)
        return have_redis ? TRG_DLQ_BACKEND_REDIS : TRG_DLQ_BACKEND_FILE;
    return configured;
}

int trg_dlq_create(struct ev_loop *loop, const struct trg_dlq_conf *conf, struct trg_redis *redis,
                   struct trg_dlq **out)
{
    *out = NULL;
    if (!loop || !conf)
        return TRG_EINVAL;
    struct trg_dlq *d = trg_calloc(1, sizeof(*d));
    if (!d)
        return TRG_ENOMEM;
    int rc;
    enum trg_dlq_store backend = trg_dlq_backend_resolve(conf->backend, redis != NULL);
    if (backend == TRG_DLQ_BACKEND_REDIS) {
        if (!redis) {
            trg_error("dlq", NULL, "the redis backend needs a redis connection; set the top-level \"redis\"");
            rc = TRG_EINVAL;
            goto fail;
        }
        rc = trg_dlq_redis_create(loop, redis, conf->max_len, &d->be);
    } else if (backend == TRG_DLQ_BACKEND_FILE) {
        if (!conf->dir || !conf->dir[0]) {
            trg_error("dlq", NULL, "the file backend needs a directory; set dlq.path or state_dir");
            rc = TRG_EINVAL;
            goto fail;
        }
        rc = trg_dlq_file_create(loop, conf->dir, &d->be);
    } else {
        rc = TRG_EINVAL;
    }
    if (rc < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    trg_free(d);
    return rc;
}

void trg_dlq_destroy(struct trg_dlq *d)
{
    if (!d || d->closing)
        return;
    d->closing = true; /* callbacks run by the backend's destroy see TRG_ESTATE */
    d->be->ops->destroy(d->be);
    trg_free(d);
}

static bool route_ok(const char *route)
{
    return route && route[0];
}

static bool id_ok(const char *id)
{
    uint64_t ms, seq;
    return id && trg_dlq_id_parse(id, strlen(id), &ms, &seq) == 0;
}

int trg_dlq_put(struct trg_dlq *d, const char *route, const char *record, size_t len, trg_dlq_put_cb cb,
                void *arg)
{
    if (!d || !cb || !route_ok(route) || !is_json(record, len))
        return TRG_EINVAL;
    if (d->closing)
        return TRG_ESTATE;
    return d->be->ops->put(d->be, route, record, len, cb, arg);
}

int trg_dlq_list(struct trg_dlq *d, const char *route, const char *after, size_t count, trg_dlq_list_cb cb,
                 void *arg)
{
    if (!d || !cb || !route_ok(route) || count == 0 || (after && !id_ok(after)))
        return TRG_EINVAL;
    if (d->closing)
        return TRG_ESTATE;
    return d->be->ops->list(d->be, route, after, count, cb, arg);
}

int trg_dlq_get(struct trg_dlq *d, const char *route, const char *id, trg_dlq_list_cb cb, void *arg)
{
    if (!d || !cb || !route_ok(route) || !id_ok(id))
        return TRG_EINVAL;
    if (d->closing)
        return TRG_ESTATE;
    return d->be->ops->get(d->be, route, id, cb, arg);
}

int trg_dlq_delete(struct trg_dlq *d, const char *route, const char *id, trg_dlq_done_cb cb, void *arg)
{
    if (!d || !cb || !route_ok(route) || !id_ok(id))
        return TRG_EINVAL;
    if (d->closing)
        return TRG_ESTATE;
    return d->be->ops->del(d->be, route, id, cb, arg);
}

int trg_dlq_purge(struct trg_dlq *d, const char *route, trg_dlq_done_cb cb, void *arg)
{
    if (!d || !cb || !route_ok(route))
        return TRG_EINVAL;
    if (d->closing)
        return TRG_ESTATE;
    return d->be->ops->purge(d->be, route, cb, arg);
}
