/* test_route.c — the pure batch-cutting decisions: trg_lane_ready (size, bytes, window, draining) and
 * trg_lane_fits, through lane_take below (batch_size, max_batch_bytes with one separator byte per record,
 * oversize events).
 * Tables first: one line per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route.h"
#include "util.h"

struct rcase {
    const char *name;
    size_t n, bytes;
    int64_t first_ms, now_ms, batch_size, max_bytes, window_ms;
    bool draining;
    bool want;
};

static const struct rcase ready_cases[] = {
    /* zero events: never ready, whatever else holds */
    {"empty", 0, 0, 0, 0, 10, 1000, 0, false, false},
    {"empty, draining", 0, 0, 0, 0, 10, 1000, 0, true, false},
    {"empty, window long past", 0, 0, 0, 1000000, 10, 1000, 100, false, false},
    {"empty, bytes over", 0, 5000, 0, 0, 10, 1000, 100, false, false},
    /* window 0: any event is ready at once */
    {"window 0", 1, 10, 500, 500, 10, 1000, 0, false, true},
    /* size trigger */
    {"below size", 9, 90, 0, 0, 10, 1000, 100, false, false},
    {"size reached", 10, 100, 0, 0, 10, 1000, 100, false, true},
    {"size exceeded", 25, 250, 0, 0, 10, 1000, 100, false, true},
    {"batch_size 1", 1, 10, 0, 0, 1, 1000, 100, false, true},
    /* bytes trigger (lane bytes, without separators) */
    {"below bytes", 3, 999, 0, 0, 10, 1000, 100, false, false},
    {"bytes reached", 3, 1000, 0, 0, 10, 1000, 100, false, true},
    {"bytes exceeded", 1, 5000, 0, 0, 10, 1000, 100, false, true},
    /* window trigger, exactly at the boundary */
    {"window: 1 ms before", 1, 10, 1000, 1099, 10, 1000, 100, false, false},
    {"window: exactly at the end", 1, 10, 1000, 1100, 10, 1000, 100, false, true},
    {"window: after the end", 1, 10, 1000, 1101, 10, 1000, 100, false, true},
    {"window: clock at first", 1, 10, 1000, 1000, 10, 1000, 100, false, false},
    {"window: max 300 s", 2, 20, 0, 299999, 10, 1000, 300000, false, false},
    {"window: max 300 s, end", 2, 20, 0, 300000, 10, 1000, 300000, false, true},
    {"window: negative clocks", 1, 10, -5000, -4900, 10, 1000, 100, false, true},
    /* draining cuts whatever is queued */
    {"draining", 1, 10, 1000, 1000, 10, 1000, 100, true, true},
    {"draining, long window", 1, 1, 0, 0, 10000, 6291456, 300000, true, true},
};

static void test_ready_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(ready_cases); i++) {
        const struct rcase *c = &ready_cases[i];
        bool got = trg_lane_ready(c->n, c->bytes, c->first_ms, c->now_ms, c->batch_size, c->max_bytes,
                                  c->window_ms, c->draining);
        if (got != c->want)
            fail_msg("%s: got %d, want %d", c->name, got, c->want);
    }
}

#define MAXLENS 16

/* How many of the queued events (lens[i] bytes each) go into the next batch: cut_batch's loop over a
 * lane's queue, on an array. */
static size_t lane_take(const size_t *lens, size_t n, int64_t batch_size, int64_t max_batch_bytes)
{
    size_t take = 0, bytes = 0;
    while (take < n && trg_lane_fits(take, bytes, lens[take], batch_size, max_batch_bytes))
        bytes += lens[take++] + 1;
    return take;
}

struct tcase {
    const char *name;
    size_t lens[MAXLENS];
    size_t n;
    int64_t batch_size, max_bytes;
    size_t want;
};

