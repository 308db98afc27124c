/* test_dlq.c — the DLQ on both backends: one suite of put/list/get/delete/purge and argument checks run
 * against the file backend (a mkdtemp directory) and the Redis backend (a real redis-server, {prefix}dlq:
 * {route} streams), then what only one of them has: the file backend's one line per record, ids that
 * continue after a re-create, torn lines, destroy delivering finished operations, an unwritable directory;
 * Redis's MAXLEN ~ trimming, TRG_ESTATE while it is down, destroy with commands in flight. Callbacks come
 * only from the loop on both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlq.h"
#include "dlq_backend.h"
#include "log.h"
#include "redis.h"
#include "redis_server.h"
#include "util.h"

static struct test_redis srv;

struct fx {
    struct ev_loop *loop;
    ev_timer tick;             /* the loop never blocks for long */
    struct trg_dlq *d;
    enum trg_dlq_store backend;
    /* file */
    char dir[64];
    char *qdir;                /* dir/nested/dlq: created by the backend */
    /* redis */
    struct trg_redis_conf conf;
    struct trg_redis *r;
    bool up;
};

/* What callbacks saw. */
struct res {
    int calls;
    int err;
    char id[64];
    long count;
    size_t n;
    char ids[16][64];
    char *records[16];
};

static void res_clear(struct res *r)
{
    for (size_t i = 0; i < 16; i++)
        free(r->records[i]);
    memset(r, 0, sizeof(*r));
}

static void put_cb(void *arg, int err, const char *id)
{
    struct res *r = arg;
    r->calls++;
    r->err = err;
    if (id)
        snprintf(r->id, sizeof(r->id), "%s", id);
}

static void list_cb(void *arg, int err, const struct trg_dlq_entry *e, size_t n)
{
    struct res *r = arg;
    r->calls++;
    r->err = err;
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        snprintf(r->ids[i], sizeof(r->ids[i]), "%s", e[i].id);
        assert_int_equal(strlen(e[i].record), e[i].len);
        r->records[i] = strndup(e[i].record, e[i].len);
    }
}

