/* fuzz_filter.c — libFuzzer entry for the filter: the pattern compiler and the matcher.
 *
 * Input: pattern JSON (one pattern object or a list of them), a NUL byte, record JSON. Without a NUL
 * byte only the compiler runs. Checks, besides what the sanitizers see: trg_filter_explain() agrees
 * with trg_filter_match(), its reason is terminated, and compiling the same pattern twice gives the
 * same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "filter.h"
#include "log.h"
#include "opt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    trg_filter_free(f);
    trg_errs_free(&errs);
    cJSON_Delete(pattern);
    trg_free(ptext);
    trg_free(rtext);
    return 0;
}
