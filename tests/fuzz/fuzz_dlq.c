/* fuzz_dlq.c — libFuzzer entry for DLQ records, both directions, on the file backend.
 *
 * Input: NUL-separated fields: request payload, response payload, function error, batch info JSON, then
 * up to 4 event records. Checks, besides what the sanitizers see:
 *   - trg_dlq_record_build gives one line of JSON (or TRG_EINVAL for a batch info that is not JSON);
 *   - write then read back is identity: the record put is the record get gives, byte for byte, under
 *     the id put answered, and list shows it too;
 *   - a DLQ file holding anything (the raw input as the file's contents: torn lines, lines that are
 *     not JSON, lines of another shape) is read without a crash, and each entry it gives is JSON.
 * The Redis backend stores the same record bytes as one stream field (dlq_redis.c); its round trip
 * needs a server and is covered by tests/unit/test_dlq_redis.c.
 */
#include <ev.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dlq.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct trg_dlq *dlq;
static char dir[256];

struct wait {
    bool done;
    int err;
    char *id;
    struct trg_buf got;
    size_t n;
};

static void put_cb(void *arg, int err, const char *id)
{
    struct wait *w = arg;
    w->done = true;
    w->err = err;
    w->id = id ? trg_strdup(id) : NULL;
}

static void list_cb(void *arg, int err, const struct trg_dlq_entry *en, size_t n)
{
    struct wait *w = arg;
    w->done = true;
    w->err = err;
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        cJSON *j = cJSON_ParseWithLength(en[i].record, en[i].len);
        if (!j || !en[i].id || en[i].record[en[i].len] != '\0')
            abort(); /* whatever the file held, what is read back is a JSON record */
        cJSON_Delete(j);
        if (i == 0 && trg_buf_add(&w->got, en[i].record, en[i].len) < 0)
            abort();
    }
}

static void done_cb(void *arg, int err, long count)
{
    struct wait *w = arg;
    (void)count;
    w->done = true;
    w->err = err;
}

static void run(struct wait *w)
{
    for (int i = 0; i < 1000 && !w->done; i++)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
    if (!w->done)
        abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The DLQ dir goes when the process ends: make check runs this too. */
static void cleanup(void) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void setup(void)
{
    trg_log_setup(TRG_LOG_ERROR + 1, TRG_LOG_TEXT, stderr); /* torn lines are expected here */
    loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(dir, sizeof dir, "%s/trigd-fuzz-dlq-%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    atexit(cleanup);
    struct trg_dlq_conf conf = {.backend = TRG_DLQ_BACKEND_FILE, .dir = dir};
    if (!loop || trg_dlq_create(loop, &conf, NULL, &dlq) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    char *copy = trg_malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[8] = {""};
    size_t flen[8] = {0}, nf = 0;
    for (const char *p = copy, *end = copy + size;;) {
        const char *z = memchr(p, 0, (size_t)(end - p) + 1);
        f[nf] = p;
        flen[nf++] = (size_t)(z - p);
        if (z >= end || nf == 8)
            break;
        p = z + 1;
    }
    const char *recs[4];
    size_t rlens[4], nr = 0;
    for (size_t i = 4; i < nf && nr < 4; i++, nr++) {
        recs[nr] = f[i];
        rlens[nr] = flen[i];
    }
    struct trg_dlq_info info = {
        .request_id = "c0ffee00-0000-4000-8000-000000000001",
        .function = "fn",
        .route = "r",
        .source = "src",
        .condition = (enum trg_dlq_condition)(size % 3),
        .approximate_invoke_count = 3,
        .status_code = size % 2 ? 500 : -1,
        .function_error = nf > 2 && flen[2] ? f[2] : NULL,
        .request_payload = f[0],
        .request_payload_len = flen[0],
        .response_payload = nf > 1 ? f[1] : NULL,
        .response_payload_len = nf > 1 ? flen[1] : 0,
        .batch_info_key = nf > 3 && flen[3] ? "KafkaBatchInfo" : NULL,
        .batch_info_json = nf > 3 && flen[3] ? f[3] : NULL,
        .records = recs,
        .record_lens = rlens,
        .n_records = nr,
        .timestamp_ms = 1749893467563LL,
    };
    struct trg_buf rec = {0};
    int rc = trg_dlq_record_build(&info, &rec);
    if (rc == 0) {
        cJSON *j = cJSON_ParseWithLength(rec.data, rec.len);
        if (!j || memchr(rec.data, '\n', rec.len))
            abort();
        cJSON_Delete(j);
        /* write, read back: identity */
        struct wait w = {0};
        if (trg_dlq_put(dlq, "r", rec.data, rec.len, put_cb, &w) != 0)
            abort();
        run(&w);
        if (w.err || !w.id)
            abort();
        struct wait g = {0};
        if (trg_dlq_get(dlq, "r", w.id, list_cb, &g) != 0)
            abort();
        run(&g);
        if (g.err || g.n != 1 || g.got.len != rec.len || memcmp(g.got.data, rec.data, rec.len) != 0)
            abort();
        struct wait l = {0};
        if (trg_dlq_list(dlq, "r", NULL, 10, list_cb, &l) != 0)
            abort();
        run(&l);
        if (l.err || l.n != 1 || l.got.len != rec.len || memcmp(l.got.data, rec.data, rec.len) != 0)
            abort();
        struct wait d = {0};
        if (trg_dlq_purge(dlq, "r", done_cb, &d) != 0)
            abort();
        run(&d);
        trg_free(w.id);
        trg_buf_free(&g.got);
        trg_buf_free(&l.got);
    } else if (rc != TRG_EINVAL || !info.batch_info_json) {
        abort();
    }
    trg_buf_free(&rec);

    /* a DLQ file with anything in it */
    char path[300];
    snprintf(path, sizeof path, "%s/raw.jsonl", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
        abort();
    struct wait l = {0};
    if (trg_dlq_list(dlq, "raw", NULL, 1000, list_cb, &l) != 0)
        abort();
    run(&l);
    trg_buf_free(&l.got);
    unlink(path);
    trg_free(copy);
    return 0;
}
