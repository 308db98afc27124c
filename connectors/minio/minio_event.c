/* minio_event.c — the pure parts of the MinIO source (see minio_event.h). */
#include "minio_event.h"

#include <string.h>

static const char hex_digits[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

static int escape(const char *s, size_t n, bool space_plus, struct trg_buf *out)
{
    int err = 0;

    for (size_t i = 0; i < n && !err; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            err = trg_buf_addc(out, (char)c);
        } else if (c == ' ' && space_plus) {
            err = trg_buf_addc(out, '+');
        } else {
            char pct[3] = {'%', hex_digits[c >> 4], hex_digits[c & 15]};
            err = trg_buf_add(out, pct, 3);
        }
    }
    return err;
}

int trg_minio_key_escape(const char *s, size_t n, struct trg_buf *out) { return escape(s, n, true, out); }

int trg_minio_uri_escape(const char *s, struct trg_buf *out) { return escape(s, strlen(s), false, out); }

int trg_minio_key_unescape(const char *s, struct trg_buf *out)
{
    int err = trg_buf_add(out, "", 0); /* an empty key still gives a string */

    for (size_t i = 0; s[i] && !err; i++) {
        if (s[i] == '+') {
            err = trg_buf_addc(out, ' ');
        } else if (s[i] == '%') {
            int hi = trg_hex_digit(s[i + 1]), lo = hi < 0 ? -1 : trg_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return TRG_EINVAL;
            err = trg_buf_addc(out, (char)(hi << 4 | lo));
            i += 2;
        } else {
            err = trg_buf_addc(out, s[i]);
        }
    }
    return err;
}

bool trg_minio_event_match(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);

    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, name, n - 1) == 0;
    return strcmp(pattern, name) == 0;
}

bool trg_minio_filter_match(const struct trg_minio_filter *f, const char *event_name, const char *key)
{
    size_t klen = strlen(key);
    bool ok = f->n_events == 0;

    for (size_t i = 0; i < f->n_events && !ok; i++)
        ok = trg_minio_event_match(f->events[i], event_name);
    if (!ok)
        return false;
    if (f->prefix && strncmp(key, f->prefix, strlen(f->prefix)) != 0)
        return false;
    if (f->suffix) {
        size_t slen = strlen(f->suffix);
        if (slen > klen || memcmp(key + klen - slen, f->suffix, slen) != 0)
            return false;
    }
    return true;
}

int trg_minio_webhook_parse(const char *body, size_t len, cJSON **doc, const char **why)
{
    cJSON *d;
    const cJSON *records;

    *doc = NULL;
    if (!body || len == 0) {
        *why = "empty body: expected a MinIO event {\"EventName\":...,\"Key\":...,\"Records\":[...]}";
        return TRG_EINVAL;
    }
    d = trg_json_parse(body, len, NULL);
    if (!d) {
        *why = "the body is not JSON: expected a MinIO event {\"EventName\":...,\"Key\":...,\"Records\":[...]}";
        return TRG_EINVAL;
    }
    if (!cJSON_IsObject(d)) {
        *why = "the body is not a JSON object: expected a MinIO event";
    } else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "EventName"))) {
        *why = "not a MinIO event: EventName is missing or not a string";
    } else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "Key"))) {
        *why = "not a MinIO event: Key is missing or not a string";
    } else if (!cJSON_IsArray(records = cJSON_GetObjectItemCaseSensitive(d, "Records"))) {
        *why = "not a MinIO event: Records is missing or not an array";
    } else if (cJSON_GetArraySize(records) == 0) {
        *why = "not a MinIO event: Records is empty";
    } else {
        *doc = d;
        return 0;
    }
    cJSON_Delete(d);
    return TRG_EINVAL;
}

bool trg_minio_stream_next(const char *data, size_t n, const char **line, size_t *line_len, size_t *used)
{
    size_t start = 0;

    for (;;) {
        while (start < n && (data[start] == ' ' || data[start] == '\t' || data[start] == '\r'))
            start++;
        if (start < n && data[start] == '\n') {
            start++; /* a blank line */
            continue;
        }
        break;
    }
    const char *nl = start < n ? memchr(data + start, '\n', n - start) : NULL;
    if (!nl) {
        *used = start;
        return false;
    }
    size_t end = (size_t)(nl - data);
    *used = end + 1;
    while (end > start && (data[end - 1] == '\r' || data[end - 1] == ' '))
        end--;
    *line = data + start;
    *line_len = end - start;
    return true;
}

