/* test_metrics.c — the Prometheus text output: HELP/TYPE lines, sorted samples, label escaping,
 * histogram buckets, values, many samples (table growth), allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static char *render(const struct trg_metrics *m)
{
    struct trg_buf b = {0};

    assert_int_equal(trg_metrics_render(m, &b), 0);
    return trg_buf_steal(&b);
}

/* Does text contain line as a whole line? */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

static void test_empty(void **state)
{
    struct trg_metrics *m;
    char *t;

    (void)state;
    assert_int_equal(trg_metrics_create(&m), 0);
    t = render(m);
    assert_true(has_line(t, "# HELP trigd_events_received_total Events handed to trigd by a source."));
    assert_true(has_line(t, "# TYPE trigd_events_received_total counter"));
    assert_true(has_line(t, "# TYPE trigd_invocation_duration_seconds histogram"));
    assert_true(has_line(t, "# TYPE trigd_batch_size histogram"));
    assert_true(has_line(t, "# TYPE trigd_inflight gauge"));
    assert_true(has_line(t, "# TYPE trigd_queued gauge"));
    assert_true(has_line(t, "# TYPE trigd_source_lag gauge"));
    assert_true(has_line(t, "# TYPE trigd_events_rejected_total counter"));
    assert_true(has_line(t, "# TYPE trigd_dlq_events_total counter"));
    assert_true(has_line(t, "# TYPE trigd_retries_total counter"));
    assert_true(has_line(t, "# TYPE trigd_events_filtered_total counter"));
    assert_true(has_line(t, "# TYPE trigd_invocations_total counter"));
    assert_null(strstr(t, "{"));
    trg_free(t);
    trg_metrics_destroy(m);
    trg_metrics_destroy(NULL);
}

static void test_counters_gauges_sorted(void **state)
{
    struct trg_metrics *m;
    char *t;

    (void)state;
    assert_int_equal(trg_metrics_create(&m), 0);
    trg_metrics_add(m, TRG_M_EVENTS_RECEIVED, "orders", NULL, 1);
    trg_metrics_add(m, TRG_M_EVENTS_RECEIVED, "audit", NULL, 2);
    trg_metrics_add(m, TRG_M_EVENTS_RECEIVED, "orders", "ignored", 3);
    trg_metrics_add(m, TRG_M_INVOCATIONS, "thumb", "success", 5);
    trg_metrics_add(m, TRG_M_INVOCATIONS, "thumb", "error", 1);
    trg_metrics_add(m, TRG_M_INVOCATIONS, "avatar", "success", 1);
    trg_metrics_set(m, TRG_M_INFLIGHT, "thumb", NULL, 3);
    trg_metrics_add(m, TRG_M_INFLIGHT, "thumb", NULL, -1);
    trg_metrics_set(m, TRG_M_SOURCE_LAG, "orders", NULL, 0.25);
    trg_metrics_set(m, TRG_M_QUEUED, "r", NULL, 1e20);
    trg_metrics_set(m, TRG_M_QUEUED, "s", NULL, 0.1);
    trg_metrics_set(m, TRG_M_QUEUED, "t", NULL, INFINITY);
    trg_metrics_add(m, TRG_M_DLQ_EVENTS, "r", NULL, 1); /* two-label family, l2 missing = "" */

    assert_true(trg_metrics_get(m, TRG_M_EVENTS_RECEIVED, "orders", NULL) == 4);
    assert_true(trg_metrics_get(m, TRG_M_INVOCATIONS, "thumb", "success") == 5);
    assert_true(trg_metrics_get(m, TRG_M_INVOCATIONS, "thumb", "timeout") == 0);
    assert_true(trg_metrics_get(m, TRG_M_INFLIGHT, "thumb", NULL) == 2);
    assert_true(trg_metrics_get(m, TRG_M_RETRIES, "none", NULL) == 0);

    t = render(m);
    const char *a = strstr(t, "trigd_events_received_total{source=\"audit\"} 2\n");
    const char *o = strstr(t, "trigd_events_received_total{source=\"orders\"} 4\n");
    assert_non_null(a);
    assert_non_null(o);
    assert_true(a < o);
    const char *i1 = strstr(t, "trigd_invocations_total{function=\"avatar\",outcome=\"success\"} 1\n");
    const char *i2 = strstr(t, "trigd_invocations_total{function=\"thumb\",outcome=\"error\"} 1\n");
    const char *i3 = strstr(t, "trigd_invocations_total{function=\"thumb\",outcome=\"success\"} 5\n");
    assert_true(i1 && i2 && i3 && i1 < i2 && i2 < i3);
    assert_true(has_line(t, "trigd_inflight{function=\"thumb\"} 2"));
    assert_true(has_line(t, "trigd_source_lag{source=\"orders\"} 0.25"));
    assert_true(has_line(t, "trigd_queued{route=\"r\"} 1e+20"));
    assert_true(has_line(t, "trigd_queued{route=\"s\"} 0.1"));
    assert_true(has_line(t, "trigd_queued{route=\"t\"} +Inf"));
    assert_true(has_line(t, "trigd_dlq_events_total{route=\"r\",condition=\"\"} 1"));
    /* HELP/TYPE come right before the family's samples */
    assert_true(strstr(t, "# TYPE trigd_events_received_total counter\n") < a);
    trg_free(t);
    trg_metrics_destroy(m);
}

