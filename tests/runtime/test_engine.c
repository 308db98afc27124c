/* test_engine.c — a real engine driven in process (tests/runtime/harness.h): retries, bisect, partial
 * batch responses, throttling, max record age, ordering, backpressure, the hold of a source that asks for
 * one, reload and shutdown. Each test decides every invocation's outcome itself and moves the clock itself,
 * so none waits on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "engine.h"
#include "harness.h"
#include "log.h"
#include "util.h"

#define FN "\"functions\":{\"f\":{\"type\":\"test\"}}"
#define SRC "\"sources\":{\"s\":{\"type\":\"test\"}}"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A failing event is retried until max_retry_attempts, then written to the DLQ and is done. */
static void test_retry_then_dlq(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                               "\"max_retry_attempts\":2}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    for (int attempt = 0; attempt < 3; attempt++) {
        assert_int_equal(th_calls(t), 1);
        assert_int_equal(th_done_count(t, TRG_DONE_OK), 0);
        th_answer(t, TRG_OUT_ERROR, 500, NULL, -1);
    }
    assert_int_equal(th_calls(t), 0);
    assert_int_equal(th_dlq_count(t, "r", "RetryAttemptsExhausted"), 1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    th_stop(t);
}

/* bisect_on_error: a failed batch of 4 comes back as two batches of 2. */
static void test_bisect(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":4,"
                               "\"batch_window_ms\":60000,\"bisect_on_error\":true}}", 1000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1);
    assert_int_equal(count(th_call(t)->payload, "\"n\":1"), 4);
    th_answer(t, TRG_OUT_ERROR, 500, NULL, -1);
    assert_int_equal(th_calls(t), 2);
    assert_int_equal(count(th_call(t)->payload, "\"n\":1"), 2);
    assert_int_equal(count(th_call(t)->next->payload, "\"n\":1"), 2);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 4);
    assert_int_equal(th_dlq_count(t, "r", ""), 0);
    th_stop(t);
}

/* report_batch_item_failures: only the failed item is retried. */
static void test_partial(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":3,"
                               "\"batch_window_ms\":60000,\"report_batch_item_failures\":true}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"id\":\"a\"}", "a", NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"id\":\"b\"}", "b", NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"id\":\"c\"}", "c", NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1);
    th_answer(t, TRG_OUT_SUCCESS, 200, "{\"batchItemFailures\":[{\"itemIdentifier\":\"b\"}]}", -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 2);
    assert_int_equal(th_calls(t), 1);
    assert_string_equal(th_call(t)->payload, "{\"id\":\"b\"}");
    th_answer(t, TRG_OUT_SUCCESS, 200, "{\"batchItemFailures\":[]}", -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 3);
    th_stop(t);
}

/* A throttled invocation is retried without counting an attempt (max_retry_attempts 0 would DLQ it). */
static void test_throttling(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                               "\"max_retry_attempts\":0}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(th_calls(t), 1);
        th_answer(t, TRG_OUT_THROTTLED, 429, NULL, 0);
    }
    assert_int_equal(th_calls(t), 1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    assert_int_equal(th_dlq_count(t, "r", ""), 0);
    th_stop(t);
}