static const struct tcase take_cases[] = {
    {"zero events", {0}, 0, 10, 1000, 0},
    {"one event", {10}, 1, 10, 1000, 1},
    {"n below batch_size", {10, 10, 10}, 3, 10, 1000, 3},
    {"batch_size cuts", {1, 1, 1, 1, 1, 1}, 6, 4, 1000, 4},
    {"batch_size 1", {1, 1, 1}, 3, 1, 1000, 1},
    {"batch_size equals n", {5, 5, 5, 5}, 4, 4, 1000, 4},
    /* each record costs len + 1: three of 10 bytes need 33 */
    {"bytes: exactly fits with separators", {10, 10, 10}, 3, 10, 33, 3},
    {"bytes: one byte short", {10, 10, 10}, 3, 10, 32, 2},
    {"bytes: two fit in 22", {10, 10, 10}, 3, 10, 22, 2},
    {"bytes: two need 22, not 21", {10, 10, 10}, 3, 10, 21, 1},
    {"bytes: empty records cost 1", {0, 0, 0, 0, 0}, 5, 10, 3, 3},
    /* an oversize event is returned alone, first or later */
    {"oversize first", {5000, 1, 1}, 3, 10, 1000, 1},
    {"oversize only", {5000}, 1, 10, 1000, 1},
    {"oversize second", {10, 5000, 1}, 3, 10, 1000, 1},
    {"first exactly max", {1000, 1}, 2, 10, 1000, 1},
    {"first max-1 then empty", {999, 0}, 2, 10, 1001, 2},
    /* a small record after a large one that would not fit stops the batch (order is kept) */
    {"no skipping", {10, 990, 1, 1}, 4, 10, 1000, 1},
    {"both limits: size first", {1, 1, 1, 1}, 4, 2, 1000, 2},
    {"both limits: bytes first", {100, 100, 100, 100}, 4, 3, 250, 2},
    {"6 MB cap", {3145728, 3145726, 1}, 3, 10, 6291456, 2},
    {"6 MB cap, one byte over", {3145728, 3145727}, 2, 10, 6291456, 1},
};

static void test_take_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(take_cases); i++) {
        const struct tcase *c = &take_cases[i];
        size_t got = lane_take(c->lens, c->n, c->batch_size, c->max_bytes);
        if (got != c->want)
            fail_msg("%s: got %zu, want %zu", c->name, got, c->want);
    }
}

/* Properties over many shapes: the take is 1..min(n, batch_size), fits in max_batch_bytes (with separators)
 * unless it is a single event, and one more event would not fit or not be allowed. */
static void test_take_properties(void **state)
{
    (void)state;
    size_t lens[64];
    uint32_t x = 7;
    for (int round = 0; round < 5000; round++) {
        size_t n = (size_t)(round % 64);
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            lens[i] = (x >> 8) % 300;
        }
        int64_t batch_size = 1 + round % 20;
        int64_t max_bytes = 1 + (int64_t)((x >> 4) % 2000);
        size_t take = lane_take(lens, n, batch_size, max_bytes);
        if (n == 0) {
            assert_int_equal(take, 0);
            continue;
        }
        assert_true(take >= 1);
        assert_true(take <= n);
        assert_true(take <= (size_t)batch_size);
        size_t bytes = 0;
        for (size_t i = 0; i < take; i++)
            bytes += lens[i] + 1;
        if (take > 1)
            assert_true(bytes <= (size_t)max_bytes);
        if (take < n && take < (size_t)batch_size)
            assert_true(bytes + lens[take] + 1 > (size_t)max_bytes);
    }
}

/* trg_lane_fits, the step cut_batch takes per entry: the first always fits; then the count and the
 * bytes (each record with its separator) decide. */
static void test_fits(void **state)
{
    (void)state;
    assert_true(trg_lane_fits(0, 0, 5000, 10, 1000));   /* oversize first: alone */
    assert_true(trg_lane_fits(0, 0, 1, 1, 1000));
    assert_false(trg_lane_fits(1, 2, 1, 1, 1000));      /* batch_size reached */
    assert_true(trg_lane_fits(2, 22, 10, 10, 33));      /* 22 + 11 = 33: fits exactly */
    assert_false(trg_lane_fits(2, 22, 10, 10, 32));     /* one byte short */
    assert_false(trg_lane_fits(1, 11, 5000, 10, 1000)); /* oversize later: starts the next batch */
    assert_true(trg_lane_fits(3, 3, 0, 10, 4));         /* an empty record costs its separator */
    assert_false(trg_lane_fits(4, 4, 0, 10, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_table),
        cmocka_unit_test(test_take_table),
        cmocka_unit_test(test_take_properties),
        cmocka_unit_test(test_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
