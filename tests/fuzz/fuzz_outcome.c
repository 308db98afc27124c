/* fuzz_outcome.c — libFuzzer entry for the function's answer (trg_outcome_parse).
 *
 * Input: up to 8 item ids, one per line, a NUL byte, then the response body (without a NUL byte the
 * whole input is the body and the ids are "a", "b", "c"). Checks, besides what the sanitizers see:
 * the result is one of the three, every failed[] is written, MALFORMED fails every item and says why,
 * NONE fails none, SOME fails at least one, and parsing twice gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ids[8] = {"a", "b", "c"};
    size_t n = 3;
    char *idtext = NULL;
    const uint8_t *nul = memchr(data, 0, size);
    const char *body = (const char *)data;
    size_t len = size;

    if (nul) {
        idtext = trg_strndup((const char *)data, (size_t)(nul - data));
        if (!idtext)
            abort();
        n = 0;
        for (char *p = idtext; p && n < 8;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            ids[n++] = p;
            p = nl ? nl + 1 : NULL;
        }
        body = (const char *)nul + 1;
        len = size - (size_t)(nul - data) - 1;
    }
    bool failed[8], again[8];
    memset(failed, 0xAA, sizeof failed); /* neither true nor false: every element must be written */
    char why[128] = "";
    enum trg_partial res = trg_outcome_parse(body, len, ids, n, failed, why, sizeof why);
    enum trg_partial res2 = trg_outcome_parse(body, len, ids, n, again, NULL, 0);
    size_t nfailed = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char v;
        memcpy(&v, &failed[i], 1);
        if (v > 1 || failed[i] != again[i])
            abort();
        nfailed += failed[i];
    }
    if (res != res2 || strlen(why) >= sizeof why)
        abort();
    switch (res) {
    case TRG_PARTIAL_NONE:
        if (nfailed)
            abort();
        break;
    case TRG_PARTIAL_SOME:
        if (!nfailed)
            abort();
        break;
    case TRG_PARTIAL_MALFORMED:
        if (nfailed != n || !why[0])
            abort();
        break;
    default:
        abort();
    }
    trg_free(idtext);
    return 0;
}
