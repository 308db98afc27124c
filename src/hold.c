/* hold.c — events waiting for room, in order per key, the keys taking turns (see hold.h). */
#include "hold.h"

#include <string.h>

#include "event.h"
#include "list.h"
#include "util.h"

/* The events of one ordering key, oldest first. */
struct trg_hold_lane {
    struct trg_map_node node;      /* in h->lanes (node.key points at key), unless it is h->unkeyed */
    struct trg_event *head, *tail;
    struct trg_hold_lane *turn_next;
    bool in_turn;
    char key[];
};

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
    struct trg_map_node *x = trg_map_get(&h->lanes, key);
    if (x)
        return trg_list_entry(x, struct trg_hold_lane, node);
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
    return l;
}

/* An empty lane leaves the map (the unkeyed one stays until trg_hold_clear). */
static void lane_release(struct trg_hold *h, struct trg_hold_lane *l)
{
    if (l->head || l == h->unkeyed)
        return;
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

int trg_hold_push(struct trg_hold *h, struct trg_event *ev)
{
    struct trg_hold_lane *l = lane_of(h, ev->order_key);
    if (!l)
        return TRG_ENOMEM;
    ev->next = NULL;
    if (l->tail)
        l->tail->next = ev;
    else
        l->head = ev;
    l->tail = ev;
    if (!l->in_turn)
        turn_append(h, l);
    h->n++;
    h->bytes += ev->len;
    update_full(h);
    return 0;
}

int trg_hold_requeue(struct trg_hold *h, struct trg_event *ev)
{
    struct trg_hold_lane *l = lane_of(h, ev->order_key);
    if (!l)
        return TRG_ENOMEM;
    /* behind the events put back before it that came first: those have a seq (they were handed on once),
     * the events never handed on have none */
    struct trg_event **pp = &l->head;
    while (*pp && (*pp)->seq && (*pp)->seq < ev->seq)
        pp = &(*pp)->next;
    ev->next = *pp;
    *pp = ev;
    if (!ev->next)
        l->tail = ev;
    if (!l->in_turn) { /* its turn first */
        l->in_turn = true;
        l->turn_next = h->turn_head;
        h->turn_head = l;
        if (!h->turn_tail)
            h->turn_tail = l;
        h->turn_used = 0;
    }
    h->n++;
    h->bytes += ev->len;
    update_full(h);
    return 0;
}

struct trg_event *trg_hold_pop(struct trg_hold *h)
{
    struct trg_hold_lane *l = h->turn_head;
    if (!l)
        return NULL;
    struct trg_event *ev = l->head;
    l->head = ev->next;
    if (!l->head)
        l->tail = NULL;
    ev->next = NULL;
    h->n--;
    h->bytes -= ev->len;
    if (!l->head) {
        turn_pop(h);
        lane_release(h, l);
    } else if (++h->turn_used >= TRG_HOLD_TURN) {
        turn_pop(h);
        turn_append(h, l);
    }
    update_full(h);
    return ev;
}

struct trg_event *trg_hold_take(struct trg_hold *h, bool (*match)(const struct trg_event *ev, void *arg), void *arg)
{
    struct trg_event *out = NULL, **out_tail = &out;
    struct trg_hold_lane *l = h->turn_head, *prev = NULL;
    while (l) {
        struct trg_event **pp = &l->head, *last = NULL;
        while (*pp) {
            struct trg_event *ev = *pp;
            if (match && !match(ev, arg)) {
                last = ev;
                pp = &ev->next;
                continue;
            }
            *pp = ev->next;
            ev->next = NULL;
            *out_tail = ev;
            out_tail = &ev->next;
            h->n--;
            h->bytes -= ev->len;
        }
        l->tail = last;
        struct trg_hold_lane *next = l->turn_next;
        if (!l->head) { /* out of the turn */
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
    update_full(h);
    return out;
}

void trg_hold_clear(struct trg_hold *h)
{
    trg_free(h->unkeyed);
    h->unkeyed = NULL;
    trg_map_clear(&h->lanes);
    h->turn_head = h->turn_tail = NULL;
}
