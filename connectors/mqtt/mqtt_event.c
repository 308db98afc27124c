/* mqtt_event.c — the pure parts of the MQTT source: URL parsing, records, the IoT-rule form of a
 * single message, envelopes, filter views and replies (see mqtt_event.h).
 *
 * A record always starts with {"payload": so that the payload's own JSON text can be found and
 * passed on verbatim (no number is re-printed through a double on the way to the function).
 */
#include "mqtt_event.h"

#include <stdlib.h>
#include <string.h>

#define PAYLOAD_KEY "{\"payload\":"

int trg_mqtt_parse_url(const char *url, char **host, int *port, bool *tls)
{
    const char *p, *end, *colon = NULL;
    long n = -1;

    *host = NULL;
    if (!url)
        return TRG_EINVAL;
    if (!strncmp(url, "mqtt://", 7)) {
        *tls = false;
        p = url + 7;
    } else if (!strncmp(url, "mqtts://", 8)) {
        *tls = true;
        p = url + 8;
    } else {
        return TRG_EINVAL;
    }
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end || end == p + 1)
            return TRG_EINVAL;
        *host = trg_strndup(p + 1, (size_t)(end - p - 1));
        p = end + 1;
        if (*p == ':')
            colon = p;
        else if (*p && strcmp(p, "/"))
            goto bad;
    } else {
        end = p + strcspn(p, ":/");
        if (end == p)
            return TRG_EINVAL;
        *host = trg_strndup(p, (size_t)(end - p));
        if (*end == ':')
            colon = end;
        else if (*end && strcmp(end, "/"))
            goto bad;
    }
    if (!*host)
        return TRG_ENOMEM;
    if (colon) {
        char *e;
        n = strtol(colon + 1, &e, 10);
        if (e == colon + 1 || (*e && strcmp(e, "/")) || n < 1 || n > 65535)
            goto bad;
    }
    *port = n > 0 ? (int)n : (*tls ? 8883 : 1883);
    return 0;
bad:
    trg_free(*host);
    *host = NULL;
    return TRG_EINVAL;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The JSON text of payload trimmed of white space, or NULL when it is not one JSON value. */
