/* kafka_event.c — the Kafka record as Lambda's self-managed Kafka event carries it, and the pure
 * helpers around it (see kafka_event.h). */
#include "kafka_event.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

static const char *ts_type_name(int t)
{
    switch (t) {
    case TRG_KAFKA_TS_CREATE: return "CREATE_TIME";
    case TRG_KAFKA_TS_LOG_APPEND: return "LOG_APPEND_TIME";
    default: return "NO_TIMESTAMP_TYPE";
    }
}

static int add_byte_array(struct trg_buf *out, const unsigned char *p, size_t n)
{
    int rc = trg_buf_addc(out, '[');
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = trg_buf_addf(out, i ? ",%u" : "%u", (unsigned)p[i]);
    return rc ? rc : trg_buf_addc(out, ']');
}

int trg_kafka_record_json(const struct trg_kafka_record *r, struct trg_buf *out)
{
    /* one allocation for the usual record: the fixed text, the topic, base64 of key and value */
    size_t topic_len = strlen(r->topic);
    int rc = trg_buf_reserve(out, 160 + topic_len + (r->key_len + 2) / 3 * 4 + (r->value_len + 2) / 3 * 4);
    if (!rc)
        rc = trg_buf_adds(out, "{\"topic\":");
    if (!rc)
        rc = trg_buf_add_json_str(out, r->topic, topic_len);
    if (!rc)
        rc = trg_buf_adds(out, ",\"partition\":");
    if (!rc)
        rc = trg_buf_add_int(out, r->partition);
    if (!rc)
        rc = trg_buf_adds(out, ",\"offset\":");
    if (!rc)
        rc = trg_buf_add_int(out, r->offset);
    if (!rc)
        rc = trg_buf_adds(out, ",\"timestamp\":");
    if (!rc)
        rc = trg_buf_add_int(out, r->timestamp);
    if (!rc)
        rc = trg_buf_adds(out, ",\"timestampType\":\"");
    if (!rc)
        rc = trg_buf_adds(out, ts_type_name(r->ts_type));
    if (!rc)
        rc = trg_buf_addc(out, '"');
    if (!rc && r->key) {
        rc = trg_buf_adds(out, ",\"key\":\"");
        if (!rc)
            rc = trg_buf_add_base64(out, r->key, r->key_len);
        if (!rc)
            rc = trg_buf_addc(out, '"');
    }
    if (!rc && r->value) {
        rc = trg_buf_adds(out, ",\"value\":\"");
        if (!rc)
            rc = trg_buf_add_base64(out, r->value, r->value_len);
        if (!rc)
            rc = trg_buf_addc(out, '"');
    }
    if (!rc)
        rc = trg_buf_adds(out, ",\"headers\":[");
    for (size_t i = 0; !rc && i < r->n_headers; i++) {
        const struct trg_kafka_header *h = &r->headers[i];
        rc = trg_buf_adds(out, i ? ",{" : "{");
        if (!rc)
            rc = trg_buf_add_json_str(out, h->name ? h->name : "", h->name ? strlen(h->name) : 0);
        if (!rc)
            rc = trg_buf_addc(out, ':');
        if (!rc)
            rc = add_byte_array(out, h->value, h->value ? h->len : 0);
        if (!rc)
            rc = trg_buf_addc(out, '}');
    }
    if (!rc)
        rc = trg_buf_adds(out, "]}");
    return rc;
}

int trg_kafka_envelope(const char *bootstrap, const char *tp, const char *const *records, const size_t *lens,
                       size_t n, struct trg_buf *out)
{
    size_t total = 128 + 2 * (strlen(bootstrap) + strlen(tp)); /* the envelope, escapes included */
    for (size_t i = 0; i < n; i++)
        total += lens[i] + 1;
    int rc = trg_buf_reserve(out, total); /* one allocation for the whole payload */
    if (!rc)
        rc = trg_buf_adds(out, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":");
    if (!rc)
        rc = trg_buf_add_json_str(out, bootstrap, strlen(bootstrap));
    if (!rc)
        rc = trg_buf_adds(out, ",\"records\":{");
    if (!rc)
        rc = trg_buf_add_json_str(out, tp, strlen(tp));
    if (!rc)
        rc = trg_buf_adds(out, ":[");
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = trg_buf_addc(out, ',');
        if (!rc)
            rc = trg_buf_add(out, records[i], lens[i]);
    }
    if (!rc)
        rc = trg_buf_adds(out, "]}}");
    return rc;
}

