/* test_fate.c — trg_fate_decide: what becomes of each event of a batch after an invocation. One line per
 * case: the outcome, the policy, the events (attempts, receive limit, age) and what must follow. The
 * random source is injected: it returns a fixed number, so the backoff is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fate.h"
#include "util.h"

#define NOW 1000000000LL
#define R TRG_FATE_RELEASE
#define T TRG_FATE_RETRY
#define D TRG_FATE_DLQ
#define EX TRG_DLQ_RETRIES_EXHAUSTED
#define AGE TRG_DLQ_AGE_EXCEEDED
#define REJ TRG_DLQ_REJECTED

static uint64_t fixed_random(void *state) { return *(uint64_t *)state; }

struct ev_case {
    int attempts, max_receives;
    int64_t age_ms;            /* how old the event is at NOW */
    enum trg_fate_verdict want;
    enum trg_dlq_condition cond;
    int want_attempts;
};

struct fate_case {
    const char *what;
    enum trg_fate_kind kind;
    bool ordered;
    int64_t max_retry, max_age_s;
    bool bisect;
    int64_t retry_after_ms;
    bool failed[6];
    size_t n;
    struct ev_case ev[6];
    size_t want_retried;
    bool want_split;
    int64_t want_delay;        /* with random 1000003 and base 100, max 100000 */
};

/* With the random source returning 1000003: the delay is 1000003 % (cap + 1). */
static const struct fate_case cases[] = {
    {"success releases all", TRG_FATE_SUCCESS, false, 2, -1, false, -1, {0}, 3,
     {{0, 0, 0, R, 0, 0}, {1, 0, 0, R, 0, 1}, {5, 0, 0, R, 0, 5}}, 0, false, 0},
    {"rejected: all to the DLQ", TRG_FATE_REJECTED, false, 2, -1, false, -1, {0}, 2,
     {{0, 0, 0, D, REJ, 0}, {0, 0, 0, D, REJ, 0}}, 0, false, 0},
    {"failure counts an attempt; cap 100 for attempt 0", TRG_FATE_FAILED, false, 2, -1, false, -1, {0}, 2,
     {{0, 0, 0, T, 0, 1}, {0, 0, 0, T, 0, 1}}, 2, false, 1000003 % 101},
    {"failure past max_retry_attempts", TRG_FATE_FAILED, false, 2, -1, false, -1, {0}, 3,
     {{2, 0, 0, D, EX, 3}, {1, 0, 0, T, 0, 2}, {0, 0, 0, T, 0, 1}}, 2, false, 1000003 % 201},
    {"unlimited attempts", TRG_FATE_FAILED, false, -1, -1, false, -1, {0}, 1, {{50, 0, 0, T, 0, 51}}, 1, false,
     1000003 % 100001},
    {"max_receives reached", TRG_FATE_FAILED, false, -1, -1, false, -1, {0}, 2,
     {{2, 3, 0, D, EX, 3}, {1, 3, 0, T, 0, 2}}, 1, false, 1000003 % 201},
    {"expired on failure; exhausted wins over expired", TRG_FATE_FAILED, false, 1, 60, false, -1, {0}, 3,
     {{0, 0, 61000, D, AGE, 1}, {1, 0, 61000, D, EX, 2}, {0, 0, 60000, T, 0, 1}}, 1, false, 1000003 % 101},
    {"bisect: first half's attempts set the delay", TRG_FATE_FAILED, false, -1, -1, true, -1, {0}, 4,
     {{0, 0, 0, T, 0, 1}, {0, 0, 0, T, 0, 1}, {3, 0, 0, T, 0, 4}, {3, 0, 0, T, 0, 4}}, 4, true, 1000003 % 101},
    {"bisect needs two events", TRG_FATE_FAILED, false, -1, -1, true, -1, {0}, 2,
     {{0, 1, 0, D, EX, 1}, {0, 0, 0, T, 0, 1}}, 1, false, 1000003 % 101},
    {"partial, unordered: only failed items retried", TRG_FATE_PARTIAL, false, 2, -1, false, -1,
     {false, true, false, true}, 4,
     {{0, 0, 0, R, 0, 0}, {0, 0, 0, T, 0, 1}, {0, 0, 0, R, 0, 0}, {2, 0, 0, D, EX, 3}}, 1, false, 1000003 % 101},
    {"partial, ordered: everything from the first failure", TRG_FATE_PARTIAL, true, 2, -1, false, -1,
     {false, true, false, false}, 4,
     {{0, 0, 0, R, 0, 0}, {0, 0, 0, T, 0, 1}, {0, 0, 0, T, 0, 1}, {0, 0, 0, T, 0, 1}}, 3, false, 1000003 % 101},
    {"throttled: no attempt counted, Retry-After wins", TRG_FATE_THROTTLED, false, 0, 60, false, 5000, {0}, 2,
     {{0, 0, 0, T, 0, 0}, {0, 0, 70000, D, AGE, 0}}, 1, false, 5000},
    {"throttled: backoff over a small Retry-After", TRG_FATE_THROTTLED, false, 0, -1, false, 1, {0}, 1,
     {{2, 0, 0, T, 0, 2}}, 1, false, 1000003 % 401},
    {"before an invocation: only expiry", TRG_FATE_BEFORE, false, 0, 1, false, -1, {0}, 3,
     {{9, 0, 1001, D, AGE, 9}, {9, 0, 1000, T, 0, 9}, {0, 0, 0, T, 0, 0}}, 2, false, 0},
    {"empty batch", TRG_FATE_FAILED, false, 2, -1, true, -1, {0}, 0, {{0}}, 0, false, 0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < TRG_ARRAY_SIZE(cases); c++) {
        const struct fate_case *fc = &cases[c];
        struct trg_fate_policy p = {fc->max_retry, fc->max_age_s, 100, 100000, fc->bisect};
        struct trg_fate_entry en[6];
        memset(en, 0, sizeof en);
        for (size_t i = 0; i < fc->n; i++) {
            en[i].attempts = fc->ev[i].attempts;
            en[i].max_receives = fc->ev[i].max_receives;
            en[i].created_ms = NOW - fc->ev[i].age_ms;
            en[i].verdict = (enum trg_fate_verdict)99;
        }
        uint64_t rnd = 1000003;
        struct trg_fate out;
        trg_fate_decide(&p, fc->kind, fc->failed, fc->ordered, fc->retry_after_ms, NOW, en, fc->n, &out,
                        fixed_random, &rnd);
        for (size_t i = 0; i < fc->n; i++) {
            if (en[i].verdict != fc->ev[i].want || en[i].attempts != fc->ev[i].want_attempts ||
                (en[i].verdict == D && en[i].cond != fc->ev[i].cond))
                fail_msg("%s: event %zu: verdict %d cond %d attempts %d, want %d %d %d", fc->what, i,
                         en[i].verdict, en[i].cond, en[i].attempts, fc->ev[i].want, fc->ev[i].cond,
                         fc->ev[i].want_attempts);
        }
        if (out.retried != fc->want_retried || out.split != fc->want_split || out.delay_ms != fc->want_delay)
            fail_msg("%s: retried %zu split %d delay %lld, want %zu %d %lld", fc->what, out.retried, out.split,
                     (long long)out.delay_ms, fc->want_retried, fc->want_split, (long long)fc->want_delay);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
