/* test_log.c — the per-call-site rate limit of log lines on a fake clock: a burst is printed, the
 * rest is held back and told in one "N more like ..." line once the window is over (when the site
 * logs again, or from trg_log_flush()); sites and levels do not share a budget; debug is not limited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static double fake_now;
static double fake_clock(void) { return fake_now; }

struct out {
    char *text;
    size_t len;
    FILE *f;
};

static int setup(void **state)
{
    struct out *o = calloc(1, sizeof *o);

    o->f = open_memstream(&o->text, &o->len);
    assert_non_null(o->f);
    fake_now = 1000.;
    trg_log_set_clock(fake_clock);
    trg_log_setup(TRG_LOG_DEBUG, TRG_LOG_TEXT, o->f);
    *state = o;
    return 0;
}

static int teardown(void **state)
{
    struct out *o = *state;

    trg_log_flush(true);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, stderr);
    trg_log_set_clock(NULL);
    fclose(o->f);
    free(o->text);
    free(o);
    return 0;
}

static size_t count(struct out *o, const char *needle)
{
    size_t n = 0;

    fflush(o->f);
    for (const char *p = o->text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void refused(int i) { trg_info("webhook", "hook", "refused request %d: wrong bearer token", i); }
static void other(int i) { trg_warn("webhook", "hook", "another site %d", i); }

static void test_burst_then_summary(void **state)
{
    struct out *o = *state;

    for (int i = 0; i < 100000; i++)
        refused(i);
    assert_int_equal(count(o, "refused request"), TRG_LOG_BURST);
    assert_int_equal(count(o, "more like"), 0);
    /* still inside the window: nothing more, and flush leaves it alone */
    fake_now += TRG_LOG_WINDOW_S - 1;
    refused(-1);
    trg_log_flush(false);
    assert_int_equal(count(o, "more like"), 0);
    /* the window is over: the site's next line first tells what was held back */
    fake_now += 1;
    refused(-2);
    assert_int_equal(count(o, "INFO  [webhook:hook] 99981 more like \"refused request %d: wrong bearer token\" "
                              "in the last 10 s"),
                     1);
    assert_int_equal(count(o, "refused request -2"), 1);
    assert_int_equal(count(o, "refused request"), TRG_LOG_BURST + 2); /* the summary quotes it once */
}

static void test_flush_tells_quiet_sites(void **state)
{
    struct out *o = *state;

    for (int i = 0; i < TRG_LOG_BURST + 5; i++)
        other(i);
    assert_int_equal(count(o, "another site"), TRG_LOG_BURST);
    fake_now += TRG_LOG_WINDOW_S + 0.5;
    trg_log_flush(false);
    assert_int_equal(count(o, "WARN  [webhook:hook] 5 more like \"another site %d\""), 1);
    /* told once: nothing held back since */
    fake_now += TRG_LOG_WINDOW_S + 1;
    trg_log_flush(false);
    assert_int_equal(count(o, "more like"), 1);
    /* a new window: a full burst again */
    for (int i = 0; i < TRG_LOG_BURST; i++)
        other(i);
    assert_int_equal(count(o, "another site"), 2 * TRG_LOG_BURST + 1);
}

static void test_sites_apart_and_debug_free(void **state)
{
    struct out *o = *state;

    for (int i = 0; i < 3 * TRG_LOG_BURST; i++) {
        trg_error("a", NULL, "site one %d", i);
        trg_error("a", NULL, "site two %d", i);
        trg_debug("a", NULL, "debug line %d", i);
    }
    assert_int_equal(count(o, "site one"), TRG_LOG_BURST);
    assert_int_equal(count(o, "site two"), TRG_LOG_BURST);
    assert_int_equal(count(o, "debug line"), 3 * TRG_LOG_BURST);
    /* at exit every held-back count is told, window over or not */
    trg_log_flush(true);
    assert_int_equal(count(o, "ERROR [a] 40 more like \"site one %d\""), 1);
    assert_int_equal(count(o, "ERROR [a] 40 more like \"site two %d\""), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_burst_then_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_tells_quiet_sites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sites_apart_and_debug_free, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
