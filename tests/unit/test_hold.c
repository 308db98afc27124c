/* test_hold.c — the engine's hold of a source's events (src/hold.c): order within a key, keys taking turns,
 * references to records held in order with the events, the bounds with their half-way release, putting an
 * event back at the head of its key, taking things out by a match, and a lane that cannot be allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "hold.h"
#include "util.h"

static struct trg_event *ev_new(const char *key, int n)
{
    char json[32];
    snprintf(json, sizeof json, "%d", n);
    struct trg_event *ev = trg_event_new_packed(json, strlen(json), NULL, key, 0);
    assert_non_null(ev);
    return ev;
}

static int num(const struct trg_event *ev) { return atoi(ev->json); }

/* Pop one event (it must be one). */
static struct trg_event *pop(struct trg_hold *h)
{
    struct trg_held x;
    assert_true(trg_hold_pop(h, &x));
    assert_non_null(x.ev);
    assert_null(x.ref);
    return x.ev;
}

/* Pop one event, check its key and number, free it. */
static void expect(struct trg_hold *h, const char *key, int n)
{
    struct trg_event *ev = pop(h);
    if (key)
        assert_string_equal(ev->order_key, key);
    else
        assert_null(ev->order_key);
    assert_int_equal(num(ev), n);
    trg_event_free(ev);
}

/* Each key keeps its order; the keys take turns of TRG_HOLD_TURN events, in the order they first came. */
static void test_order_and_turns(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 1000000, 1 << 30);
    for (int i = 0; i < TRG_HOLD_TURN + 50; i++)
        assert_int_equal(trg_hold_push(&h, ev_new("a", i)), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(trg_hold_push(&h, ev_new("b", i)), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(trg_hold_push(&h, ev_new(NULL, i)), 0);
    assert_int_equal(h.n, TRG_HOLD_TURN + 63);
    for (int i = 0; i < TRG_HOLD_TURN; i++)
        expect(&h, "a", i);
    for (int i = 0; i < 10; i++) /* b's whole turn */
        expect(&h, "b", i);
    for (int i = 0; i < 3; i++)
        expect(&h, NULL, i);
    for (int i = TRG_HOLD_TURN; i < TRG_HOLD_TURN + 50; i++)
        expect(&h, "a", i);
    assert_false(trg_hold_pop(&h, &(struct trg_held){0}));
    assert_int_equal(h.n, 0);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(h.lanes.n, 0); /* empty lanes are freed */
    trg_hold_clear(&h);
}

/* Full at either bound; not full again until both are back at half. */
static void test_bounds(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 4, 1 << 30);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(trg_hold_push(&h, ev_new("k", i)), 0);
        assert_false(trg_hold_full(&h));
    }
    assert_int_equal(trg_hold_push(&h, ev_new("k", 3)), 0);
    assert_true(trg_hold_full(&h));
    assert_int_equal(trg_hold_push(&h, ev_new("k", 4)), 0); /* a bound, not a cap */
    expect(&h, "k", 0);
    expect(&h, "k", 1);
    assert_true(trg_hold_full(&h)); /* 3 left: above half */
    expect(&h, "k", 2);
    assert_false(trg_hold_full(&h)); /* 2 left: half */
    expect(&h, "k", 3);
    expect(&h, "k", 4);
    trg_hold_clear(&h);

    /* bytes: each event here is 1 byte of JSON ("0".."9") */
    trg_hold_init(&h, 1000, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(trg_hold_push(&h, ev_new(NULL, i)), 0);
    assert_true(trg_hold_full(&h));
    assert_int_equal(h.bytes, 4);
    expect(&h, NULL, 0);
    assert_true(trg_hold_full(&h));
    expect(&h, NULL, 1);
    assert_false(trg_hold_full(&h));
    expect(&h, NULL, 2);
    expect(&h, NULL, 3);
    trg_hold_clear(&h);
}

/* Events taken out and handed on (given a seq) that come back go first in their key, in seq order, and
 * their key's turn comes first. */