/* max_record_age_s: an event older than that when it fails goes to the DLQ as EventAgeExceeded. */
static void test_max_record_age(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                               "\"max_retry_attempts\":-1,\"max_record_age_s\":60}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    th_answer(t, TRG_OUT_ERROR, 500, NULL, -1); /* young: retried */
    assert_int_equal(th_calls(t), 1);
    t->now_ms += 60001;
    th_answer(t, TRG_OUT_ERROR, 500, NULL, -1);
    assert_int_equal(th_calls(t), 0);
    assert_int_equal(th_dlq_count(t, "r", "EventAgeExceeded"), 1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    th_stop(t);
}

/* Events of one ordering key run one at a time, in order, also across a retry; other keys do not wait. */
static void test_ordering(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                               "\"max_retry_attempts\":3}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"e\":\"k1-1\"}", NULL, "k1"), 0);
    assert_int_equal(th_emit(t, "s", "{\"e\":\"k1-2\"}", NULL, "k1"), 0);
    assert_int_equal(th_emit(t, "s", "{\"e\":\"k2-1\"}", NULL, "k2"), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 2);
    assert_string_equal(th_call(t)->payload, "{\"e\":\"k1-1\"}");
    assert_string_equal(th_call(t)->next->payload, "{\"e\":\"k2-1\"}");
    th_answer(t, TRG_OUT_ERROR, 500, NULL, -1); /* k1-1 fails: k1-2 must still wait */
    assert_int_equal(th_calls(t), 2);
    assert_string_equal(th_call(t)->payload, "{\"e\":\"k2-1\"}");
    assert_string_equal(th_call(t)->next->payload, "{\"e\":\"k1-1\"}");
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1); /* k1-1 done: now k1-2 */
    assert_int_equal(th_calls(t), 1);
    assert_string_equal(th_call(t)->payload, "{\"e\":\"k1-2\"}");
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 3);
    th_stop(t);
}

/* max_queued_events: a full route refuses events and pauses its source until it drains. */
static void test_backpressure(void **state)
{
    (void)state;
    struct th *t = th_start("\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}}," SRC
                            ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                            "\"max_queued_events\":2}}", 1000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":2}", NULL, NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":3}", NULL, NULL), TRG_EFULL);
    th_run(t);
    assert_true(t->paused);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_false(t->paused);
    assert_int_equal(th_emit(t, "s", "{\"n\":3}", NULL, NULL), 0);
    th_run(t);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 3);
    th_stop(t);
}

#define HOLD_SRC(n) "\"sources\":{\"s\":{\"type\":\"test\",\"hold\":" #n "}}"

/* The number in the payload of the oldest held invocation ({"n":N}). */
static int call_n(struct th *t)
{
    const char *p = strstr(th_call(t)->payload, "\"n\":");
    assert_non_null(p);
    return atoi(p + 4);
}

/* A source with a hold: what the full route cannot take is held, not refused; the source is paused once 3
 * are held and resumed at half; everything reaches the function in the order it came. With refs, what is
 * held is the source's reference, finished into its event as it is handed on. */
static void hold_order(const char *src, bool refs)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}},%s,"
             "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,\"max_queued_events\":2}}",
             src);
    struct th *t = th_start(cfg, 1000);
    char json[32];
    for (int i = 1; i <= 6; i++) {
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        assert_int_equal(th_emit(t, "s", json, NULL, NULL), 0); /* never TRG_EFULL */
        th_run(t);
        assert_true(t->paused == (i >= 5)); /* 2 in the route, then 3 held */
    }
    for (int i = 1; i <= 6; i++) {
        assert_int_equal(th_calls(t), 1);
        assert_int_equal(call_n(t), i);
        th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
        /* after answering i, event i + 2 is in the route; held: 6 - (i + 2) */
        assert_true(t->paused == (6 - (i + 2) > 1));
    }
    assert_int_equal(th_calls(t), 0);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 6);
    assert_int_equal(t->finished, refs ? 4 : 0); /* events 3 to 6 were held */
    th_stop(t);
}

static void test_hold(void **state)
{
    (void)state;
    hold_order(HOLD_SRC(3), false);
}

static void test_hold_refs(void **state)
{
    (void)state;
    hold_order("\"sources\":{\"s\":{\"type\":\"test\",\"hold\":3,\"refs\":true}}", true);
}

/* A held event keeps the order of its key behind the full route, and keys are not blocked by each other:
 * with two routes' worth of keys, each key's events arrive in order. */
