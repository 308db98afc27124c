/* test_hold_intake.c — the hold of a source with a durable intake, against a real redis-server: an event
 * whose append Redis refuses goes back to the head of the hold (never to the source as refused), and is
 * stored and invoked, in order, once Redis takes it; with Redis down the events wait in the hold and go
 * on when it is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/connector.h"
#include "harness.h"
#include "redis_server.h"

static struct test_redis redis;

#define CONFIG_FMT                                                                                               \
    "\"redis\":{\"url\":\"redis://127.0.0.1:%d\",\"connect_timeout_ms\":500},"                                   \
    "\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}},"                                           \
    "\"sources\":{\"s\":{\"type\":\"test\",\"hold\":10}},"                                                       \
    "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1}}"

static struct th *start(void)
{
    char body[1024];
    snprintf(body, sizeof body, CONFIG_FMT, redis.port);
    return th_start(body, 1000);
}

static int call_n(struct th *t)
{
    const char *p = strstr(th_call(t)->payload, "\"n\":");
    assert_non_null(p);
    return atoi(p + 4);
}

static bool refused_and_held(struct th *t, void *arg)
{
    (void)arg;
    redisReply *r = tr_cmd(&redis, "ACL LOG");
    bool denied = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    freeReplyObject(r);
    return denied && th_held(t, "s") == 2;
}

static bool held(struct th *t, void *arg) { return th_held(t, "s") == (size_t)(intptr_t)arg; }
static bool called(struct th *t, void *arg) { return th_calls(t) >= (size_t)(intptr_t)arg; }
/* Both appended (the source heard done: its XADD replies came) and the first one invoked; the two come
 * over different connections, in either order. */
static bool done_ok(struct th *t, void *arg) { return th_done_count(t, TRG_DONE_OK) == (size_t)(intptr_t)arg; }
static bool stored_and_called(struct th *t, void *arg)
{
    (void)arg;
    return th_done_count(t, TRG_DONE_OK) == 2 && th_calls(t) >= 1;
}

/* Redis refuses XADD (an ACL): both events come back to the hold in order, the source hears nothing;
 * once XADD is allowed they are stored (the engine tries again on its own) and invoked in order. */
static void test_refused_append(void **state)
{
    (void)state;
    redisReply *r = tr_cmd(&redis, "ACL SETUSER default -xadd");
    assert_non_null(r);
    freeReplyObject(r);
    struct th *t = start();
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":2}", NULL, NULL), 0);
    assert_true(th_wait(t, refused_and_held, NULL, 20));
    assert_int_equal(th_calls(t), 0);
    assert_int_equal(t->n_done, 0); /* neither refused nor done: still the engine's */
    r = tr_cmd(&redis, "ACL SETUSER default +xadd");
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(th_wait(t, stored_and_called, NULL, 20)); /* the engine tried again on its own */
    assert_int_equal(tr_int(&redis, "EXISTS %s", "trigd:intake:r"), 1);
    assert_int_equal(th_held(t, "s"), 0);
    assert_int_equal(call_n(t), 1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_true(th_wait(t, called, (void *)1, 20));
    assert_int_equal(call_n(t), 2);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    th_stop(t);
}

/* Redis is down: what arrives is held (not refused), and stored once Redis is back. */
static void test_redis_down(void **state)
{
    (void)state;
    struct th *t = start();
    tr_kill(&redis);
    for (int i = 1; i <= 3; i++) {
        char json[32];
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        assert_int_equal(th_emit(t, "s", json, NULL, NULL), 0);
    }
    assert_true(th_wait(t, held, (void *)3, 20));
    assert_int_equal(t->n_done, 0);
    assert_true(tr_start(&redis));
    assert_true(th_wait(t, called, (void *)1, 30));
    assert_int_equal(th_held(t, "s"), 0);
    for (int i = 1; i <= 3; i++) {
        assert_true(th_wait(t, called, (void *)1, 20));
        assert_int_equal(call_n(t), i);
        th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    }
    assert_true(th_wait(t, done_ok, (void *)3, 20)); /* each heard once its XADD reply came */
    th_stop(t);
}

static int setup(void **state)
{
    (void)state;
    return tr_start(&redis) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tr_stop(&redis);
    return 0;
}

int main(void)
{
    tr_require();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_append),
        cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
