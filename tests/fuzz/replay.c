/* replay.c — run a libFuzzer entry point over files, without libFuzzer: `make check` replays each
 * fuzzer's corpus through this plain main() under whatever sanitizers the build has.
 *
 *   replay_NAME [DIR|FILE]...
 *
 * Directories are read one level deep (every regular file). Without arguments it replays
 * TRG_SRCDIR/tests/fuzz/corpus/TRG_FUZZ_CORPUS, the corpus compiled in by Makefile.am. Exits 0 when
 * every input ran (a crash is the failure), 1 when an argument cannot be read or no input was found.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct trg_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (trg_buf_add(&b, chunk, n) != 0) {
            fprintf(stderr, "replay: %s: out of memory\n", path);
            fclose(fp);
            trg_buf_free(&b);
            return -1;
        }
    fclose(fp);
    /* an exact-size copy, so reading past the input is caught like under libFuzzer */
    uint8_t *data = trg_malloc(b.len ? b.len : 1);
    if (!data) {
        trg_buf_free(&b);
        return -1;
    }
    if (b.len)
        memcpy(data, b.data, b.len);
    LLVMFuzzerTestOneInput(data, b.len);
    trg_free(data);
    trg_buf_free(&b);
    return 0;
}

static int run_path(const char *path, unsigned *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (run_file(path) != 0)
            return -1;
        (*count)++;
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *file = trg_asprintf("%s/%s", path, de->d_name);
        if (!file || stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
            trg_free(file);
            continue;
        }
        if (run_file(file) != 0)
            rc = -1;
        else
            (*count)++;
        trg_free(file);
    }
    closedir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int rc = 0;
    if (argc < 2) {
#ifdef TRG_FUZZ_CORPUS
        const char *def = TRG_SRCDIR "/tests/fuzz/corpus/" TRG_FUZZ_CORPUS;
        rc = run_path(def, &count);
        printf("replay: %u inputs from %s\n", count, def);
#else
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 1;
#endif
    }
    for (int i = 1; i < argc; i++) {
        unsigned before = count;
        if (run_path(argv[i], &count) != 0)
            rc = -1;
        printf("replay: %u inputs from %s\n", count - before, argv[i]);
    }
    if (rc != 0 || count == 0) {
        fprintf(stderr, "replay: %s\n", count == 0 ? "no inputs found" : "some inputs could not be read");
        return 1;
    }
    return 0;
}
