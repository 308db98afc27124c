/* route.h — a route: one source's events, filtered, queued in lanes and cut into batches.
 *
 * A lane holds the events of one ordering key (the unordered lane has key NULL). An ordered lane has at
 * most one batch unfinished at a time (in flight or waiting to retry), so its events are processed in
 * order; the unordered lane has as many as the function's concurrency allows. Batches are cut only when
 * the function can take one, so events wait in lanes and batch up while the function is busy.
 *
 * Engine-internal. route.c owns struct trg_route and struct trg_lane; dispatch.c runs the batches route.c
 * cuts. A route reaches nothing above it: it is handed the core (loop, metrics, DLQ, clock, random) and
 * signals its owner (the engine) through the callbacks of struct trg_route_owner.
 */
#ifndef TRG_ROUTE_H
#define TRG_ROUTE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlq.h"
#include "failure.h"
#include "event.h"
#include "function.h"
#include "invoke/invoke.h"
#include "list.h"
#include "map.h"

struct trg_config;
struct trg_core;
struct trg_route_conf;
struct trg_source;
struct trg_function;

/* One event held by one route. */
struct trg_entry {
    struct trg_list link;     /* in a lane's queue or a batch's entries */
    struct trg_event *ev;
    int attempts;             /* failed invocations so far (throttles do not count) */
    int invokes;              /* invocations so far (approximateInvokeCount) */
};

struct trg_lane {
    struct trg_list link;     /* in route->lanes */
    struct trg_map_node node; /* ordered lanes: in route->keyed, by key */
    char *key;                /* NULL: the unordered lane */
    struct trg_list queue;    /* entries waiting for a batch */
    size_t n;
    size_t bytes;
    int unfinished;           /* batches cut from this lane and not finished */
    int64_t first_ms;         /* monotonic ms when the oldest queued entry arrived */
};

struct trg_batch {
    struct trg_job job;
    struct trg_list link;     /* in route->batches */
    struct trg_route *route;
    struct trg_lane *lane;
    struct trg_list entries;
    size_t n;
    char request_id[40];
    ev_timer retry;           /* waiting before the next attempt */
    bool invoking;
    char *payload;            /* what the invoker borrows during an attempt */
    /* The last attempt, for the DLQ record. */
    int last_status;
    char *last_error;
    char *last_body;
    size_t last_body_len;
};

/* What a route tells its owner, from the loop; event_done, changed and pump_due also from inside
 * trg_route_push() (a filtered event, the route filling up, a batch to cut), so the owner defers whatever
 * would call the pushing source back. */
struct trg_route_owner {
    /* The route let go of ev with status (enum trg_done_status); res may be NULL. */
    void (*event_done)(void *arg, struct trg_event *ev, int status, const struct trg_invoke_result *res);
    /* The route became full or drained, or its DLQ blocked or recovered: re-evaluate its source's pause. */
    void (*changed)(void *arg, struct trg_route *r);
    /* A retired route holds nothing any more: free it (later, from the loop). */
    void (*idle)(void *arg, struct trg_route *r);
    /* A push left r a batch to cut: call trg_route_pump_due(r) before the loop next waits (so that the
     * events pushed in one loop pass go out in one batch, not the first alone). Once until that call. */
    void (*pump_due)(void *arg, struct trg_route *r);
    void *arg;
};

