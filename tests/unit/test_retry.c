/* test_retry.c — capped exponential backoff with full jitter, the throttle delay, and xorshift64*.
 * The random source is injected: a fixed value, or a value computed from the expected cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "retry.h"
#include "util.h"

struct fixed {
    uint64_t value;
    int calls;
};

static uint64_t fixed_rand(void *state)
{
    struct fixed *f = state;
    f->calls++;
    return f->value;
}

/* min(max, base * 2^attempt) without overflow; attempt < 0 counts as 0. */
static int64_t expected_cap(int attempt, int64_t base, int64_t max)
{
    if (attempt < 0)
        attempt = 0;
    int64_t cap = base;
    for (int i = 0; i < attempt; i++) {
        if (cap >= max || cap > INT64_MAX / 2) {
            cap = max;
            break;
        }
        cap *= 2;
    }
    return cap < max ? cap : max;
}

struct bcase {
    int64_t base, max;
};

static const struct bcase bounds_cases[] = {
    {1, 1},
    {1, 2},
    {100, 300000},
    {1000, 300000},   /* the route defaults */
    {1000, 86400000}, /* the largest retry_max_ms the config allows */
    {3600000, 86400000},
    {7, 1000}, /* the cap is not a power-of-two multiple of base */
    {1, INT64_MAX / 4},
};

/* For every attempt 0..70: rand 0 gives 0, rand == cap gives exactly the cap (inclusive), rand == cap + 1
 * wraps to 0, rand UINT64_MAX stays in [0, cap]. */
static void test_backoff_bounds(void **state)
{
    (void)state;
    for (size_t c = 0; c < TRG_ARRAY_SIZE(bounds_cases); c++) {
        int64_t base = bounds_cases[c].base, max = bounds_cases[c].max;
        for (int attempt = 0; attempt <= 70; attempt++) {
            int64_t cap = expected_cap(attempt, base, max);
            struct fixed f = {0, 0};
            assert_int_equal(trg_backoff_ms(attempt, base, max, fixed_rand, &f), 0);
            assert_int_equal(f.calls, 1);
            f.value = (uint64_t)cap;
            int64_t d = trg_backoff_ms(attempt, base, max, fixed_rand, &f);
            if (d != cap)
                fail_msg("base %lld max %lld attempt %d: rand=cap gave %lld, want %lld", (long long)base,
                         (long long)max, attempt, (long long)d, (long long)cap);
            f.value = (uint64_t)cap + 1;
            assert_int_equal(trg_backoff_ms(attempt, base, max, fixed_rand, &f), 0);
            f.value = UINT64_MAX;
            d = trg_backoff_ms(attempt, base, max, fixed_rand, &f);
            assert_true(d >= 0 && d <= cap);
            assert_int_equal(d, (int64_t)(UINT64_MAX % ((uint64_t)cap + 1)));
        }
    }
}

struct vcase {
    int attempt;
    int64_t base, max;
    uint64_t rnd;
    int64_t want;
};

static const struct vcase value_cases[] = {
    /* cap = base * 2^attempt below max */
    {0, 1000, 300000, 999, 999},
    {0, 1000, 300000, 1000, 1000},
    {0, 1000, 300000, 1001, 0},
    {1, 1000, 300000, 2000, 2000},
    {2, 1000, 300000, 4001, 0},
    {8, 1000, 300000, 256000, 256000},
    /* cap reached: 1000 * 2^9 = 512000 > 300000 */
    {9, 1000, 300000, 300000, 300000},
    {9, 1000, 300000, 300001, 0},
    {40, 1000, 300000, 300000, 300000},
    {INT32_MAX, 1000, 300000, 300000, 300000},
    /* a negative attempt counts as the first retry */
    {-1, 1000, 300000, 1000, 1000},
    {-1, 1000, 300000, 1001, 0},
    {INT32_MIN, 1000, 300000, 1000, 1000},
    /* base > max is outside the contract (max_ms >= base_ms): max is raised to base */
    {0, 5000, 1000, 5000, 5000},
    {5, 5000, 1000, 5000, 5000},
    {5, 5000, 1000, 5001, 0},
    /* base < 1 counts as 1 */
    {0, 0, 100, 1, 1},
    {3, 0, 100, 8, 8},
    {3, -5, 100, 9, 0},
    /* rand UINT64_MAX: 2^64-1 mod (cap+1) */
    {0, 1000, 300000, UINT64_MAX, (int64_t)(UINT64_MAX % 1001)},
    {20, 1000, 300000, UINT64_MAX, (int64_t)(UINT64_MAX % 300001)},
};

static void test_backoff_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(value_cases); i++) {
        const struct vcase *c = &value_cases[i];
        struct fixed f = {c->rnd, 0};
        int64_t d = trg_backoff_ms(c->attempt, c->base, c->max, fixed_rand, &f);
        if (d != c->want)
            fail_msg("case %zu: got %lld, want %lld", i, (long long)d, (long long)c->want);
    }
}

/* Was a bug (fixed): src/retry.c:14 — with max_ms near INT64_MAX the doubling `cap *= 2` overflows a signed int64
 * (undefined behaviour; UBSan: "signed integer overflow: 4611686018427387904 * 2", base 1, max INT64_MAX,
 * attempt 63), and src/retry.c:17 `cap + 1` overflows when cap == INT64_MAX (base = max = INT64_MAX).
 * Not reachable from the config (retry_max_ms <= 86400000), but trg_backoff_ms is documented as a pure
 * function with no upper limit on max_ms. */