static void test_hold_keys(void **state)
{
    (void)state;
    struct th *t = th_start("\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}}," HOLD_SRC(100)
                            ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,"
                            "\"max_queued_events\":1}}", 1000);
    const char *keys[] = {"a", "b", "a", "b", "a", "a", "b"};
    int next[2] = {0, 0};
    char json[32];
    for (int i = 0; i < 7; i++) {
        snprintf(json, sizeof json, "{\"k\":%d,\"n\":%d}", keys[i][0] - 'a', i);
        assert_int_equal(th_emit(t, "s", json, NULL, keys[i]), 0);
    }
    th_run(t);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(th_calls(t), 1);
        const char *k = strstr(th_call(t)->payload, "\"k\":");
        int key = atoi(k + 4), n = call_n(t);
        /* the n-th event of its key in emit order */
        int seen = 0, want = -1;
        for (int j = 0; j < 7 && want < 0; j++)
            if (keys[j][0] - 'a' == key && seen++ == next[key])
                want = j;
        assert_int_equal(n, want);
        next[key]++;
        th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    }
    assert_int_equal(next[0] + next[1], 7);
    th_stop(t);
}

/* With no enabled route a holding source's events wait (the source is paused at its bound) and go on once
 * a route is enabled again. */
static void test_hold_no_route(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," HOLD_SRC(2) ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\","
                               "\"batch_size\":1}}", 1000);
    assert_int_equal(trg_engine_route_set_enabled(t->engine, "r", false), 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":2}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 0);
    assert_true(t->paused);
    assert_int_equal(trg_engine_route_set_enabled(t->engine, "r", true), 0);
    th_run(t);
    assert_false(t->paused);
    assert_int_equal(th_calls(t), 2);
    assert_int_equal(call_n(t), 1);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(call_n(t), 2);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 2);
    th_stop(t);
}

/* A source that stops (here: a reload removes it) drops what it holds: each event comes back as never sent,
 * while the ones in the route finish. */
static void hold_dropped(bool refs)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}},"
             "\"sources\":{\"s\":{\"type\":\"test\",\"hold\":10,\"refs\":%s}},\"routes\":{\"r\":{"
             "\"source\":\"s\",\"function\":\"f\",\"batch_size\":1,\"max_queued_events\":1}}",
             refs ? "true" : "false");
    struct th *t = th_start(cfg, 1000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1);
    assert_int_equal(th_reload(t, "\"functions\":{\"f\":{\"type\":\"test\",\"max_concurrency\":1}},"
                                  "\"sources\":{\"s2\":{\"type\":\"test\"}},\"routes\":{\"r\":{\"source\":\"s2\","
                                  "\"function\":\"f\",\"batch_size\":1,\"max_queued_events\":1}}"),
                     0);
    assert_int_equal(th_done_count(t, TRG_DONE_UNSENT), 3);
    assert_int_equal(th_calls(t), 1); /* the one in flight finishes */
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    assert_int_equal(t->finished, 0);
    th_stop(t);
}

static void test_hold_dropped_at_stop(void **state)
{
    (void)state;
    hold_dropped(false);
}

static void test_hold_refs_dropped_at_stop(void **state)
{
    (void)state;
    hold_dropped(true);
}

/* A reload keeps in-flight work, and says how many new sources could not start (it used to say 0). */
static void test_reload(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1}}",
                            1000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1); /* held across the reload */
    int rc = th_reload(t, FN ",\"sources\":{\"s\":{\"type\":\"test\"},\"bad\":{\"type\":\"test\",\"fail_start\":true}},"
                             "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":2},"
                             "\"r2\":{\"source\":\"bad\",\"function\":\"f\"}}");
    assert_int_equal(rc, 1);
    assert_false(trg_engine_ready(t->engine));
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1); /* the retired route finishes its event */
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    rc = th_reload(t, FN ",\"sources\":{\"s\":{\"type\":\"test\"},\"bad\":{\"type\":\"test\"}},"
                      "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1},"
                      "\"r2\":{\"source\":\"bad\",\"function\":\"f\"}}");
    assert_int_equal(rc, 0);
    assert_true(trg_engine_ready(t->engine));
    assert_int_equal(th_emit(t, "s", "{\"n\":2}", NULL, NULL), 0);
    th_run(t);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 2);
    th_stop(t);
}

