/* hold.c — events waiting for room, in order per key, the keys taking turns (see hold.h). */
#include "hold.h"

#include <string.h>

#include "event.h"
#include "list.h"
#include "util.h"

/* The events of one ordering key, oldest first: a ring of cap (a power of two) slots from head. An array
 * rather than a list through the events: taking one out reads the next slots in order, and the events
 * that come next can be asked for ahead of time (they have been out of the cache a while). */
struct trg_hold_lane {
    struct trg_map_node node;      /* in h->lanes (node.key points at key), unless it is h->unkeyed */
    struct trg_held *v;
    size_t cap, head, n;
    struct trg_hold_lane *turn_next;
    bool in_turn;
    char key[];
};

#define AHEAD 4 /* events asked for ahead of their turn */

static inline struct trg_held *slot(const struct trg_hold_lane *l, size_t i)
{
    return &l->v[(l->head + i) & (l->cap - 1)];
}

void trg_hold_init(struct trg_hold *h, size_t max_n, size_t max_bytes)
{
    *h = (struct trg_hold){.lanes = TRG_MAP_INIT, .max_n = max_n ? max_n : 1, .max_bytes = max_bytes ? max_bytes : 1};
}

static void update_full(struct trg_hold *h)
{
    if (h->n >= h->max_n || h->bytes >= h->max_bytes)
        h->full = true;
    else if (h->n <= h->max_n / 2 && h->bytes <= h->max_bytes / 2)
        h->full = false;
}

/* The lane of key (NULL: the unkeyed one), made when missing; NULL when out of memory. */
static struct trg_hold_lane *lane_of(struct trg_hold *h, const char *key)
{
    if (!key) {
        if (!h->unkeyed)
            h->unkeyed = trg_calloc(1, sizeof *h->unkeyed);
        return h->unkeyed;
    }
    /* a source emits runs of one key (a Kafka fetch is one partition's records): the lane of the last push
     * first, without hashing */
    if (h->last && strcmp(h->last->key, key) == 0)
        return h->last;
    struct trg_map_node *x = trg_map_get(&h->lanes, key);
    if (x)
        return h->last = trg_list_entry(x, struct trg_hold_lane, node);
    size_t len = strlen(key);
    struct trg_hold_lane *l = trg_calloc(1, sizeof *l + len + 1);
    if (!l)
        return NULL;
    memcpy(l->key, key, len + 1);
    l->node.key = l->key;
    if (trg_map_put(&h->lanes, &l->node) != 0) {
        trg_free(l);
        return NULL;
    }
    return h->last = l;
}

/* Room for one more slot; false: out of memory. */
static bool lane_grow(struct trg_hold_lane *l)
{
    if (l->n < l->cap)
        return true;
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct trg_held *v = trg_malloc(cap * sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < l->n; i++)
        v[i] = *slot(l, i);
    trg_free(l->v);
    l->v = v;
    l->cap = cap;
    l->head = 0;
    return true;
}

/* An empty lane is freed and leaves the map (the unkeyed one keeps its struct until trg_hold_clear). */
static void lane_release(struct trg_hold *h, struct trg_hold_lane *l)
{
    if (l->n)
        return;
    trg_free(l->v);
    l->v = NULL;
    l->cap = l->head = 0;
    if (l == h->unkeyed)
        return;
    if (h->last == l)
        h->last = NULL;
    trg_map_remove(&h->lanes, &l->node);
    trg_free(l);
}

static void turn_append(struct trg_hold *h, struct trg_hold_lane *l)
{
    l->in_turn = true;
    l->turn_next = NULL;
    if (h->turn_tail)
        h->turn_tail->turn_next = l;
    else
        h->turn_head = l;
    h->turn_tail = l;
}

static void turn_pop(struct trg_hold *h)
{
    struct trg_hold_lane *l = h->turn_head;
    h->turn_head = l->turn_next;
    if (!h->turn_head)
        h->turn_tail = NULL;
    l->turn_next = NULL;
    l->in_turn = false;
    h->turn_used = 0;
}

static void counted(struct trg_hold *h, const struct trg_held *x, bool in)
{
    if (in) {
        h->n++;
        h->bytes += x->weight;
    } else {
        h->n--;
        h->bytes -= x->weight;
    }
    update_full(h);
}