static const char *json_payload(const void *payload, size_t len, size_t *out_len)
{
    const char *s = payload;
    cJSON *doc;

    if (len == 0 || !payload)
        return NULL;
    doc = trg_json_parse(s, len, NULL);
    if (!doc)
        return NULL;
    cJSON_Delete(doc);
    /* 0123, invalid UTF-8 or a raw line feed in a string would make the whole batch invalid JSON for
     * the function (one publisher failing everyone's batch): such a payload goes as base64 */
    if (!trg_json_strict(s, len, false))
        return NULL;
    while (len > 0 && is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    *out_len = len;
    return s;
}

int trg_mqtt_record(const struct trg_mqtt_msg *m, struct trg_buf *out)
{
    size_t jlen = 0;
    const char *json = json_payload(m->payload, m->len, &jlen);
    int err = trg_buf_adds(out, PAYLOAD_KEY);

    if (json) {
        err = err ? err : trg_buf_add(out, json, jlen);
        err = err ? err : trg_buf_adds(out, ",\"isBase64Encoded\":false");
    } else {
        err = err ? err : trg_buf_addc(out, '"');
        err = err ? err : trg_buf_add_base64(out, m->payload, m->len);
        err = err ? err : trg_buf_adds(out, "\",\"isBase64Encoded\":true");
    }
    if (m->message_id) {
        err = err ? err : trg_buf_adds(out, ",\"messageId\":");
        err = err ? err : trg_buf_add_json_str(out, m->message_id, strlen(m->message_id));
    }
    err = err ? err : trg_buf_adds(out, ",\"topic\":");
    err = err ? err : trg_buf_add_json_str(out, m->topic, strlen(m->topic));
    err = err ? err : trg_buf_addf(out, ",\"qos\":%d,\"retain\":%s,\"timestamp\":%lld,\"properties\":{", m->qos,
                                   m->retain ? "true" : "false", (long long)m->timestamp_ms);
    const char *sep = "";
    if (m->n_user > 0) {
        /* an object; a key sent several times becomes an array of its values, in order */
        err = err ? err : trg_buf_adds(out, "\"userProperties\":{");
        for (size_t i = 0; i < m->n_user && !err; i++) {
            size_t first = i, count = 0;
            for (size_t j = 0; j < m->n_user; j++) {
                if (!strcmp(m->user_keys[j], m->user_keys[i])) {
                    if (j < i)
                        first = j;
                    count++;
                }
            }
            if (first != i)
                continue; /* written with its first occurrence */
            err = trg_buf_adds(out, i ? "," : "");
            err = err ? err : trg_buf_add_json_str(out, m->user_keys[i], strlen(m->user_keys[i]));
            err = err ? err : trg_buf_adds(out, count > 1 ? ":[" : ":");
            size_t k = 0;
            for (size_t j = i; j < m->n_user && !err; j++) {
                if (strcmp(m->user_keys[j], m->user_keys[i]))
                    continue;
                err = trg_buf_adds(out, k++ ? "," : "");
                err = err ? err : trg_buf_add_json_str(out, m->user_values[j], strlen(m->user_values[j]));
            }
            err = err ? err : trg_buf_adds(out, count > 1 ? "]" : "");
        }
        err = err ? err : trg_buf_addc(out, '}');
        sep = ",";
    }
    if (m->content_type) {
        err = err ? err : trg_buf_addf(out, "%s\"contentType\":", sep);
        err = err ? err : trg_buf_add_json_str(out, m->content_type, strlen(m->content_type));
        sep = ",";
    }
    if (m->correlation) {
        err = err ? err : trg_buf_addf(out, "%s\"correlationData\":\"", sep);
        err = err ? err : trg_buf_add_base64(out, m->correlation, m->correlation_len);
        err = err ? err : trg_buf_addc(out, '"');
        sep = ",";
    }
    if (m->response_topic) {
        err = err ? err : trg_buf_addf(out, "%s\"responseTopic\":", sep);
        err = err ? err : trg_buf_add_json_str(out, m->response_topic, strlen(m->response_topic));
        sep = ",";
    }
    if (m->expiry_s >= 0)
        err = err ? err : trg_buf_addf(out, "%s\"messageExpiryInterval\":%lld", sep, (long long)m->expiry_s);
    return err ? err : trg_buf_adds(out, "}}");
}

static const char *const include_keys[] = {"messageId", "topic", "qos", "retain", "timestamp", "properties", NULL};

bool trg_mqtt_include_known(const char *key)
{
    for (size_t i = 0; include_keys[i]; i++)
        if (!strcmp(include_keys[i], key))
            return true;
    return false;
}

/* The payload's JSON text inside a record, and the record parsed. */
static cJSON *record_parse(const char *record, size_t len, const char **praw, size_t *praw_len)
{
    const char *end = NULL;
    cJSON *doc, *payload;

    if (len < sizeof PAYLOAD_KEY || memcmp(record, PAYLOAD_KEY, sizeof PAYLOAD_KEY - 1))
        return NULL;
    doc = trg_json_parse(record, len, NULL);
    if (!cJSON_IsObject(doc))
        goto bad;
    if (praw) {
        payload = cJSON_ParseWithLengthOpts(record + sizeof PAYLOAD_KEY - 1, len - (sizeof PAYLOAD_KEY - 1), &end,
                                            false);
        if (!payload)
            goto bad;
        cJSON_Delete(payload);
        *praw = record + sizeof PAYLOAD_KEY - 1;
        *praw_len = (size_t)(end - *praw);
    }
    return doc;
bad:
    cJSON_Delete(doc);
    return NULL;
}

static int add_include(struct trg_buf *out, const cJSON *doc, const char *const *include, size_t n, bool first)
{
    int err = 0;

    for (size_t i = 0; i < n && !err; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, include[i]);
        char *text;
        if (!v)
            continue;
        text = cJSON_PrintUnformatted(v);
        if (!text)
            return TRG_ENOMEM;
        err = trg_buf_adds(out, first ? "" : ",");
        err = err ? err : trg_buf_add_json_str(out, include[i], strlen(include[i]));
        err = err ? err : trg_buf_addc(out, ':');
        err = err ? err : trg_buf_adds(out, text);
        cJSON_free(text);
        first = false;
    }
    return err;
}

