/* fuzz_mqtt.c — libFuzzer entry for an MQTT message made into an event.
 *
 * Input: one flag byte (qos in bits 0-1, retain bit 2, v5 properties bit 3), then NUL-separated
 * fields: topic, payload, content type, correlation data, response topic, then user property names
 * and values. Checks, besides what the sanitizers see: the record, the single-message form and the
 * batch are JSON; the raw payload decodes back to the bytes sent (a JSON payload: its own text, trimmed
 * of the white space around it) (round trip); the reply
 * target gives back the response topic and correlation data; the URL parser on the topic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "connectors/mqtt/mqtt_event.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 16

static void must_json(const struct trg_buf *b)
{
    cJSON *j = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    if (!j)
        abort();
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const char *f[MAX_FIELDS] = {0};
    size_t flen[MAX_FIELDS] = {0}, nf = 0;
    /* the input's bytes after the flag, NUL-terminated: each field is a C string in it */
    char *copy = trg_malloc(size);
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p <= end && nf < MAX_FIELDS) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
        f[nf] = copy + (p - ((const char *)data + 1));
        flen[nf++] = n;
        if (!z)
            break;
        p = z + 1;
    }
    bool v5 = flags & 8;
    const char *ukeys[4], *uvals[4];
    size_t nu = 0;
    for (size_t i = 5; i + 1 < nf && nu < 4; i += 2, nu++) {
        ukeys[nu] = f[i];
        uvals[nu] = f[i + 1];
    }
    struct trg_mqtt_msg m = {
        .topic = nf > 0 ? f[0] : "t",
        .payload = nf > 1 ? f[1] : "",
        .len = nf > 1 ? flen[1] : 0,
        .qos = (int)(flags & 3) % 3,
        .retain = flags & 4,
        .timestamp_ms = 1749893467563LL,
        .message_id = "m-1",
        .user_keys = v5 ? ukeys : NULL,
        .user_values = v5 ? uvals : NULL,
        .n_user = v5 ? nu : 0,
        .content_type = v5 && nf > 2 && flen[2] ? f[2] : NULL,
        .correlation = v5 && nf > 3 && flen[3] ? f[3] : NULL,
        .correlation_len = v5 && nf > 3 ? flen[3] : 0,
        .response_topic = v5 && nf > 4 && flen[4] ? f[4] : NULL,
        .expiry_s = v5 ? (int64_t)(flags >> 4) * 60 : -1,
    };
    struct trg_buf rec = {0}, raw = {0}, single = {0}, batch = {0}, corr = {0};
    if (trg_mqtt_record(&m, &rec) < 0)
        abort();
    must_json(&rec);
    if (trg_mqtt_raw(rec.data, rec.len, &raw) < 0)
        abort();
    /* the payload comes back byte for byte, or, when it was embedded as JSON, as its own text without
     * the white space around it (the record keeps the payload's text: never re-printed) */
    const char *pt = m.payload;
    size_t pl = m.len;
    while (pl && strchr(" \t\r\n", *pt) && *pt) {
        pt++;
        pl--;
    }
    while (pl && strchr(" \t\r\n", pt[pl - 1]) && pt[pl - 1])
        pl--;
    bool same = raw.len == m.len && (m.len == 0 || memcmp(raw.data, m.payload, m.len) == 0);
    bool trimmed = raw.len == pl && (pl == 0 || memcmp(raw.data, pt, pl) == 0);
    if (!same && !trimmed)
        abort();
    cJSON *view = trg_mqtt_filter_view(rec.data, rec.len);
    if (!view)
        abort();
    cJSON_Delete(view);
    const char *include[] = {"topic", "qos", "timestamp"};
    if (trg_mqtt_single(rec.data, rec.len, include, 3, &single) < 0)
        abort();
    must_json(&single);
    const char *recs[] = {rec.data, rec.data};
    size_t lens[] = {rec.len, rec.len};
    if (trg_mqtt_batch(recs, lens, 2, &batch) < 0)
        abort();
    must_json(&batch);
    char *topic = NULL;
    int rt = trg_mqtt_reply_target(rec.data, rec.len, &topic, &corr);
    if (m.response_topic) {
        if (rt != 0 || !topic || strcmp(topic, m.response_topic) != 0)
            abort();
        if (m.correlation && (corr.len != m.correlation_len || memcmp(corr.data, m.correlation, corr.len) != 0))
            abort();
    }
    trg_free(topic);
    char *host = NULL;
    int port = 0;
    bool tls = false;
    if (trg_mqtt_parse_url(m.topic, &host, &port, &tls) == 0 && (!host || port < 1 || port > 65535))
        abort();
    trg_free(host);
    trg_buf_free(&rec);
    trg_buf_free(&raw);
    trg_buf_free(&single);
    trg_buf_free(&batch);
    trg_buf_free(&corr);
    trg_free(copy);
    return 0;
}