/* A base64 field decoded into a cJSON string (or, for the value, parsed JSON when it is JSON). */
static cJSON *decoded(const cJSON *field, bool try_json)
{
    struct trg_buf b = {0};
    cJSON *v = NULL;
    if (!cJSON_IsString(field) || trg_base64_decode(field->valuestring, strlen(field->valuestring), &b) < 0) {
        trg_buf_free(&b);
        return NULL;
    }
    if (try_json && b.len > 0)
        v = trg_json_parse(b.data, b.len, NULL);
    if (!v)
        v = cJSON_CreateString(b.data ? b.data : "");
    trg_buf_free(&b);
    return v;
}

cJSON *trg_kafka_filter_view(const char *json, size_t len)
{
    cJSON *rec = trg_json_parse(json, len, NULL), *view = NULL, *hdrs, *v;
    static const char *const plain[] = {"topic", "partition", "offset", "timestamp", "timestampType"};
    if (!cJSON_IsObject(rec))
        goto fail;
    view = cJSON_CreateObject();
    if (!view)
        goto fail;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(plain); i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec, plain[i]);
        if (f && !cJSON_AddItemToObject(view, plain[i], cJSON_Duplicate(f, true)))
            goto fail;
    }
    if (cJSON_GetObjectItemCaseSensitive(rec, "key")) {
        v = decoded(cJSON_GetObjectItemCaseSensitive(rec, "key"), false);
        if (!v || !cJSON_AddItemToObject(view, "key", v)) {
            cJSON_Delete(v);
            goto fail;
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(rec, "value")) {
        v = decoded(cJSON_GetObjectItemCaseSensitive(rec, "value"), true);
        if (!v || !cJSON_AddItemToObject(view, "value", v)) {
            cJSON_Delete(v);
            goto fail;
        }
    }
    hdrs = cJSON_AddArrayToObject(view, "headers");
    if (!hdrs)
        goto fail;
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(rec, "headers"))
    {
        const cJSON *bytes = h->child;
        struct trg_buf b = {0};
        cJSON *o;
        if (!bytes || !bytes->string)
            continue;
        const cJSON *byte;
        cJSON_ArrayForEach(byte, bytes)
        {
            if (trg_buf_addc(&b, (char)(unsigned char)byte->valueint) < 0) {
                trg_buf_free(&b);
                goto fail;
            }
        }
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(hdrs, o) || !cJSON_AddStringToObject(o, bytes->string, b.data ? b.data : "")) {
            if (o && !o->prev)
                cJSON_Delete(o);
            trg_buf_free(&b);
            goto fail;
        }
        trg_buf_free(&b);
    }
    cJSON_Delete(rec);
    return view;
fail:
    cJSON_Delete(rec);
    cJSON_Delete(view);
    return NULL;
}

int trg_kafka_batch_info(const char *bootstrap, const char *tp, size_t n, size_t payload_size,
                         int64_t first_offset, int64_t last_offset, int64_t first_ts, int64_t last_ts,
                         struct trg_buf *out)
{
    char t0[32], t1[32];
    trg_format_time_ms(first_ts, t0);
    trg_format_time_ms(last_ts, t1);
    int rc = trg_buf_addf(out, "{\"batchSize\":%zu,\"bootstrapServers\":", n);
    if (!rc)
        rc = trg_buf_add_json_str(out, bootstrap, strlen(bootstrap));
    if (!rc)
        rc = trg_buf_addf(out, ",\"payloadSize\":%zu,\"recordsInfo\":{", payload_size);
    if (!rc)
        rc = trg_buf_add_json_str(out, tp, strlen(tp));
    if (!rc)
        rc = trg_buf_addf(out,
                          ":{\"firstRecordOffset\":%" PRId64 ",\"lastRecordOffset\":%" PRId64
                          ",\"firstRecordTimestamp\":\"%s\",\"lastRecordTimestamp\":\"%s\"}}}",
                          first_offset, last_offset, t0, t1);
    return rc;
}

unsigned trg_kafka_key_lane(const void *key, size_t len, unsigned n)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    if (!key || n <= 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h % n;
}
