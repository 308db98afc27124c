/* test_dlq_redis.c — the DLQ Redis backend against a real redis-server: put/list/get/delete/purge on
 * {prefix}dlq:{route} streams, MAXLEN ~ trimming, TRG_ESTATE while Redis is down, destroy with
 * commands in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "log.h"
#include "redis.h"
#include "redis_server.h"
#include "util.h"

static struct test_redis srv;

struct fx {
    struct ev_loop *loop;
    ev_timer tick;
    struct trg_redis_conf conf;
    struct trg_redis *r;
    struct trg_dlq *d;
    bool up;
};

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

static void on_state(void *arg, bool connected)
{
    ((struct fx *)arg)->up = connected;
}

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

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (!srv.pid && !tr_start(&srv))
        return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&f->tick, tick_cb, 0.01, 0.01);
    ev_timer_start(f->loop, &f->tick);
    f->conf.url = trg_asprintf("redis://127.0.0.1:%d", srv.port);
    f->conf.prefix = "test:";
    if (trg_redis_create(f->loop, &f->conf, &f->r) != 0)
        return -1;
    trg_redis_on_state(f->r, on_state, f);
    wait_up(f, true);
    struct trg_dlq_conf dc = {.backend = TRG_DLQ_BACKEND_REDIS, .max_len = 1000};
    if (trg_dlq_create(f->loop, &dc, f->r, &f->d) != 0)
        return -1;
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
    trg_free(f->conf.url);
    free(f);
    return 0;
}

static void put(struct fx *f, const char *route, const char *rec, char *id_out)
{
    struct res r = {0};
    assert_int_equal(trg_dlq_put(f->d, route, rec, strlen(rec), put_cb, &r), 0);
    assert_int_equal(r.calls, 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    if (id_out)
        strcpy(id_out, r.id);
}

static void test_put_list_get(void **state)
{
    struct fx *f = *state;
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        char rec[64];
        snprintf(rec, sizeof(rec), "{\"n\":%d}", i);
        put(f, "orders", rec, ids[i]);
    }
    assert_non_null(strchr(ids[0], '-'));
    assert_int_equal(tr_int(&srv, "XLEN %s", "test:dlq:orders"), 5);

    struct res r = {0};
    assert_int_equal(trg_dlq_list(f->d, "orders", NULL, 3, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ids[0], ids[0]);
    assert_string_equal(r.records[2], "{\"n\":2}");
    res_clear(&r);

    assert_int_equal(trg_dlq_list(f->d, "orders", ids[2], 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], ids[3]);
    assert_string_equal(r.ids[1], ids[4]);
    res_clear(&r);

    assert_int_equal(trg_dlq_get(f->d, "orders", ids[1], list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.records[0], "{\"n\":1}");
    res_clear(&r);

    assert_int_equal(trg_dlq_get(f->d, "orders", "1-0", list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, TRG_ENOTFOUND);
    res_clear(&r);

    assert_int_equal(trg_dlq_list(f->d, "empty", NULL, 10, list_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.n, 0);
    res_clear(&r);

    /* bad arguments are refused at once */
    assert_int_equal(trg_dlq_put(f->d, "orders", "{oops", 5, put_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_get(f->d, "orders", "nope", list_cb, &r), TRG_EINVAL);
    assert_int_equal(trg_dlq_list(f->d, "", NULL, 1, list_cb, &r), TRG_EINVAL);
}

static void test_delete_purge(void **state)
{
    struct fx *f = *state;
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        put(f, "del", "{\"x\":1}", ids[i]);
    struct res r = {0};
    assert_int_equal(trg_dlq_delete(f->d, "del", ids[0], done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 1);
    memset(&r, 0, sizeof(r));
    assert_int_equal(trg_dlq_delete(f->d, "del", ids[0], done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.count, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(trg_dlq_purge(f->d, "del", done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.count, 2);
    assert_int_equal(tr_int(&srv, "EXISTS %s", "test:dlq:del"), 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(trg_dlq_purge(f->d, "del", done_cb, &r), 0);
    wait_calls(f, &r, 1);
    assert_int_equal(r.count, 0);
}

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

int main(void)
{
    tr_require();
    trg_json_init_hooks();
    trg_log_setup(getenv("TRG_TEST_VERBOSE") ? TRG_LOG_DEBUG : TRG_LOG_ERROR, TRG_LOG_TEXT, stderr);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_list_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maxlen_trimming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_is_estate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
