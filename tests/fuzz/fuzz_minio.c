/* fuzz_minio.c — libFuzzer entry for S3/MinIO notifications: webhook bodies, listen-stream lines and
 * the records in them, and the key encoding.
 *
 * The whole input is tried as a notify_webhook body, then split into listen-stream lines. Checks,
 * besides what the sanitizers see: every record built is JSON; a raw key (listen API) decodes back
 * from the record to the same bytes; key escaping round-trips any bytes; a refusal says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "connectors/minio/minio_event.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_records(cJSON *records, bool raw)
{
    for (cJSON *rec = records ? records->child : NULL; rec; rec = rec->next) {
        struct trg_minio_record r = {0};
        const char *why = NULL;
        char *before = NULL;
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "s3"), "object"), "key");
        if (raw && cJSON_IsString(k) && !(before = trg_strdup(k->valuestring)))
            abort();
        int err = trg_minio_record_build(rec, raw, &r, &why);
        if (err == TRG_EINVAL && (!why || !*why))
            abort();
        if (err == 0) {
            cJSON *j = cJSON_ParseWithLength(r.json, r.len);
            if (!j || !r.item_id || !r.key || !r.event_name)
                abort();
            if (raw && before && strcmp(before, r.key) != 0)
                abort(); /* the key filters see is the key as stored */
            cJSON_Delete(j);
        }
        trg_minio_record_free(&r);
        trg_free(before);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    cJSON *doc = NULL;
    const char *why = NULL;

    if (trg_minio_webhook_parse(s, size, &doc, &why) == 0) {
        check_records(cJSON_GetObjectItemCaseSensitive(doc, "Records"), false);
        cJSON_Delete(doc);
    } else if (!why || !*why) {
        abort();
    }

    size_t off = 0;
    while (off < size) {
        const char *line;
        size_t line_len, used;
        if (!trg_minio_stream_next(s + off, size - off, &line, &line_len, &used)) {
            if (used > size - off)
                abort();
            break;
        }
        if (used == 0 || used > size - off || line < s + off || line + line_len > s + off + used)
            abort();
        doc = NULL;
        int kind = trg_minio_listen_line(line, line_len, &doc);
        if (kind == TRG_MINIO_LINE_RECORDS)
            check_records(cJSON_GetObjectItemCaseSensitive(doc, "Records"), true);
        else if (doc)
            abort();
        cJSON_Delete(doc);
        off += used;
    }

    /* key escaping round trip (keys are C strings: up to the first NUL) */
    size_t klen = strnlen(s, size);
    struct trg_buf enc = {0}, dec = {0};
    if (trg_minio_key_escape(s, klen, &enc) < 0 || trg_buf_add(&enc, "", 0) < 0)
        abort();
    if (trg_minio_key_unescape(enc.data, &dec) < 0 || trg_buf_add(&dec, "", 0) < 0)
        abort();
    if (dec.len != klen || memcmp(dec.data, s, klen) != 0)
        abort();
    trg_buf_free(&enc);
    trg_buf_free(&dec);
    return 0;
}
