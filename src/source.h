/* source.h — a source instance: the engine's side of one connector (connectors/connector.h is the
 * connector's side). Engine-internal.
 *
 * source.c owns struct trg_source and is the only file that writes its fields; the engine builds,
 * starts, retires and frees sources, the intake counts the events they hand over, and routes ask a
 * source (NULL for redriven events: then the defaults apply) how to view, wrap and fail its events.
 */
#ifndef TRG_SOURCE_H
#define TRG_SOURCE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hold.h"
#include "list.h"
#include "util.h"

struct trg_config;
struct trg_core;
struct trg_event;
struct trg_failure_info;
struct trg_http;
struct trg_invoke_result;
struct trg_redis;
struct trg_redis_conf;
struct trg_source;
struct trg_source_conf;

/* What the engine lends every source; it must outlive them. */
struct trg_source_env {
    struct trg_core *core;       /* read; its random source advances */
    struct trg_http *http;
    struct trg_redis *redis;                 /* NULL without `redis` */
    const struct trg_redis_conf *redis_conf; /* NULL without `redis` */
    /* The engine's side of trg_source_can_accept() and trg_source_emit(): whether the source's routes
     * (or its durable intake) take one more event, and taking it. */
    bool (*can_accept)(void *arg, struct trg_source *src);
    /* The engine's side of trg_source_would_hold() and trg_source_hold_ref(). */
    bool (*would_hold)(void *arg, struct trg_source *src);
    int (*hold_ref)(void *arg, struct trg_source *src, void *ref, const char *order_key, size_t weight);
    int (*emit)(void *arg, struct trg_source *src, struct trg_event *ev);
    void *arg;
};

struct trg_source {
    struct trg_list link;       /* in the engine's sources (or a build's) */
    char *name;
    const struct trg_source_env *env;
    struct trg_config *cfg;     /* holds conf; referenced */
    const struct trg_source_conf *conf;
    void *inst;
    struct trg_list routes;     /* the active routes fed by this source (struct trg_route.src_link) */
    size_t outstanding;         /* events emitted (held ones too) and not yet handed back */
    uint64_t received;          /* events received and not yet added to trigd_events_received_total */
    struct trg_hold hold;       /* what the engine took and could not hand on yet (max_n 0: never holds) */
    bool started, stopped, retired;
    bool refused;               /* the engine cannot take its events now (trg_source_set_paused) */
    bool paused;                /* what the connector was last told (ops->pause) */
};

/* Create the connector instance for conf (no I/O). cfg is referenced for the source's lifetime. */
int trg_source_create(const struct trg_source_env *env, struct trg_config *cfg, const struct trg_source_conf *conf,
                      struct trg_source **out);
/* Begin intake (logged when it fails). */
int trg_source_start(struct trg_source *s);
/* Stop intake (once; a source never started is only marked stopped). What it holds is dropped
 * (trg_source_drop_held): never handed on, as a connector stopping intake would drop it. */
void trg_source_stop(struct trg_source *s);
/* Stop it and mark it retired: it is freed once it has nothing outstanding. */
void trg_source_retire(struct trg_source *s);
/* Publish the metrics it counts between scrapes (trigd_events_received_total, trigd_source_held). */
void trg_source_publish(struct trg_source *s);
/* Free (unlinks it). NULL is a no-op. */
void trg_source_destroy(struct trg_source *s);

/* The source took one more event from its connector (outstanding and the received count go up). */
void trg_source_took(struct trg_source *s);
/* An event of the source was accepted (err 0) or refused (err < 0): tell the connector (ops->accepted). */
void trg_source_accepted(struct trg_source *s, struct trg_event *ev, int err);
/* ev reached its end: the connector hears it (ops->done) and outstanding goes down. Returns true when
 * the source is retired and holds nothing any more (free it). */
bool trg_source_hand_back(struct trg_source *s, struct trg_event *ev, int status, const struct trg_invoke_result *res);
/* An event the source took ends without a done callback (refused by the durable intake, or dropped when
 * the engine is destroyed): outstanding goes down. Returns as trg_source_hand_back(). */
bool trg_source_forget(struct trg_source *s);
/* Whether the engine can take its events now (a route full, a DLQ blocked, Redis down for a durable
 * intake: refused). A source that holds (trg_source_holds) is paused only while its hold is full; any
 * other is paused while refused. The connector hears ops->pause when that changes. */
void trg_source_set_paused(struct trg_source *s, bool refused);
/* The engine may take what it refused again (Redis is back): when the source is not paused, tell it so
 * once more (ops->pause(false)), also when it was never paused (it was refused before the first connect).
 * Not for a source that holds: it was never refused. */
void trg_source_retry(struct trg_source *s);

/* The hold (hold.h): a source that asked for one (trg_source_set_hold) never has an event refused for want
 * of room; the engine keeps it here, in order, until the routes take it. */
bool trg_source_holds(const struct trg_source *s);
/* Events held now. */
static inline size_t trg_source_held(const struct trg_source *s) { return s->hold.n; }
/* Hold ev, or a reference (outstanding counted by the caller); 0 or TRG_ENOMEM (not held). The connector
 * is paused when the hold becomes full. */
int trg_source_hold(struct trg_source *s, struct trg_event *ev);
int trg_source_push_ref(struct trg_source *s, void *ref, const char *order_key, size_t weight);
/* Put back ev, taken out with trg_source_unhold(), that could not be handed on after all (a failed
 * durable intake append): first in its key's order. false: out of memory (the caller still owns ev). */
bool trg_source_requeue(struct trg_source *s, struct trg_event *ev);
/* Take the next held event in turn; a reference is finished into its event by the connector (ops->finish;
 * when it cannot be, it goes back unsent and the next one is taken). NULL: nothing held. The connector is
 * resumed once the hold is no longer full. */
struct trg_event *trg_source_unhold(struct trg_source *s);
/* Connected and able to receive events (ops->ready; true without the op). */
bool trg_source_ready(struct trg_source *s);
/* Its events go through the routes' durable intake streams (a push source, with `redis`). */
bool trg_source_durable(const struct trg_source *s);
/* Append the admin API's object of the source: {"name","type","ready","paused","outstanding"}. */
int trg_source_status_json(struct trg_source *s, struct trg_buf *out);

/* The connector's views of its events; each takes src NULL (a redriven event) and then does the default. */
/* What filters see of ev (ops->filter_view, else ev->json parsed); NULL when it is not JSON. Caller frees
 * with cJSON_Delete(). */
cJSON *trg_source_filter_view(struct trg_source *src, const struct trg_event *ev);
/* The payload alone of ev for "envelope": "raw" (ops->raw, else ev->json). */
int trg_source_raw(struct trg_source *src, const struct trg_event *ev, struct trg_buf *out);
/* The batch payload of n events (ops->envelope, else the one event's json or {"records":[...]}). */
int trg_source_envelope(struct trg_source *src, struct trg_event *const *evs, size_t n, struct trg_buf *out);
/* Hand failed events to the route's on_failure target (ops->on_failure); TRG_ESTATE without the op. */
int trg_source_on_failure(struct trg_source *src, const char *target, struct trg_event *const *evs, size_t n,
                          const struct trg_failure_info *info, void (*done)(void *, int, const char *), void *arg);
/* The source's batch info for a DLQ record (ops->batch_info); *key stays NULL when there is none. */
int trg_source_batch_info(struct trg_source *src, struct trg_event *const *evs, size_t n, size_t payload_size,
                          const char **key, struct trg_buf *out);

#endif