static void test_requeue(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 100, 1 << 30);
    for (int i = 0; i < 4; i++)
        assert_int_equal(trg_hold_push(&h, ev_new("a", i)), 0);
    assert_int_equal(trg_hold_push(&h, ev_new("b", 0)), 0);
    struct trg_event *a0 = pop(&h), *a1 = pop(&h);
    a0->seq = 10;
    a1->seq = 11;
    /* their appends fail in order: a0 first, then a1 */
    assert_int_equal(trg_hold_requeue(&h, a0), 0);
    assert_int_equal(trg_hold_requeue(&h, a1), 0);
    expect(&h, "a", 0);
    expect(&h, "a", 1);
    expect(&h, "a", 2);

    /* a key with nothing held any more: its lane comes back at the head of the turn */
    struct trg_event *a3 = pop(&h); /* the turn is a's until it runs out */
    assert_int_equal(num(a3), 3);
    a3->seq = 20;
    struct trg_event *b = pop(&h);
    assert_string_equal(b->order_key, "b");
    b->seq = 21;
    assert_int_equal(trg_hold_push(&h, ev_new("c", 0)), 0);
    assert_int_equal(trg_hold_requeue(&h, b), 0);
    assert_int_equal(trg_hold_requeue(&h, a3), 0);
    expect(&h, "a", 3);
    expect(&h, "b", 0);
    expect(&h, "c", 0);
    assert_false(trg_hold_pop(&h, &(struct trg_held){0}));
    trg_hold_clear(&h);
}

/* What trg_hold_take hands over: the events of key (all when NULL), their numbers in order, freed. */
struct taken {
    const char *key;
    int n[16];
    size_t count;
};

static bool is_key(const struct trg_held *x, void *arg)
{
    const struct taken *t = arg;
    return x->ev && x->ev->order_key && !strcmp(x->ev->order_key, t->key);
}

static void take_one(const struct trg_held *x, void *arg)
{
    struct taken *t = arg;
    assert_non_null(x->ev);
    assert_true(t->count < 16);
    t->n[t->count++] = num(x->ev);
    trg_event_free(x->ev);
}

/* Taking out by a match leaves the rest in order and in turn; NULL takes everything. */
static void test_take(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 100, 1 << 30);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(trg_hold_push(&h, ev_new("a", i)), 0);
        assert_int_equal(trg_hold_push(&h, ev_new("b", i)), 0);
        assert_int_equal(trg_hold_push(&h, ev_new("c", i)), 0);
    }
    expect(&h, "a", 0); /* a's turn has begun */
    struct taken ta = {.key = "a"};
    assert_int_equal(trg_hold_take(&h, is_key, take_one, &ta), 2);
    assert_int_equal(ta.n[0], 1);
    assert_int_equal(ta.n[1], 2);
    assert_int_equal(h.n, 6);
    expect(&h, "b", 0);
    struct taken tb = {.key = "b"};
    assert_int_equal(trg_hold_take(&h, is_key, take_one, &tb), 2);
    expect(&h, "c", 0);
    assert_int_equal(trg_hold_push(&h, ev_new("a", 9)), 0);
    struct taken all = {0};
    assert_int_equal(trg_hold_take(&h, NULL, take_one, &all), 3);
    assert_int_equal(h.n, 0);
    assert_int_equal(h.bytes, 0);
    assert_null(h.turn_head);
    assert_false(trg_hold_pop(&h, &(struct trg_held){0}));
    trg_hold_clear(&h);
}

/* References are held in order with the events of their key, weigh what they were given, and come out as
 * references. */
static void test_refs(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 100, 10);
    int r1, r2;
    assert_int_equal(trg_hold_push(&h, ev_new("p", 0)), 0);
    assert_int_equal(trg_hold_push_ref(&h, &r1, "p", 4), 0);
    assert_int_equal(trg_hold_push_ref(&h, &r2, "p", 5), 0);
    assert_int_equal(h.bytes, 1 + 4 + 5);
    assert_true(trg_hold_full(&h)); /* 10 bytes */
    expect(&h, "p", 0);
    struct trg_held x;
    assert_true(trg_hold_pop(&h, &x));
    assert_null(x.ev);
    assert_ptr_equal(x.ref, &r1);
    assert_int_equal(x.weight, 4);
    assert_false(trg_hold_full(&h)); /* 5 bytes: half */
    assert_true(trg_hold_pop(&h, &x));
    assert_ptr_equal(x.ref, &r2);
    assert_int_equal(h.bytes, 0);
    trg_hold_clear(&h);
}

/* A new key's lane cannot be allocated: the event is not held, nothing else changes. */
static void test_no_memory(void **state)
{
    (void)state;
    struct trg_hold h;
    trg_hold_init(&h, 100, 1 << 30);
    struct trg_event *ev = ev_new("a", 0);
    trg_alloc_fail_after(0);
    assert_int_equal(trg_hold_push(&h, ev), TRG_ENOMEM);
    trg_alloc_fail_after(-1);
    assert_int_equal(h.n, 0);
    assert_false(trg_hold_pop(&h, &(struct trg_held){0}));
    assert_int_equal(trg_hold_push(&h, ev), 0);
    expect(&h, "a", 0);
    trg_hold_clear(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_turns), cmocka_unit_test(test_bounds), cmocka_unit_test(test_requeue),
        cmocka_unit_test(test_take),            cmocka_unit_test(test_refs),
        cmocka_unit_test(test_no_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