int trg_mqtt_single(const char *record, size_t len, const char *const *include, size_t n_include,
                    struct trg_buf *out)
{
    const char *raw = NULL;
    size_t raw_len = 0;
    cJSON *doc = record_parse(record, len, &raw, &raw_len);
    const cJSON *payload, *b64;
    int err;

    if (!doc)
        return TRG_EINVAL;
    payload = cJSON_GetObjectItemCaseSensitive(doc, "payload");
    b64 = cJSON_GetObjectItemCaseSensitive(doc, "isBase64Encoded");
    if (cJSON_IsTrue(b64)) {
        err = trg_buf_adds(out, "{\"payload\":");
        err = err ? err : trg_buf_add(out, raw, raw_len);
        err = err ? err : trg_buf_adds(out, ",\"isBase64Encoded\":true");
        err = err ? err : add_include(out, doc, include, n_include, false);
        err = err ? err : trg_buf_addc(out, '}');
    } else if (cJSON_IsObject(payload) && n_include > 0) {
        /* the object's own text up to its closing brace, then the included keys */
        while (raw_len > 0 && raw[raw_len - 1] != '}')
            raw_len--;
        err = trg_buf_add(out, raw, raw_len - 1);
        err = err ? err : add_include(out, doc, include, n_include, payload->child == NULL);
        err = err ? err : trg_buf_addc(out, '}');
    } else {
        err = trg_buf_add(out, raw, raw_len); /* JSON as JSON; a non-object cannot take keys */
    }
    cJSON_Delete(doc);
    return err;
}

int trg_mqtt_batch(const char *const *records, const size_t *lens, size_t n, struct trg_buf *out)
{
    int err = trg_buf_adds(out, "{\"eventSource\":\"trigd:mqtt\",\"records\":[");

    for (size_t i = 0; i < n && !err; i++) {
        err = i ? trg_buf_addc(out, ',') : 0;
        err = err ? err : trg_buf_add(out, records[i], lens[i]);
    }
    return err ? err : trg_buf_adds(out, "]}");
}

cJSON *trg_mqtt_filter_view(const char *record, size_t len)
{
    cJSON *doc = record_parse(record, len, NULL, NULL);
    cJSON *view, *payload;

    if (!doc)
        return NULL;
    view = cJSON_CreateObject();
    payload = cJSON_DetachItemFromObjectCaseSensitive(doc, "payload");
    if (!view || !payload || !cJSON_AddItemToObject(view, "topic", cJSON_DetachItemFromObjectCaseSensitive(doc, "topic")) ||
        !cJSON_AddItemToObject(view, "qos", cJSON_DetachItemFromObjectCaseSensitive(doc, "qos")) ||
        !cJSON_AddItemToObject(view, "payload", payload)) {
        cJSON_Delete(view);
        view = NULL;
    }
    cJSON_Delete(doc);
    return view;
}

int trg_mqtt_raw(const char *record, size_t len, struct trg_buf *out)
{
    const char *raw = NULL;
    size_t raw_len = 0;
    cJSON *doc = record_parse(record, len, &raw, &raw_len);
    const cJSON *payload;
    int err;

    if (!doc)
        return TRG_EINVAL;
    payload = cJSON_GetObjectItemCaseSensitive(doc, "payload");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "isBase64Encoded")) && cJSON_IsString(payload))
        err = trg_base64_decode(payload->valuestring, strlen(payload->valuestring), out);
    else
        err = trg_buf_add(out, raw, raw_len);
    cJSON_Delete(doc);
    return err;
}

int trg_mqtt_reply_target(const char *record, size_t len, char **topic, struct trg_buf *corr)
{
    cJSON *doc = record_parse(record, len, NULL, NULL);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(doc, "properties");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(props, "responseTopic");
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(props, "correlationData");
    int err = 0;

    *topic = NULL;
    if (!cJSON_IsString(rt) || !*rt->valuestring) {
        cJSON_Delete(doc);
        return TRG_ENOTFOUND;
    }
    if (cJSON_IsString(cd))
        err = trg_base64_decode(cd->valuestring, strlen(cd->valuestring), corr);
    if (!err) {
        *topic = trg_strdup(rt->valuestring);
        if (!*topic)
            err = TRG_ENOMEM;
    }
    cJSON_Delete(doc);
    return err;
}
