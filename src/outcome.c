/* outcome.c — partial batch responses. */
#include "outcome.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static enum trg_partial malformed(char *why, size_t why_len, const char *msg, const char *arg)
{
    if (why && why_len)
        snprintf(why, why_len, msg, arg ? arg : "");
    return TRG_PARTIAL_MALFORMED;
}

static bool all_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            return false;
    return true;
}

/* Read an itemIdentifier into buf; false if it is not a valid identifier. */
static bool read_id(const cJSON *id, char *buf, size_t size)
{
    if (cJSON_IsString(id)) {
        snprintf(buf, size, "%s", id->valuestring);
        return id->valuestring[0] != '\0';
    }
    if (cJSON_IsObject(id)) {
        const cJSON *tp = cJSON_GetObjectItemCaseSensitive(id, "topic-partition");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(id, "offset");
        if (!cJSON_IsString(tp) || !tp->valuestring[0] || !cJSON_IsNumber(off))
            return false;
        snprintf(buf, size, "%s@%" PRId64, tp->valuestring, (int64_t)off->valuedouble);
        return true;
    }
    return false;
}

enum trg_partial trg_outcome_parse(const char *body, size_t len, const char *const *ids, size_t n,
                                   bool *failed, char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++)
        failed[i] = false;
    if (!body || all_space(body, len))
        return TRG_PARTIAL_NONE;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return malformed(why, why_len, "the response is not valid JSON%s", NULL);
    enum trg_partial res = TRG_PARTIAL_NONE;
    const cJSON *list = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "batchItemFailures") : NULL;
    if (!list || cJSON_IsNull(list))
        goto out;
    if (!cJSON_IsArray(list)) {
        res = malformed(why, why_len, "batchItemFailures must be an array%s", NULL);
        goto out;
    }
    for (const cJSON *it = list->child; it; it = it->next) {
        const cJSON *id = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "itemIdentifier") : NULL;
        char buf[512];
        if (!id || !read_id(id, buf, sizeof buf)) {
            res = malformed(why, why_len, "a batchItemFailures entry has no valid itemIdentifier%s", NULL);
            goto out;
        }
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] && strcmp(ids[i], buf) == 0) {
                failed[i] = true;
                found = true;
            }
        }
        if (!found) {
            res = malformed(why, why_len, "itemIdentifier \"%s\" is not in the batch", buf);
            goto out;
        }
        res = TRG_PARTIAL_SOME;
    }
out:
    if (res == TRG_PARTIAL_MALFORMED)
        for (size_t i = 0; i < n; i++)
            failed[i] = true;
    cJSON_Delete(root);
    return res;
}
