/* fuzz_retry_after.c — libFuzzer entry for Retry-After (trg_curl_parse_retry_after): delta-seconds or
 * an HTTP date. Checks: -1 or a delay >= 0; a value of plain digits (with blanks around) is read as
 * seconds exactly; the answer does not depend on anything but the text and the clock given.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "invoke/curl_loop.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = trg_strndup((const char *)data, size); /* a header value stops at NUL like this */
    if (!v)
        abort();
    const int64_t now = 1749893467563LL;
    int64_t ms = trg_curl_parse_retry_after(v, now);
    if (ms < -1 || ms != trg_curl_parse_retry_after(v, now))
        abort();
    const char *p = v + strspn(v, " \t");
    size_t digits = strspn(p, "0123456789");
    if (digits > 0 && digits <= 15 && p[digits + strspn(p + digits, " \t")] == '\0') {
        int64_t secs = strtoll(p, NULL, 10);
        if (ms != secs * 1000)
            abort();
    }
    trg_free(v);
    return 0;
}