static void test_escaping(void **state)
{
    struct trg_metrics *m;
    char *t;

    (void)state;
    assert_int_equal(trg_metrics_create(&m), 0);
    trg_metrics_add(m, TRG_M_EVENTS_RECEIVED, "a\"b\\c\nd", NULL, 1);
    trg_metrics_add(m, TRG_M_DLQ_EVENTS, "r\"", "RetryAttemptsExhausted", 1);
    t = render(m);
    assert_true(has_line(t, "trigd_events_received_total{source=\"a\\\"b\\\\c\\nd\"} 1"));
    assert_true(
        has_line(t, "trigd_dlq_events_total{route=\"r\\\"\",condition=\"RetryAttemptsExhausted\"} 1"));
    trg_free(t);
    trg_metrics_destroy(m);
}

static void test_histograms(void **state)
{
    struct trg_metrics *m;
    char *t;

    (void)state;
    assert_int_equal(trg_metrics_create(&m), 0);
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, "f", 0.003);
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, "f", 0.005); /* le is inclusive */
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, "f", 0.2);
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, "f", 120);
    trg_metrics_observe(m, TRG_M_INVOCATION_DURATION, "f", NAN); /* ignored */
    trg_metrics_observe(m, TRG_M_EVENTS_RECEIVED, "f", 1);       /* not a histogram: ignored */
    trg_metrics_add(m, TRG_M_BATCH_SIZE, "r", NULL, 1);          /* add on a histogram: ignored */
    trg_metrics_observe(m, TRG_M_BATCH_SIZE, "r", 100);
    trg_metrics_observe(m, TRG_M_BATCH_SIZE, "r", 7);
    assert_true(trg_metrics_get(m, TRG_M_INVOCATION_DURATION, "f", NULL) == 4);
    t = render(m);
    assert_true(has_line(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"0.005\"} 2"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"0.1\"} 2"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"0.25\"} 3"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"60\"} 3"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"+Inf\"} 4"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_sum{function=\"f\"} 120.208"));
    assert_true(has_line(t, "trigd_invocation_duration_seconds_count{function=\"f\"} 4"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"1\"} 0"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"5\"} 0"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"10\"} 1"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"100\"} 2"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"10000\"} 2"));
    assert_true(has_line(t, "trigd_batch_size_bucket{route=\"r\",le=\"+Inf\"} 2"));
    assert_true(has_line(t, "trigd_batch_size_sum{route=\"r\"} 107"));
    assert_true(has_line(t, "trigd_batch_size_count{route=\"r\"} 2"));
    assert_null(strstr(t, "trigd_events_received_total{"));
    /* buckets in increasing order, +Inf last, then _sum and _count */
    const char *b1 = strstr(t, "le=\"0.005\"");
    const char *b2 = strstr(t, "le=\"0.01\"");
    const char *inf = strstr(t, "trigd_invocation_duration_seconds_bucket{function=\"f\",le=\"+Inf\"}");
    const char *sum = strstr(t, "trigd_invocation_duration_seconds_sum");
    assert_true(b1 < b2 && b2 < inf && inf < sum);
    trg_free(t);
    trg_metrics_destroy(m);
}

static void test_many_and_deterministic(void **state)
{
    struct trg_metrics *m1, *m2;
    char name[32];
    char *t1, *t2;

    (void)state;
    assert_int_equal(trg_metrics_create(&m1), 0);
    assert_int_equal(trg_metrics_create(&m2), 0);
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "src-%03d", i);
        trg_metrics_add(m1, TRG_M_EVENTS_RECEIVED, name, NULL, i);
        trg_metrics_observe(m1, TRG_M_BATCH_SIZE, name, i);
    }
    for (int i = 499; i >= 0; i--) {
        snprintf(name, sizeof name, "src-%03d", i);
        trg_metrics_observe(m2, TRG_M_BATCH_SIZE, name, i);
        trg_metrics_add(m2, TRG_M_EVENTS_RECEIVED, name, NULL, i);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "src-%03d", i);
        assert_true(trg_metrics_get(m1, TRG_M_EVENTS_RECEIVED, name, NULL) == i);
    }
    t1 = render(m1);
    t2 = render(m2);
    assert_string_equal(t1, t2);
    assert_true(strstr(t1, "{source=\"src-000\"}") < strstr(t1, "{source=\"src-499\"}"));
    trg_free(t1);
    trg_free(t2);
    trg_metrics_destroy(m1);
    trg_metrics_destroy(m2);
}

static void test_alloc_failures(void **state)
{
    struct trg_metrics *m;
    struct trg_buf b = {0};

    (void)state;
    trg_alloc_fail_after(0);
    assert_int_equal(trg_metrics_create(&m), TRG_ENOMEM);
    assert_null(m);
    trg_alloc_fail_after(-1);
    assert_int_equal(trg_metrics_create(&m), 0);
    for (long n = 0; n < 6; n++) {
        trg_alloc_fail_after(n);
        trg_metrics_add(m, TRG_M_RETRIES, "r", NULL, 1); /* ignored or counted, never a crash */
        trg_alloc_fail_after(-1);
    }
    assert_true(trg_metrics_get(m, TRG_M_RETRIES, "r", NULL) >= 1);
    trg_alloc_fail_after(0);
    assert_int_equal(trg_metrics_render(m, &b), TRG_ENOMEM);
    trg_alloc_fail_after(-1);
    trg_buf_free(&b);
    trg_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_counters_gauges_sorted),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_many_and_deterministic),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