/* An engine that cannot be built frees its config exactly once, whether the failure comes before
 * anything was built from the config or after objects holding references to it were discarded (ASan
 * reports the leak or the double free). */
static void test_create_fails(void **state)
{
    (void)state;
#define ROUTE "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\"}}"
    /* Nothing is built before the function fails. */
    assert_true(th_create("\"functions\":{\"f\":{\"type\":\"test\",\"fail_create\":true}}," SRC "," ROUTE) < 0);
    /* f is built, then g fails. */
    assert_true(th_create("\"functions\":{\"f\":{\"type\":\"test\"},\"g\":{\"type\":\"test\",\"fail_create\":true}},"
                          SRC "," ROUTE) < 0);
    /* f is built, then the source fails. */
    assert_true(th_create(FN ",\"sources\":{\"s\":{\"type\":\"test\",\"fail_create\":true}}," ROUTE) < 0);
    assert_int_equal(th_create(FN "," SRC "," ROUTE), 0);
#undef ROUTE
}

/* A reload that cannot be built frees the new config once and leaves the running one untouched. */
static void test_reload_fails(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1}}",
                            1000);
    /* g is built, then h fails: g is discarded and the new config with it. */
    assert_true(th_reload(t, "\"functions\":{\"f\":{\"type\":\"test\"},\"g\":{\"type\":\"test\"},"
                             "\"h\":{\"type\":\"test\",\"fail_create\":true}}," SRC
                             ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"g\"}}") < 0);
    /* Nothing is built before the source fails. */
    assert_true(th_reload(t, FN ",\"sources\":{\"s2\":{\"type\":\"test\",\"fail_create\":true}},"
                             "\"routes\":{\"r\":{\"source\":\"s2\",\"function\":\"f\"}}") < 0);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1);
    assert_string_equal(th_call(t)->function, "f");
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    th_stop(t);
}

static void drained(void *arg) { *(bool *)arg = true; }

/* Shutdown drains what is in flight; past shutdown_timeout_ms it abandons the rest. */
static void test_shutdown_drains(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1}}",
                            600000);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    bool done = false;
    trg_engine_shutdown(t->engine, drained, &done);
    th_run(t);
    assert_false(done);
    assert_int_equal(th_emit(t, "s", "{\"n\":2}", NULL, NULL), TRG_ESTATE);
    th_answer(t, TRG_OUT_SUCCESS, 200, NULL, -1);
    assert_true(done);
    assert_int_equal(th_done_count(t, TRG_DONE_OK), 1);
    th_stop(t);
}

static void test_shutdown_abandons(void **state)
{
    (void)state;
    struct th *t = th_start(FN "," SRC ",\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_size\":1}}",
                            0);
    assert_int_equal(th_emit(t, "s", "{\"n\":1}", NULL, NULL), 0);
    th_run(t);
    assert_int_equal(th_calls(t), 1);
    bool done = false;
    trg_engine_shutdown(t->engine, drained, &done);
    th_run(t);
    assert_true(done);
    assert_int_equal(th_calls(t), 0); /* the invocation was cancelled without its callback */
    assert_int_equal(th_done_count(t, TRG_DONE_ABANDONED), 1);
    th_stop(t);
}

int main(void)
{
    trg_json_init_hooks();
    trg_log_setup(TRG_LOG_ERROR, TRG_LOG_TEXT, stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_dlq),
        cmocka_unit_test(test_bisect),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_throttling),
        cmocka_unit_test(test_max_record_age),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_hold_refs),
        cmocka_unit_test(test_hold_keys),
        cmocka_unit_test(test_hold_no_route),
        cmocka_unit_test(test_hold_dropped_at_stop),
        cmocka_unit_test(test_hold_refs_dropped_at_stop),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_create_fails),
        cmocka_unit_test(test_reload_fails),
        cmocka_unit_test(test_shutdown_drains),
        cmocka_unit_test(test_shutdown_abandons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
