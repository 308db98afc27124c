/* outcome.c — partial batch responses. */
#include "outcome.h"

#include "util.h"

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

/* Read an itemIdentifier as a string; NULL if it is not a valid identifier. *tmp receives what the
 * caller must free (for Kafka-shaped identifiers). */
static const char *read_id(const cJSON *id, char **tmp)
{
    *tmp = NULL;
    if (cJSON_IsString(id))
        return id->valuestring[0] ? id->valuestring : NULL;
    if (cJSON_IsObject(id)) {
        const cJSON *tp = cJSON_GetObjectItemCaseSensitive(id, "topic-partition");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(id, "offset");
        /* an offset beyond int64 (1e300) cannot be converted: it names no record */
        if (!cJSON_IsString(tp) || !tp->valuestring[0] || !cJSON_IsNumber(off) || !(off->valuedouble > -9.2e18) ||
            !(off->valuedouble < 9.2e18))
            return NULL;
        *tmp = trg_asprintf("%s@%" PRId64, tp->valuestring, (int64_t)off->valuedouble);
        return *tmp;
    }
    return NULL;
}

enum trg_partial trg_outcome_parse(const char *body, size_t len, const char *const *ids, size_t n,
                                   bool *failed, char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++)
        failed[i] = false;
    if (!body || all_space(body, len))
        return TRG_PARTIAL_NONE;
    enum trg_partial res = TRG_PARTIAL_NONE;
    cJSON *root = trg_json_parse(body, len, NULL);
    if (!root) {
        res = malformed(why, why_len, "the response is not valid JSON%s", NULL);
        goto out;
    }
    const cJSON *list = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "batchItemFailures") : NULL;
    if (!list || cJSON_IsNull(list))
        goto out;
    if (!cJSON_IsArray(list)) {
        res = malformed(why, why_len, "batchItemFailures must be an array%s", NULL);
        goto out;
    }
    for (const cJSON *it = list->child; it; it = it->next) {
        const cJSON *id = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "itemIdentifier") : NULL;
        char *tmp = NULL;
        const char *buf = id ? read_id(id, &tmp) : NULL;
        if (!buf) {
            trg_free(tmp);
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
        if (!found)
            res = malformed(why, why_len, "itemIdentifier \"%.200s\" is not in the batch", buf);
        trg_free(tmp);
        if (!found)
            goto out;
        res = TRG_PARTIAL_SOME;
    }
out:
    if (res == TRG_PARTIAL_MALFORMED)
        for (size_t i = 0; i < n; i++)
            failed[i] = true;
    cJSON_Delete(root);
    return res;
}