struct trg_route {
    struct trg_list link;     /* in the engine's routes */
    struct trg_list src_link; /* in the source's routes while active */
    char *name;
    struct trg_core *core;    /* borrowed from the owner */
    const struct trg_route_owner *owner;
    struct trg_config *cfg;   /* holds conf; referenced */
    const struct trg_route_conf *conf;
    struct trg_source *source;
    struct trg_function *fn;
    struct trg_list lanes;
    struct trg_map keyed;     /* the ordered lanes by key: a lookup does not walk every live key */
    struct trg_lane *unordered; /* the lane of events without a key, once one came */
    struct trg_lane *last_lane; /* the lane the last event went to (consecutive events mostly share one) */
    struct trg_pool entries;  /* struct trg_entry */
    struct trg_list batches;  /* every unfinished batch */
    size_t held;              /* events held: queued, in batches, or on their way to the DLQ */
    ev_timer window;          /* fires when the oldest lane's batching window ends */
    bool retired;             /* replaced or removed by a reload: finishes what it holds, takes nothing new */
    bool paused;              /* paused at run time (trg_engine_route_set_enabled): takes no new events */
    bool full;                /* held reached max_queued_events: the source is paused */
    bool pump_due;            /* a push asked for a pump (owner->pump_due told) */
    struct trg_failure failure; /* failed events on their way to the DLQ (failure.c's) */
};

/* Create an active route (no events yet). core and owner are borrowed and must outlive the route; cfg is
 * referenced for the route's lifetime. */
int trg_route_create(struct trg_core *core, const struct trg_route_owner *owner, struct trg_config *cfg,
                     const struct trg_route_conf *conf, struct trg_source *src, struct trg_function *fn,
                     struct trg_route **out);
/* Free a route that holds nothing (held == 0). */
void trg_route_destroy(struct trg_route *r);

/* Set the route's gauges (trigd_queued) to what it holds now: called before /metrics renders, rather
 * than on every event. */
void trg_route_update_metrics(struct trg_route *r);
/* Room for one more event? */
bool trg_route_can_accept(const struct trg_route *r);
/* How many more events r takes now (0 when it cannot accept one). */
size_t trg_route_room(const struct trg_route *r);
/* Take ev (its refs already count this route): filter it, queue it. A batch it lets be cut is cut by
 * trg_route_pump_due(), which the owner calls when told (owner->pump_due). Never calls back into the
 * source synchronously. */
void trg_route_push(struct trg_route *r, struct trg_event *ev);
/* Cut and dispatch every batch the lanes and the function allow now. */
void trg_route_pump(struct trg_route *r);
/* trg_route_pump(r) if a push asked for it since the last pump. */
void trg_route_pump_due(struct trg_route *r);

/* The batch is finished: its entries were all released. Frees it and pumps its lane. */
void trg_route_batch_finished(struct trg_batch *b);
/* Bisect a batch: its second half leaves it — back to the front of an ordered lane (after the first half,
 * in order: NULL is returned) or as a new batch of the unordered lane, returned (NULL when out of memory:
 * the batch stays whole). */
struct trg_batch *trg_route_split(struct trg_batch *b);
/* Release one entry with a final status (enum trg_done_status) and free it. res may be NULL. */
void trg_route_release(struct trg_route *r, struct trg_entry *en, int status, const struct trg_invoke_result *res);
/* Release every entry in list (unlinking each) with status (enum trg_done_status). */
void trg_route_release_all(struct trg_route *r, struct trg_list *list, int status);
/* Abandon everything the route holds (shutdown). Batches are freed; no invocation callback may follow. */
void trg_route_abandon(struct trg_route *r);

/* Build the payload for the entries of a batch, as the route's source and envelope say. */
int trg_route_payload(const struct trg_route *r, const struct trg_list *entries, size_t n, struct trg_buf *out);

/* Pure batch-cutting decision, exposed for unit tests: should a lane with n queued events of `bytes`
 * bytes, whose oldest arrived at first_ms, be cut now? */
bool trg_lane_ready(size_t n, size_t bytes, int64_t first_ms, int64_t now_ms, int64_t batch_size,
                    int64_t max_batch_bytes, int64_t window_ms, bool draining);
/* Does one more event of len bytes go into a batch that has taken `taken` events of `bytes` bytes (each
 * counted with its separator)? The first always does (an oversize event goes alone); then at most
 * batch_size events, and no more than fit in max_batch_bytes. */
bool trg_lane_fits(size_t taken, size_t bytes, size_t len, int64_t batch_size, int64_t max_batch_bytes);

#endif
