/* fuzz_filter.c — libFuzzer entry for the filter: the pattern compiler and the matcher.
 *
 * Input: pattern JSON (one pattern object or a list of them), a NUL byte, record JSON. Without a NUL
 * byte only the compiler runs. Checks, besides what the sanitizers see: trg_filter_explain() agrees
 * with trg_filter_match(), its reason is terminated, and compiling the same pattern twice gives the
 * same answer. And on the record alone, for its first string field k = v: v equals-ignore-case
 * itself, and is a prefix and a suffix of itself ignoring case (any bytes, valid UTF-8 or not);
 * anything-but of those, and of a prefix or suffix v, does not match; when v is an address, v/32
 * (or v/128) and v/0 match it as cidr and anything-but cidr does not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "filter.h"
#include "log.h"
#include "opt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Compile {"k": [op]} (op is consumed) and match it against record: 1 match, 0 no match, -1 the
 * pattern does not compile. */
static int try_op(const char *k, cJSON *op, const cJSON *record)
{
    cJSON *pattern = cJSON_CreateObject(), *list = cJSON_CreateArray();
    if (!pattern || !list || !op)
        abort();
    cJSON_AddItemToArray(list, op);
    cJSON_AddItemToObject(pattern, k, list);
    struct trg_filter *f = trg_filter_compile(pattern, "$.fuzz", NULL);
    int r = f ? trg_filter_match(f, record) : -1;
    trg_filter_free(f);
    cJSON_Delete(pattern);
    return r;
}

/* {name: value}, or {"anything-but": {name: value}}; value is consumed. */
static cJSON *op1(const char *name, cJSON *value, bool but)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !value)
        abort();
    cJSON_AddItemToObject(o, name, value);
    if (!but)
        return o;
    cJSON *b = cJSON_CreateObject();
    if (!b)
        abort();
    cJSON_AddItemToObject(b, "anything-but", o);
    return b;
}

/* {"prefix"|"suffix": {"equals-ignore-case": v}} */
static cJSON *affix_ic(const char *affix, const char *v)
{
    return op1(affix, op1("equals-ignore-case", cJSON_CreateString(v), false), false);
}

static cJSON *strlist1(const char *v)
{
    cJSON *l = cJSON_CreateArray(), *e = cJSON_CreateString(v);
    if (!l || !e)
        abort();
    cJSON_AddItemToArray(l, e);
    return l;
}

static void check_self(const cJSON *record)
{
    const cJSON *kv = NULL;
    for (const cJSON *e = cJSON_IsObject(record) ? record->child : NULL; e && !kv; e = e->next)
        if (cJSON_IsString(e) && e->string && strcmp(e->string, "$or") != 0 &&
            cJSON_GetObjectItemCaseSensitive(record, e->string) == e)
            kv = e;
    if (!kv)
        return;
    const char *k = kv->string, *v = kv->valuestring;
    if (try_op(k, op1("equals-ignore-case", cJSON_CreateString(v), false), record) != 1 ||
        try_op(k, affix_ic("prefix", v), record) != 1 || try_op(k, affix_ic("suffix", v), record) != 1 ||
        try_op(k, op1("equals-ignore-case", strlist1(v), true), record) != 0)
        abort();
    if (*v && (try_op(k, op1("prefix", strlist1(v), true), record) != 0 ||
               try_op(k, op1("suffix", strlist1(v), true), record) != 0))
        abort();
    char block[200];
    for (int bits = 32; bits <= 128; bits += 96) {
        snprintf(block, sizeof block, "%.150s/%d", v, bits);
        int r = try_op(k, op1("cidr", cJSON_CreateString(block), false), record);
        if (r == -1)
            continue;
        int all = (snprintf(block, sizeof block, "%.150s/0", v),
                   try_op(k, op1("cidr", cJSON_CreateString(block), false), record));
        snprintf(block, sizeof block, "%.150s/%d", v, bits);
        if (r != 1 || all != 1 || try_op(k, op1("cidr", strlist1(block), true), record) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        trg_log_setup(TRG_LOG_ERROR, TRG_LOG_TEXT, stderr); /* no ">5 patterns" warnings */
        init = true;
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    char *ptext = trg_strndup((const char *)data, plen);
    char *rtext = nul ? trg_strndup((const char *)nul + 1, size - plen - 1) : NULL;
    if (!ptext || (nul && !rtext))
        abort();
    cJSON *pattern = cJSON_Parse(ptext);
    struct trg_errs errs = {0};
    struct trg_filter *f = trg_filter_compile(pattern, "$.fuzz", &errs);
    if (!f && errs.lines.n == 0)
        abort(); /* a refusal always says why */
    if (f && errs.lines.n != 0)
        abort();
    if (f && rtext) {
        cJSON *record = cJSON_Parse(rtext);
        struct trg_filter *g = trg_filter_compile(pattern, "$.fuzz", NULL);
        char why[200];
        bool m = trg_filter_match(f, record);
        bool e = trg_filter_explain(f, record, why, sizeof why);
        if (!g || m != e || m != trg_filter_match(g, record) || strlen(why) >= sizeof why || (m && why[0]))
            abort();
        trg_filter_free(g);
        cJSON_Delete(record);
    }
    if (rtext) {
        cJSON *record = cJSON_Parse(rtext);
        check_self(record);
        cJSON_Delete(record);
    }
    trg_filter_free(f);
    trg_errs_free(&errs);
    cJSON_Delete(pattern);
    trg_free(ptext);
    trg_free(rtext);
    return 0;
}
