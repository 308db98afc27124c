/* fuzz_config.c — libFuzzer entry for the configuration loader and the option tables it applies.
 *
 * Input: a config file's text. Checks, besides what the sanitizers see: a refused config says why
 * (at least one line, each naming where: "fuzz.json: ..."), an accepted one has no error lines, and
 * loading the same text twice gives the same verdict and the same error lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "opt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        trg_log_setup(TRG_LOG_ERROR + 1, TRG_LOG_TEXT, stderr);
        init = true;
    }
    struct trg_config *c1 = NULL, *c2 = NULL;
    struct trg_errs e1 = {0}, e2 = {0};
    int r1 = trg_config_load_text((const char *)data, size, "fuzz.json", &c1, &e1);
    int r2 = trg_config_load_text((const char *)data, size, "fuzz.json", &c2, &e2);
    if (r1 != r2 || (r1 == 0) != (c1 != NULL) || (r1 == 0 && e1.lines.n) || e1.lines.n != e2.lines.n)
        abort();
    if (r1 != 0 && e1.lines.n == 0 && !e1.lost)
        abort();
    for (size_t i = 0; i < e1.lines.n; i++)
        if (strncmp(e1.lines.v[i], "fuzz.json", 9) != 0 || strcmp(e1.lines.v[i], e2.lines.v[i]) != 0)
            abort();
    trg_config_free(c1);
    trg_config_free(c2);
    trg_errs_free(&e1);
    trg_errs_free(&e2);
    return 0;
}