static void done_cb(void *arg, int err, long count)
{
    struct res *r = arg;
    r->calls++;
    r->err = err;
    r->count = count;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void on_state(void *arg, bool connected) { ((struct fx *)arg)->up = connected; }

/* Run the loop until the callback was called (within a deadline). */
static void wait_calls(struct fx *f, struct res *r, int calls)
{
    double deadline = tr_now() + 5;
    while (r->calls < calls && tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    assert_int_equal(r->calls, calls);
}

static void wait_up(struct fx *f, bool want)
{
    double deadline = tr_now() + 10;
    while (f->up != want && tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    assert_true(f->up == want);
}

static void open_dlq(struct fx *f)
{
    struct trg_dlq_conf conf = {.backend = f->backend, .dir = f->qdir, .max_len = 1000};
    assert_int_equal(trg_dlq_create(f->loop, &conf, f->r, &f->d), 0);
}

static struct fx *fx_new(enum trg_dlq_store backend)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->backend = backend;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&f->tick, tick_cb, 0.01, 0.01);
    ev_timer_start(f->loop, &f->tick);
    return f;
}

static int setup_file(void **state)
{
    struct fx *f = fx_new(TRG_DLQ_BACKEND_FILE);
    snprintf(f->dir, sizeof(f->dir), "/tmp/trigd-dlq-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->qdir = trg_asprintf("%s/nested/dlq", f->dir);
    open_dlq(f);
    *state = f;
    return 0;
}

static int setup_redis(void **state)
{
    struct fx *f = fx_new(TRG_DLQ_BACKEND_REDIS);
    if (!srv.pid && !tr_start(&srv))
        return -1;
    f->conf.url = trg_asprintf("redis://127.0.0.1:%d", srv.port);
    f->conf.prefix = "test:";
    if (trg_redis_create(f->loop, &f->conf, NULL, NULL, &f->r) != 0)
        return -1;
    trg_redis_on_state(f->r, on_state, f);
    wait_up(f, true);
    open_dlq(f);
    freeReplyObject(tr_cmd(&srv, "FLUSHALL"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    trg_dlq_destroy(f->d);
    trg_redis_destroy(f->r);
    ev_run(f->loop, EVRUN_NOWAIT);
    ev_timer_stop(f->loop, &f->tick);
    ev_loop_destroy(f->loop);
    if (f->backend == TRG_DLQ_BACKEND_FILE) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            return -1;
    }
    trg_free(f->qdir);
    trg_free(f->conf.url);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *route, const char *rec, char *id_out)
{
    struct res r = {0};
    assert_int_equal(trg_dlq_put(f->d, route, rec, strlen(rec), put_cb, &r), 0);
    assert_int_equal(r.calls, 0); /* never from inside the call */
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    if (id_out)
        strcpy(id_out, r.id);
}

static int id_cmp(const char *a, const char *b)
{
    uint64_t ams, aseq, bms, bseq;
    assert_int_equal(trg_dlq_id_parse(a, strlen(a), &ams, &aseq), 0);
    assert_int_equal(trg_dlq_id_parse(b, strlen(b), &bms, &bseq), 0);
    if (ams != bms)
        return ams < bms ? -1 : 1;
    return aseq < bseq ? -1 : aseq > bseq;
}

/* --- both backends ---------------------------------------------------------------------------- */

static void test_put_list_get(void **state)
{
    struct fx *f = *state;
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        char rec[64];
        snprintf(rec, sizeof(rec), "{\"n\":%d,\"s\":\"a\\nb\"}", i);
        put(f, "orders", rec, ids[i]);
        if (i > 0)
            assert_true(id_cmp(ids[i - 1], ids[i]) < 0);
    }
    if (f->backend == TRG_DLQ_BACKEND_FILE) { /* directory mode */
        struct stat st;
        assert_int_equal(stat(f->qdir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    } else {
        assert_int_equal(tr_int(&srv, "XLEN %s", "test:dlq:orders"), 5);
    }

    struct res r = {0};
    assert_int_equal(trg_dlq_list(f->d, "orders", NULL, 3, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ids[0], ids[0]);
    assert_string_equal(r.ids[2], ids[2]);
    assert_string_equal(r.records[1], "{\"n\":1,\"s\":\"a\\nb\"}");
    res_clear(&r);

    /* paging after an id */
    assert_int_equal(trg_dlq_list(f->d, "orders", ids[2], 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], ids[3]);
    assert_string_equal(r.ids[1], ids[4]);
    res_clear(&r);

    assert_int_equal(trg_dlq_get(f->d, "orders", ids[3], list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.records[0], "{\"n\":3,\"s\":\"a\\nb\"}");
    res_clear(&r);

    assert_int_equal(trg_dlq_get(f->d, "orders", "1-0", list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, TRG_ENOTFOUND);
    assert_int_equal(r.n, 0);
    res_clear(&r);

    /* an unknown route is empty */
    assert_int_equal(trg_dlq_list(f->d, "nothing-here", NULL, 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 0);
    res_clear(&r);
}

static void test_delete_purge(void **state)
{
    struct fx *f = *state;
    char ids[4][64];
    for (int i = 0; i < 4; i++)
        put(f, "del", "{\"x\":true}", ids[i]);
    struct res r = {0};
    assert_int_equal(trg_dlq_delete(f->d, "del", ids[1], done_cb, &r), 0);
    assert_int_equal(r.calls, 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 1);
    memset(&r, 0, sizeof(r));
    assert_int_equal(trg_dlq_delete(f->d, "del", ids[1], done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 0);
    memset(&r, 0, sizeof(r));

    assert_int_equal(trg_dlq_list(f->d, "del", NULL, 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ids[0], ids[0]);
    assert_string_equal(r.ids[1], ids[2]);
    assert_string_equal(r.ids[2], ids[3]);
    res_clear(&r);

    if (f->backend == TRG_DLQ_BACKEND_FILE) { /* no temp file is left behind */
        char *tmp = trg_asprintf("%s/.del.jsonl.tmp", f->qdir);
        assert_int_not_equal(access(tmp, F_OK), 0);
        trg_free(tmp);
    }

    assert_int_equal(trg_dlq_purge(f->d, "del", done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 3);
    memset(&r, 0, sizeof(r));
    if (f->backend == TRG_DLQ_BACKEND_REDIS)
        assert_int_equal(tr_int(&srv, "EXISTS %s", "test:dlq:del"), 0);
    assert_int_equal(trg_dlq_list(f->d, "del", NULL, 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 0);
    res_clear(&r);
    assert_int_equal(trg_dlq_purge(f->d, "del", done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.count, 0);

    /* ids keep increasing after a purge (the file backend; a Redis stream deleted by the purge and made
     * again within the same millisecond starts that millisecond's sequence at 0 again) */
    char id[64];
    put(f, "del", "{}", id);
    if (f->backend == TRG_DLQ_BACKEND_FILE)
        assert_true(id_cmp(ids[3], id) < 0);
}

/* Bad arguments are refused at once, and no callback follows. */
static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct res r = {0};
    assert_int_equal(trg_dlq_put(f->d, "ok-route_1.v2", "not json", 8, put_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_put(f->d, "ok", "{oops", 5, put_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_get(f->d, "ok", "abc", list_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_get(f->d, "ok", "nope", list_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_delete(f->d, "ok", "1-", done_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_list(f->d, "ok", "x-1", 5, list_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_list(f->d, "ok", NULL, 0, list_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_list(f->d, "", NULL, 1, list_cb, &r), TRG_EINVAL);
    if (f->backend == TRG_DLQ_BACKEND_FILE) { /* route names become file names */
        const char *bad[] = {".hidden", "a/b", "..", "a b", "x\ny", "route;rm"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(trg_dlq_put(f->d, bad[i], "{}", 2, put_cb, &r), TRG_EINVAL);
            assert_int_equal(trg_dlq_list(f->d, bad[i], NULL, 5, list_cb, &r), TRG_EINVAL);
            assert_int_equal(trg_dlq_purge(f->d, bad[i], done_cb, &r), TRG_EINVAL);
        }
    }
    ev_run(f->loop, EVRUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    trg_dlq_destroy(NULL);
}

/* --- the file backend ------------------------------------------------------------------------- */

static void test_pretty_record_is_one_line(void **state)
{
    struct fx *f = *state;
    char id[64];
    put(f, "r1", "{\n  \"k\": \"v w\",\n  \"big\": 12345678901234567890\n}\n", id);
    struct res r = {0};
    assert_int_equal(trg_dlq_get(f->d, "r1", id, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.records[0], "{\"k\":\"v w\",\"big\":12345678901234567890}");
    res_clear(&r);
}

static void test_ids_survive_recreate(void **state)
{
    struct fx *f = *state;
    char a[64], b[64];
    /* an id far in the future: a restarted process must continue after it, not from the clock */
    char *path = trg_asprintf("%s/mono.jsonl", f->qdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"id\":\"99999999999999-7\",\"record\":{\"old\":1}}\n");
    fclose(fp);
    put(f, "mono", "{\"n\":1}", a);
    assert_string_equal(a, "99999999999999-8");
    trg_dlq_destroy(f->d);
    f->d = NULL;
    open_dlq(f);
    put(f, "mono", "{\"n\":2}", b);
    assert_string_equal(b, "99999999999999-9");

    /* the content is on disk after destroy, one line per entry */
    trg_dlq_destroy(f->d);
    f->d = NULL;
    fp = fopen(path, "r");
    assert_non_null(fp);
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof(line), fp))
        lines++;
    fclose(fp);
    assert_int_equal(lines, 3);
    assert_non_null(strstr(line, "{\"id\":\"99999999999999-9\",\"record\":{\"n\":2}}"));
    trg_free(path);
    open_dlq(f);
}

static void test_torn_line(void **state)
{
    struct fx *f = *state;
    char *path = trg_asprintf("%s/torn.jsonl", f->qdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"id\":\"5-0\",\"record\":{\"ok\":1}}\ngarbage line\n{\"id\":\"6-0\",\"rec");
    fclose(fp);
    char id[64];
    put(f, "torn", "{\"ok\":2}", id);
    struct res r = {0};
    assert_int_equal(trg_dlq_list(f->d, "torn", NULL, 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], "5-0");
    assert_string_equal(r.ids[1], id);
    assert_string_equal(r.records[1], "{\"ok\":2}");
    res_clear(&r);
    trg_free(path);
}

/* destroy answers finished operations before it returns */
static void test_destroy_delivers(void **state)
{
    struct fx *f = *state;
    struct res a = {0}, b = {0};
    assert_int_equal(trg_dlq_put(f->d, "late", "{}", 2, put_cb, &a), 0);
    assert_int_equal(trg_dlq_purge(f->d, "late", done_cb, &b), 0);
    trg_dlq_destroy(f->d);
    f->d = NULL;
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.count, 1);
    open_dlq(f);
}

/* destroy from inside a callback: the rest are answered, nothing is used after free */
struct reentry {
    struct trg_dlq *d;
    int calls;
    int after_err;
};

static void destroy_in_cb(void *arg, int err, const char *id)
{
    (void)err;
    (void)id;
    struct reentry *re = arg;
    re->calls++;
    if (re->calls == 1) {
        trg_dlq_destroy(re->d);
    }
}

static void test_destroy_from_callback(void **state)
{
    struct fx *f = *state;
    struct reentry re = {.d = f->d};
    for (int i = 0; i < 3; i++)
        assert_int_equal(trg_dlq_put(f->d, "re", "{}", 2, destroy_in_cb, &re), 0);
    f->d = NULL;
    for (int i = 0; i < 10 && re.calls < 3; i++)
        ev_run(f->loop, EVRUN_ONCE | EVRUN_NOWAIT);
    assert_int_equal(re.calls, 3);
    open_dlq(f);
}

static void test_unwritable_dir(void **state)
{
    struct fx *f = *state;
    if (geteuid() == 0)
        skip(); /* root writes anywhere */
    char *ro = trg_asprintf("%s/ro", f->dir);
    assert_int_equal(mkdir(ro, 0500), 0);
    char *sub = trg_asprintf("%s/sub", ro);
    struct trg_dlq_conf conf = {.backend = TRG_DLQ_BACKEND_FILE, .dir = sub};
    struct trg_dlq *d = NULL;
    assert_int_equal(trg_dlq_create(f->loop, &conf, NULL, &d), TRG_EIO);
    assert_null(d);
    trg_free(sub);
    trg_free(ro);
}

/* --- the Redis backend ------------------------------------------------------------------------ */

static void test_maxlen_trimming(void **state)
{
    struct fx *f = *state;
    /* small stream nodes, so MAXLEN ~ can trim at this size */
    freeReplyObject(tr_cmd(&srv, "CONFIG SET stream-node-max-entries 4"));
    trg_dlq_destroy(f->d);
    struct trg_dlq_conf dc = {.backend = TRG_DLQ_BACKEND_REDIS, .max_len = 10};
    assert_int_equal(trg_dlq_create(f->loop, &dc, f->r, &f->d), 0);
    for (int i = 0; i < 40; i++)
        put(f, "trim", "{}", NULL);
    long long len = tr_int(&srv, "XLEN %s", "test:dlq:trim");
    assert_true(len >= 10 && len <= 14);
    freeReplyObject(tr_cmd(&srv, "CONFIG SET stream-node-max-entries 100"));
}

static void test_down_is_estate(void **state)
{
    struct fx *f = *state;
    put(f, "down", "{}", NULL);
    tr_kill(&srv);
    wait_up(f, false);
    struct res r = {0};
    assert_int_equal(trg_dlq_put(f->d, "down", "{}", 2, put_cb, &r), TRG_ESTATE);
    assert_int_equal(trg_dlq_list(f->d, "down", NULL, 5, list_cb, &r), TRG_ESTATE);
    assert_int_equal(trg_dlq_purge(f->d, "down", done_cb, &r), TRG_ESTATE);
    assert_int_equal(r.calls, 0);
    assert_true(tr_start(&srv));
    wait_up(f, true);
    put(f, "down", "{}", NULL);
}

static void test_destroy_with_pending(void **state)
{
    struct fx *f = *state;
    struct res a = {0}, b = {0};
    assert_int_equal(trg_dlq_put(f->d, "p", "{}", 2, put_cb, &a), 0);
    assert_int_equal(trg_dlq_list(f->d, "p", NULL, 5, list_cb, &b), 0);
    trg_dlq_destroy(f->d);
    f->d = NULL;
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, TRG_ESTATE);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, TRG_ESTATE);
    /* the replies still arrive and are dropped quietly */
    double deadline = tr_now() + 0.2;
    while (tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    assert_int_equal(a.calls, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    tr_stop(&srv);
    return 0;
}

#define BOTH(t) {#t " (file)", t, setup_file, teardown, NULL}, {#t " (redis)", t, setup_redis, teardown, NULL}
#define FILE_ONLY(t) {#t " (file)", t, setup_file, teardown, NULL}
#define REDIS_ONLY(t) {#t " (redis)", t, setup_redis, teardown, NULL}

int main(void)
{
    tr_require();
    trg_json_init_hooks();
    trg_log_setup(getenv("TRG_TEST_VERBOSE") ? TRG_LOG_DEBUG : TRG_LOG_ERROR, TRG_LOG_TEXT, stderr);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        BOTH(test_put_list_get),
        BOTH(test_delete_purge),
        BOTH(test_bad_arguments),
        FILE_ONLY(test_pretty_record_is_one_line),
        FILE_ONLY(test_ids_survive_recreate),
        FILE_ONLY(test_torn_line),
        FILE_ONLY(test_destroy_delivers),
        FILE_ONLY(test_destroy_from_callback),
        FILE_ONLY(test_unwritable_dir),
        REDIS_ONLY(test_maxlen_trimming),
        REDIS_ONLY(test_down_is_estate),
        REDIS_ONLY(test_destroy_with_pending),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