static void test_backoff_huge_max(void **state)
{
    (void)state;
    /* fixed: the test runs */
    struct fixed f = {UINT64_MAX, 0};
    for (int attempt = 0; attempt <= 70; attempt++) {
        int64_t d = trg_backoff_ms(attempt, 1, INT64_MAX, fixed_rand, &f);
        assert_true(d >= 0);
        d = trg_backoff_ms(attempt, INT64_MAX, INT64_MAX, fixed_rand, &f);
        assert_true(d >= 0);
    }
    f.value = (uint64_t)INT64_MAX;
    assert_int_equal(trg_backoff_ms(70, 1, INT64_MAX, fixed_rand, &f), INT64_MAX);
}

struct tcase {
    int attempt;
    int64_t retry_after, base, max;
    uint64_t rnd;
    int64_t want;
};

static const struct tcase throttle_cases[] = {
    /* no Retry-After: the backoff */
    {0, -1, 1000, 300000, 700, 700},
    {3, -1, 1000, 300000, 8000, 8000},
    {30, -1, 1000, 300000, 300000, 300000},
    /* Retry-After larger than the backoff wins */
    {0, 5000, 1000, 300000, 700, 5000},
    {0, 0, 1000, 300000, 700, 700},
    /* the backoff larger than Retry-After wins */
    {5, 1000, 1000, 300000, 20000, 20000},
    /* Retry-After is capped at max */
    {0, 300001, 1000, 300000, 0, 300000},
    {0, INT64_MAX, 1000, 300000, 0, 300000},
    /* base > max (outside the contract): the result is still capped at max */
    {0, -1, 5000, 1000, 5000, 1000},
};

static void test_throttle(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(throttle_cases); i++) {
        const struct tcase *c = &throttle_cases[i];
        struct fixed f = {c->rnd, 0};
        int64_t d = trg_throttle_delay_ms(c->attempt, c->retry_after, c->base, c->max, fixed_rand, &f);
        if (d != c->want)
            fail_msg("case %zu: got %lld, want %lld", i, (long long)d, (long long)c->want);
        assert_int_equal(f.calls, 1);
    }
}

/* Known values of xorshift64* from seed 1 (computed independently). */
static void test_xorshift_vectors(void **state)
{
    (void)state;
    uint64_t s = 1;
    assert_true(trg_rand_xorshift(&s) == 0x47e4ce4b896cdd1dULL);
    assert_true(trg_rand_xorshift(&s) == 0xabcfa6a8e079651dULL);
    assert_true(trg_rand_xorshift(&s) == 0xb9d10d8feb731f57ULL);
}

static void test_xorshift_deterministic_nonzero(void **state)
{
    (void)state;
    uint64_t a = 0x9e3779b97f4a7c15ULL, b = a;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = trg_rand_xorshift(&a), y = trg_rand_xorshift(&b);
        assert_true(x == y);
        assert_true(x != 0);
        assert_true(a != 0); /* the state never falls to zero */
    }
    /* different seeds, different streams */
    uint64_t c = 2, d = 3;
    assert_true(trg_rand_xorshift(&c) != trg_rand_xorshift(&d));
}

/* With the real generator, jitter stays in bounds and spreads over the range. */
static void test_backoff_with_xorshift(void **state)
{
    (void)state;
    uint64_t s = 42;
    int64_t lo = INT64_MAX, hi = -1;
    for (int i = 0; i < 10000; i++) {
        int64_t d = trg_backoff_ms(3, 1000, 300000, trg_rand_xorshift, &s);
        assert_true(d >= 0 && d <= 8000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 200);
    assert_true(hi > 7800);
}

/* Reconnects: equal jitter, [cap/2, cap] with the same cap as the backoff (MQTT's and MinIO's listen
 * stream's), never 0 once the cap is 2 or more. */
static void test_reconnect_delay(void **state)
{
    (void)state;
    for (uint64_t r = 0; r < 1000; r += 37) {
        struct fixed f = {r, 0};
        int64_t d0 = trg_reconnect_delay_ms(0, 500, 30000, fixed_rand, &f);
        int64_t d3 = trg_reconnect_delay_ms(3, 500, 30000, fixed_rand, &f);
        int64_t d99 = trg_reconnect_delay_ms(99, 500, 30000, fixed_rand, &f);
        assert_true(d0 >= 250 && d0 <= 500);
        assert_true(d3 >= 2000 && d3 <= 4000);
        assert_true(d99 >= 15000 && d99 <= 30000);
    }
    struct fixed lo = {0, 0}, hi = {UINT64_MAX, 0};
    assert_int_equal(trg_reconnect_delay_ms(2, 100, 1000, fixed_rand, &lo), 200);
    assert_int_equal(trg_reconnect_delay_ms(2, 100, 1000, fixed_rand, &hi), 200 + (int64_t)(UINT64_MAX % 201));
    assert_int_equal(trg_reconnect_delay_ms(5, 1, 1, fixed_rand, &hi), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),        cmocka_unit_test(test_backoff_values),
        cmocka_unit_test(test_backoff_huge_max),      cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_xorshift_vectors),      cmocka_unit_test(test_xorshift_deterministic_nonzero),
        cmocka_unit_test(test_backoff_with_xorshift),
        cmocka_unit_test(test_reconnect_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
