/* fuzz_cron.c — libFuzzer entry for schedule expressions: the parser and next-fire.
 *
 * Input: the first byte picks the flags (bit 0: the seconds form), the rest is the expression.
 * Checks, besides what the sanitizers see: a parsed expression's next fire is after the instant
 * searched from, and the next fires are strictly increasing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/schedule/cron.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trg_cron c;
    char err[256];
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 1 ? TRG_CRON_SECONDS : 0;
    char *text = trg_strndup((const char *)data + 1, size - 1);
    if (!text)
        return 0;
    if (trg_cron_parse(text, flags, &c, err, sizeof err) == 0) {
        int64_t t = 1700000000, next;
        for (int i = 0; i < 3 && trg_cron_next(&c, NULL, t, &next); i++) {
            if (next <= t)
                abort();
            t = next;
        }
    } else if (!memchr(err, 0, sizeof err) || !err[0]) {
        abort(); /* an error always says why */
    }
    trg_free(text);
    return 0;
}