static int push(struct trg_hold *h, const char *key, const struct trg_held *x)
{
    struct trg_hold_lane *l = lane_of(h, key);
    if (!l || !lane_grow(l)) {
        if (l)
            lane_release(h, l);
        return TRG_ENOMEM;
    }
    *slot(l, l->n++) = *x;
    if (!l->in_turn)
        turn_append(h, l);
    counted(h, x, true);
    return 0;
}

int trg_hold_push(struct trg_hold *h, struct trg_event *ev)
{
    return push(h, ev->order_key, &(struct trg_held){.ev = ev, .weight = ev->len});
}

int trg_hold_push_ref(struct trg_hold *h, void *ref, const char *order_key, size_t weight)
{
    return push(h, order_key, &(struct trg_held){.ref = ref, .weight = weight});
}

int trg_hold_requeue(struct trg_hold *h, struct trg_event *ev)
{
    struct trg_hold_lane *l = lane_of(h, ev->order_key);
    if (!l || !lane_grow(l)) {
        if (l)
            lane_release(h, l);
        return TRG_ENOMEM;
    }
    /* behind the events put back before it that came first: those have a seq (they were handed on once),
     * the events never handed on have none */
    size_t at = 0;
    while (at < l->n && slot(l, at)->ev && slot(l, at)->ev->seq && slot(l, at)->ev->seq < ev->seq)
        at++;
    l->head = (l->head - 1) & (l->cap - 1);
    l->n++;
    for (size_t i = 0; i < at; i++)
        *slot(l, i) = *slot(l, i + 1);
    *slot(l, at) = (struct trg_held){.ev = ev, .weight = ev->len};
    if (!l->in_turn) { /* its turn first */
        l->in_turn = true;
        l->turn_next = h->turn_head;
        h->turn_head = l;
        if (!h->turn_tail)
            h->turn_tail = l;
        h->turn_used = 0;
    }
    counted(h, slot(l, at), true);
    return 0;
}

bool trg_hold_pop(struct trg_hold *h, struct trg_held *out)
{
    struct trg_hold_lane *l = h->turn_head;
    if (!l)
        return false;
    *out = *slot(l, 0);
    l->head = (l->head + 1) & (l->cap - 1);
    l->n--;
    /* the next event's key is compared as soon as it is handed on; the header of the one AHEAD later */
    if (l->n > 0 && slot(l, 0)->ev && slot(l, 0)->ev->order_key)
        __builtin_prefetch(slot(l, 0)->ev->order_key);
    if (l->n > AHEAD) { /* or the start of the record a reference points at */
        const struct trg_held *x = slot(l, AHEAD);
        __builtin_prefetch(x->ev ? (const void *)x->ev : x->ref);
    }
    counted(h, out, false);
    if (l->n == 0) {
        turn_pop(h);
        lane_release(h, l);
    } else if (++h->turn_used >= TRG_HOLD_TURN) {
        turn_pop(h);
        turn_append(h, l);
    }
    return true;
}

size_t trg_hold_take(struct trg_hold *h, bool (*match)(const struct trg_held *x, void *arg),
                     void (*drop)(const struct trg_held *x, void *arg), void *arg)
{
    size_t taken = 0;
    struct trg_hold_lane *l = h->turn_head, *prev = NULL;
    while (l) {
        size_t kept = 0, n = l->n;
        for (size_t i = 0; i < n; i++) { /* keep the others in order, from the head on */
            struct trg_held x = *slot(l, i);
            if (match && !match(&x, arg)) {
                *slot(l, kept++) = x;
                continue;
            }
            counted(h, &x, false);
            drop(&x, arg);
            taken++;
        }
        l->n = kept;
        struct trg_hold_lane *next = l->turn_next;
        if (!l->n) { /* out of the turn */
            if (prev)
                prev->turn_next = next;
            else
                h->turn_head = next;
            if (h->turn_tail == l)
                h->turn_tail = prev;
            if (!prev) /* it was the head: the next lane's turn starts afresh */
                h->turn_used = 0;
            l->turn_next = NULL;
            l->in_turn = false;
            lane_release(h, l);
        } else {
            prev = l;
        }
        l = next;
    }
    return taken;
}

void trg_hold_clear(struct trg_hold *h)
{
    if (h->unkeyed)
        trg_free(h->unkeyed->v);
    trg_free(h->unkeyed);
    h->unkeyed = NULL;
    h->last = NULL;
    trg_map_clear(&h->lanes);
    h->turn_head = h->turn_tail = NULL;
}
