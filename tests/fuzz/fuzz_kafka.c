/* fuzz_kafka.c — libFuzzer entry for a Kafka record made into an event.
 *
 * Input: one flag byte (bit 0 null key, bit 1 null value, bits 2-3 timestamp type, bits 4-6 number of
 * headers), then NUL-separated fields: topic, key, value, then header names and values (a header value
 * "\x01" is a null header). Checks, besides what the sanitizers see: the record, the envelope and the
 * batch info are JSON; base64 key and value decode back to the bytes sent (round trip); the filter view
 * exists and shows the topic; the lane of a key is below n.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "connectors/kafka/kafka_event.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 20

static cJSON *must_json(const struct trg_buf *b)
{
    cJSON *j = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    if (!j)
        abort();
    return j;
}

static void same_base64(const cJSON *rec, const char *name, const void *want, size_t want_len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, name);
    if (!want) {
        if (v)
            abort(); /* null key / value: left out */
        return;
    }
    if (!cJSON_IsString(v))
        abort();
    struct trg_buf dec = {0};
    if (trg_base64_decode(v->valuestring, strlen(v->valuestring), &dec) < 0 || dec.len != want_len ||
        (want_len && memcmp(dec.data, want, want_len) != 0))
        abort();
    trg_buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    char *copy = trg_malloc(size);
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *f[MAX_FIELDS] = {0};
    size_t flen[MAX_FIELDS] = {0}, nf = 0;
    const char *p = copy, *end = copy + size - 1;
    for (;;) {
        const char *z = memchr(p, 0, (size_t)(end - p) + 1);
        f[nf] = p;
        flen[nf++] = (size_t)(z - p);
        if (z >= end || nf == MAX_FIELDS)
            break;
        p = z + 1;
    }
    struct trg_kafka_header hdrs[7];
    size_t nh = 0;
    for (size_t i = 3; i + 1 < nf && nh < ((flags >> 4) & 7); i += 2, nh++) {
        bool null = flen[i + 1] == 1 && f[i + 1][0] == 1;
        hdrs[nh] = (struct trg_kafka_header){f[i], null ? NULL : f[i + 1], null ? 0 : flen[i + 1]};
    }
    struct trg_kafka_record r = {
        .topic = nf > 0 && flen[0] ? f[0] : "t",
        .partition = (int32_t)(flags & 0x7f),
        .offset = (int64_t)size * 1000003,
        .timestamp = flags & 0x80 ? -1 : 1749893467563LL,
        .ts_type = (int)((flags >> 2) & 3) % 3,
        .key = flags & 1 ? NULL : (nf > 1 ? f[1] : ""),
        .key_len = flags & 1 ? 0 : (nf > 1 ? flen[1] : 0),
        .value = flags & 2 ? NULL : (nf > 2 ? f[2] : ""),
        .value_len = flags & 2 ? 0 : (nf > 2 ? flen[2] : 0),
        .headers = hdrs,
        .n_headers = nh,
    };
    struct trg_buf rec = {0}, env = {0}, info = {0};
    if (trg_kafka_record_json(&r, &rec) < 0)
        abort();
    cJSON *j = must_json(&rec);
    same_base64(j, "key", r.key, r.key_len);
    same_base64(j, "value", r.value, r.value_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "topic");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, r.topic) != 0)
        abort();
    cJSON_Delete(j);
    cJSON *view = trg_kafka_filter_view(rec.data, rec.len);
    if (!view)
        abort();
    cJSON_Delete(view);
    const char *recs[] = {rec.data};
    size_t lens[] = {rec.len};
    if (trg_kafka_envelope("127.0.0.1:9092", "t-0", recs, lens, 1, &env) < 0)
        abort();
    cJSON_Delete(must_json(&env));
    if (trg_kafka_batch_info("127.0.0.1:9092", "t-0", 1, rec.len, r.offset, r.offset, r.timestamp, r.timestamp,
                             &info) < 0)
        abort();
    cJSON_Delete(must_json(&info));
    if (trg_kafka_key_lane(r.key, r.key_len, 7) >= 7)
        abort();
    /* the input itself as a record object from elsewhere: only the sanitizers judge */
    cJSON_Delete(trg_kafka_filter_view((const char *)data, size));
    trg_buf_free(&rec);
    trg_buf_free(&env);
    trg_buf_free(&info);
    trg_free(copy);
    return 0;
}