int trg_minio_listen_line(const char *line, size_t len, cJSON **doc)
{
    cJSON *d = trg_json_parse(line, len, NULL);
    const cJSON *records;

    *doc = NULL;
    if (!d)
        return TRG_MINIO_LINE_BAD;
    records = cJSON_GetObjectItemCaseSensitive(d, "Records");
    if (!cJSON_IsObject(d) || !records) {
        cJSON_Delete(d);
        return TRG_MINIO_LINE_BAD;
    }
    if (cJSON_IsNull(records) || (cJSON_IsArray(records) && cJSON_GetArraySize(records) == 0)) {
        cJSON_Delete(d);
        return TRG_MINIO_LINE_PING;
    }
    if (!cJSON_IsArray(records)) {
        cJSON_Delete(d);
        return TRG_MINIO_LINE_BAD;
    }
    *doc = d;
    return TRG_MINIO_LINE_RECORDS;
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

int trg_minio_record_build(cJSON *record, bool key_is_raw, struct trg_minio_record *out, const char **why)
{
    cJSON *s3 = cJSON_GetObjectItemCaseSensitive(record, "s3");
    cJSON *object = cJSON_GetObjectItemCaseSensitive(s3, "object");
    cJSON *key = cJSON_GetObjectItemCaseSensitive(object, "key");
    const char *bucket = str_at(s3, "bucket", "name");
    const char *seq, *reqid;
    struct trg_buf b = {0};
    int err;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(record)) {
        *why = "a record is not a JSON object";
        return TRG_EINVAL;
    }
    out->event_name = str_at(record, "eventName", NULL);
    if (!out->event_name) {
        *why = "a record has no eventName string";
        return TRG_EINVAL;
    }
    if (!bucket) {
        *why = "a record has no s3.bucket.name string";
        return TRG_EINVAL;
    }
    if (!cJSON_IsString(key)) {
        *why = "a record has no s3.object.key string";
        return TRG_EINVAL;
    }
    if (key_is_raw) {
        out->key = trg_strdup(key->valuestring);
        if (!out->key || trg_minio_key_escape(key->valuestring, strlen(key->valuestring), &b) < 0 ||
            trg_buf_add(&b, "", 0) < 0)
            goto nomem;
        cJSON *enc = cJSON_CreateString(b.data);
        if (!enc || !cJSON_ReplaceItemInObjectCaseSensitive(object, "key", enc)) {
            cJSON_Delete(enc);
            goto nomem;
        }
        key = enc;
        trg_buf_reset(&b);
    } else {
        err = trg_minio_key_unescape(key->valuestring, &b);
        if (err == TRG_EINVAL) {
            *why = "s3.object.key is not URL-encoded (a '%' without two hex digits)";
            trg_buf_free(&b);
            return TRG_EINVAL;
        }
        if (err < 0)
            goto nomem;
        out->key = trg_buf_steal(&b);
    }
    seq = str_at(object, "sequencer", NULL);
    reqid = str_at(record, "responseElements", "x-amz-request-id");
    out->item_id = trg_asprintf("%s:%s/%s", seq ? seq : reqid ? reqid : "", bucket, key->valuestring);
    char *printed = cJSON_PrintUnformatted(record);
    out->json = trg_strdup(printed); /* events own trg_malloc'd text */
    cJSON_free(printed);
    if (!out->item_id || !out->json)
        goto nomem;
    out->len = strlen(out->json);
    trg_buf_free(&b);
    return 0;
nomem:
    trg_buf_free(&b);
    trg_minio_record_free(out);
    *why = "out of memory";
    return TRG_ENOMEM;
}

void trg_minio_record_free(struct trg_minio_record *r)
{
    if (!r)
        return;
    trg_free(r->json);
    trg_free(r->item_id);
    trg_free(r->key);
    memset(r, 0, sizeof *r);
}

int trg_minio_envelope(struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    return trg_event_join(out, "{\"Records\":[", evs, n, "]}");
}
