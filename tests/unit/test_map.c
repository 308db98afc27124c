/* test_map.c — the intrusive string-keyed hash table: many keys in, found, removed in any order, the
 * buckets growing as it fills, and a failed first allocation or a failed resize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "map.h"
#include "util.h"

#define N 5000

struct item {
    struct trg_map_node node;
    char key[32];
};

static struct item items[N];

static void fill(struct trg_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(items[i].key, sizeof items[i].key, "key-%zu", i);
        items[i].node.key = items[i].key;
        assert_int_equal(trg_map_put(m, &items[i].node), 0);
    }
}

static void test_put_get_remove(void **state)
{
    (void)state;
    struct trg_map m = TRG_MAP_INIT;
    assert_null(trg_map_get(&m, "key-0")); /* empty: no buckets yet */
    fill(&m, N);
    assert_int_equal(m.n, N);
    assert_true(m.n_buckets >= N / 2); /* it grew: chains stay short */
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(trg_map_get(&m, items[i].key), &items[i].node);
    assert_null(trg_map_get(&m, "key-5000"));
    assert_null(trg_map_get(&m, ""));
    for (size_t i = 0; i < N; i += 2) /* every other one, from the front */
        trg_map_remove(&m, &items[i].node);
    assert_int_equal(m.n, N / 2);
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(trg_map_get(&m, items[i].key), i % 2 ? &items[i].node : NULL);
    for (size_t i = N; i-- > 0;) /* the rest, from the back */
        if (i % 2)
            trg_map_remove(&m, &items[i].node);
    assert_int_equal(m.n, 0);
    assert_null(trg_map_get(&m, "key-1"));
    items[0].node.key = "again"; /* reusable after emptying */
    assert_int_equal(trg_map_put(&m, &items[0].node), 0);
    assert_ptr_equal(trg_map_get(&m, "again"), &items[0].node);
    trg_map_clear(&m);
    assert_null(trg_map_get(&m, "again"));
    assert_int_equal(m.n_buckets, 0);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct trg_map m = TRG_MAP_INIT;
    items[0].node.key = "first";
    trg_alloc_fail_after(0);
    assert_int_equal(trg_map_put(&m, &items[0].node), TRG_ENOMEM);
    trg_alloc_fail_after(1); /* the buckets, then every resize fails */
    fill(&m, 100);
    trg_alloc_fail_after(-1);
    assert_int_equal(m.n_buckets, 16);
    for (size_t i = 0; i < 100; i++)
        assert_ptr_equal(trg_map_get(&m, items[i].key), &items[i].node);
    trg_map_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_remove),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
