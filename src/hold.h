/* hold.h — the events the engine took from a source but could not hand on yet (a route was full, its DLQ
 * blocked, or Redis down for a durable intake), waiting in arrival order for room. Engine-internal;
 * source.c owns one per source that asked for it (trg_source_set_hold, connectors/connector.h).
 *
 * Events keep their order within an ordering key (ev->order_key; the events without one share a lane),
 * and the keys take turns of TRG_HOLD_TURN events, so that every key's route lane gets work as room comes
 * (one Kafka fetch brings thousands of records of one partition at once). The hold counts its events and
 * their JSON bytes against two bounds: it is full from the moment either is reached until both are back
 * at half, so the source is paused at the bound and resumed while half of it is still there to hand on.
 * The bounds are not a cap: a source cannot always stop at once, and what it still emits is held too.
 *
 * An event is in at most one hold.
 */
#ifndef TRG_HOLD_H
#define TRG_HOLD_H

#include <stdbool.h>
#include <stddef.h>

#include "map.h"

struct trg_event;

#define TRG_HOLD_TURN 100 /* events one key hands on before the next key's turn */

struct trg_hold_lane;

/* One thing held: an event, or a reference to a record its source builds the event of only when it leaves
 * the hold (trg_source_hold_ref); weight is what it counts against max_bytes (an event's JSON length). */
struct trg_held {
    struct trg_event *ev;
    void *ref;
    size_t weight;
};

struct trg_hold {
    struct trg_map lanes;                  /* keyed lanes with events (struct trg_hold_lane) */
    struct trg_hold_lane *unkeyed;         /* the lane of events without an order_key, or NULL */
    struct trg_hold_lane *last;            /* the keyed lane pushed to last, or NULL */
    struct trg_hold_lane *turn_head, *turn_tail; /* lanes with events, taking turns */
    size_t turn_used;                      /* events the head lane handed on in its current turn */
    size_t n, bytes;                       /* events held, and their JSON bytes */
    size_t max_n, max_bytes;               /* the bounds; 0 = this hold is not in use */
    bool full;
};

/* An empty hold with these bounds (each at least 1). */
void trg_hold_init(struct trg_hold *h, size_t max_n, size_t max_bytes);
/* Add ev at the back of its key's lane. 0, or TRG_ENOMEM (a new lane could not be allocated; ev is not
 * held). */
int trg_hold_push(struct trg_hold *h, struct trg_event *ev);
/* The same for a reference with its order key (copied when needed; NULL: none) and weight. */
int trg_hold_push_ref(struct trg_hold *h, void *ref, const char *order_key, size_t weight);
/* Put ev back that was taken out (trg_hold_pop; a reference finished into ev) and could not be handed on
 * after all: first in its key's lane, behind the events put back before it that came before it (ev->seq
 * order), and its lane's turn first. 0 or TRG_ENOMEM as trg_hold_push. */
int trg_hold_requeue(struct trg_hold *h, struct trg_event *ev);
/* Take out the next one in turn into *out; false when the hold is empty. */
bool trg_hold_pop(struct trg_hold *h, struct trg_held *out);
/* Take out everything for which match(x, arg) is true (everything when match is NULL), calling drop(x, arg)
 * on each, in the order it was held within each key; returns how many. */
size_t trg_hold_take(struct trg_hold *h, bool (*match)(const struct trg_held *x, void *arg),
                     void (*drop)(const struct trg_held *x, void *arg), void *arg);
/* Is it full (see above)? Updated by every call that adds or takes. */
static inline bool trg_hold_full(const struct trg_hold *h) { return h->full; }
/* Free the lanes; the hold must be empty (trg_hold_take(h, NULL, NULL) first). */
void trg_hold_clear(struct trg_hold *h);

#endif
