/* event.c — events handed over by sources. */
#include "event.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "util.h"

struct trg_event *trg_event_new(char *json, size_t len)
{
    struct trg_event *ev = trg_calloc(1, sizeof *ev);
    if (!ev) {
        trg_free(json);
        return NULL;
    }
    ev->json = json;
    ev->len = len;
    ev->created_ms = trg_wall_ms();
    return ev;
}

struct trg_event *trg_event_new_copy(const char *json, size_t len)
{
    char *copy = trg_strndup(json, len);
    return copy ? trg_event_new(copy, len) : NULL;
}

struct trg_event *trg_event_new_packed(const char *json, size_t len, const char *item_id, const char *order_key,
                                       size_t token_size)
{
    return trg_event_new_packed_n(json, len, item_id, item_id ? strlen(item_id) : 0, order_key,
                                  order_key ? strlen(order_key) : 0, token_size);
}

struct trg_event *trg_event_new_packed_n(const char *json, size_t len, const char *item_id, size_t item_len,
                                         const char *order_key, size_t key_len, size_t token_size)
{
    const size_t head = (sizeof(struct trg_event) + 15) & ~(size_t)15; /* the token keeps max alignment */
    size_t id_len = item_id ? item_len + 1 : 0;
    key_len = order_key ? key_len + 1 : 0;
    token_size = (token_size + 15) & ~(size_t)15;
    struct trg_event *ev = trg_malloc(head + token_size + len + 1 + id_len + key_len);
    if (!ev)
        return NULL;
    memset(ev, 0, head + token_size);
    char *p = (char *)ev + head;
    ev->token = token_size ? p : NULL;
    p += token_size;
    ev->json = p;
    if (len)
        memcpy(p, json, len);
    p[len] = '\0';
    ev->len = len;
    p += len + 1;
    if (item_id) {
        ev->item_id = memcpy(p, item_id, id_len - 1);
        p[id_len - 1] = '\0';
    }
    p += id_len;
    if (order_key) {
        ev->order_key = memcpy(p, order_key, key_len - 1);
        p[key_len - 1] = '\0';
    }
    ev->packed = true;
    return ev;
}

void trg_event_free(struct trg_event *ev)
{
    if (!ev)
        return;
    if (ev->packed) {
        trg_free(ev);
        return;
    }
    trg_free(ev->json);
    trg_free(ev->item_id);
    trg_free(ev->order_key);
    trg_free(ev);
}

int trg_event_minio_records(const void *value, size_t len, struct trg_buf *out)
{
    cJSON *doc = value ? trg_json_parse(value, len, NULL) : NULL;
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(doc, "Records");
    char *text;
    int rc;

    if (!cJSON_IsArray(records) || cJSON_GetArraySize(records) == 0) {
        cJSON_Delete(doc);
        return TRG_EINVAL;
    }
    text = cJSON_PrintUnformatted(records);
    cJSON_Delete(doc);
    if (!text)
        return TRG_ENOMEM;
    rc = trg_buf_adds(out, "{\"Records\":");
    if (!rc)
        rc = trg_buf_adds(out, text);
    cJSON_free(text);
    return rc ? rc : trg_buf_addc(out, '}');
}

int trg_event_join(struct trg_buf *out, const char *prefix, struct trg_event *const *evs, size_t n,
                   const char *suffix)
{
    size_t total = strlen(prefix) + strlen(suffix);
    for (size_t i = 0; i < n; i++)
        total += evs[i]->len + 1;
    int rc = trg_buf_reserve(out, total);
    rc = rc ? rc : trg_buf_adds(out, prefix);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = i ? trg_buf_addc(out, ',') : 0;
        rc = rc ? rc : trg_buf_add(out, evs[i]->json, evs[i]->len);
    }
    return rc ? rc : trg_buf_adds(out, suffix);
}

int trg_event_minio_merge(const char *const *events, const size_t *lens, size_t n, struct trg_buf *out)
{
    int rc = trg_buf_adds(out, "{\"Records\":[");
    bool first = true;

    for (size_t i = 0; i < n && !rc; i++) {
        /* each is {"Records":[...]} as trg_event_minio_records() wrote it: take what is inside [ ] */
        const char *s = events[i];
        size_t l = lens[i];
        if (l < 14 || memcmp(s, "{\"Records\":[", 12) || s[l - 1] != '}' || s[l - 2] != ']')
            return TRG_EINVAL;
        if (l == 14)
            continue;
        rc = first ? 0 : trg_buf_addc(out, ',');
        if (!rc)
            rc = trg_buf_add(out, s + 12, l - 14);
        first = false;
    }
    return rc ? rc : trg_buf_adds(out, "]}");
}
