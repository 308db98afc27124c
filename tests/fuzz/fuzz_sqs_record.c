/* fuzz_sqs_record.c — libFuzzer entry for a Redis stream entry made into an SQS-shaped record
 * (connectors/redis_stream/sqs_record.c), the event a redis_stream source emits.
 *
 * Input: NUL-separated fields: the entry id, then field names and values (binary values allowed).
 * Checks, besides what the sanitizers see: the record is JSON; messageId is the id; with a `body`
 * field that is valid UTF-8 without NUL, body is that text exactly (round trip); every other field is
 * a String message attribute; trg_rstream_id_ms agrees with SentTimestamp.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "connectors/redis_stream/sqs_record.h"
#include "rstream.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 16

static bool utf8_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = s[i] ? trg_utf8_seq((const unsigned char *)s + i, n - i) : 0;
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = trg_malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[MAX_FIELDS + 1];
    size_t flen[MAX_FIELDS + 1], nf = 0;
    const char *p = copy, *end = copy + size;
    for (;;) {
        const char *z = memchr(p, 0, (size_t)(end - p) + 1);
        f[nf] = p;
        flen[nf++] = (size_t)(z - p);
        if (z >= end || nf == MAX_FIELDS + 1)
            break;
        p = z + 1;
    }
    size_t npairs = (nf - 1) / 2;
    const char *names[MAX_FIELDS / 2], *values[MAX_FIELDS / 2];
    size_t nlens[MAX_FIELDS / 2], vlens[MAX_FIELDS / 2];
    for (size_t i = 0; i < npairs; i++) {
        names[i] = f[1 + 2 * i];
        nlens[i] = flen[1 + 2 * i];
        values[i] = f[2 + 2 * i];
        vlens[i] = flen[2 + 2 * i];
    }
    struct trg_rs_entry e = {
        .id = f[0],
        .n_fields = npairs,
        .fields = names,
        .field_lens = nlens,
        .values = values,
        .value_lens = vlens,
        .receive_count = 1 + (int64_t)(size % 5),
        .first_receive_ms = 1749893467563LL,
        .event_source = "trigd:redis",
        .arn = "redis://127.0.0.1:6379/0/orders",
    };
    struct trg_buf out = {0};
    if (trg_rs_sqs_record(&e, &out) < 0)
        abort();
    cJSON *j = cJSON_ParseWithLength(out.data, out.len);
    if (!j)
        abort();
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(j, "messageId");
    if (utf8_text(e.id, strlen(e.id)) && (!cJSON_IsString(mid) || strcmp(mid->valuestring, e.id) != 0))
        abort();
    for (size_t i = 0; i < npairs; i++) {
        if (nlens[i] != 4 || memcmp(names[i], "body", 4) != 0 || !utf8_text(values[i], vlens[i]))
            continue;
        bool first = true;
        for (size_t k = 0; k < i; k++)
            if (nlens[k] == 4 && !memcmp(names[k], "body", 4))
                first = false;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "body");
        if (first && (!cJSON_IsString(b) || strlen(b->valuestring) != vlens[i] ||
                      memcmp(b->valuestring, values[i], vlens[i]) != 0))
            abort();
    }
    int64_t ms = trg_rstream_id_ms(e.id);
    const cJSON *sent = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "attributes"),
                                                         "SentTimestamp");
    if (ms >= 0 && cJSON_IsString(sent)) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)ms);
        if (strcmp(sent->valuestring, want) != 0)
            abort();
    }
    cJSON_Delete(j);
    trg_buf_free(&out);
    trg_free(copy);
    return 0;
}
