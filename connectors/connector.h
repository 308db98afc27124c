/* connector.h — the engine's face towards connectors: the only trigd header a connector includes
 * (tests/connector_includes.sh fails the build's checks otherwise). It brings what a connector may use
 * of the rest of trigd: events, the HTTP server, logging, option tables and the util helpers; the
 * invocation result a source hears in done (invoke/invoke.h); and the services the engine lends:
 * the shared Redis connection (redis.h), the consumer-group stream reader (rstream.h) and libcurl on
 * the loop (invoke/curl_loop.h).
 *
 * A connector (one folder under connectors/) exports one `const struct trg_source_ops`. The engine
 * creates one instance per configured source, starts it, and hands its events to every route
 * bound to the source. Sources produce events and hear outcomes; batching, retries and the DLQ
 * belong to the engine.
 */
#ifndef TRG_CONNECTOR_H
#define TRG_CONNECTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "../src/event.h"
#include "../src/http.h"
#include "../src/invoke/curl_loop.h"
#include "../src/invoke/invoke.h"
#include "../src/log.h"
#include "../src/opt.h"
#include "../src/redis.h"
#include "../src/rstream.h"
#include "../src/util.h"

struct ev_loop;
struct trg_invoke_result;
struct trg_redis;
struct trg_redis_conf;

/* The engine's handle for a source instance. */
struct trg_source;

/* How an event ended, given to ops->done. */
enum trg_done_status {
    TRG_DONE_OK = 0,        /* final on every route: succeeded, filtered out, or written to the DLQ */
    TRG_DONE_ABANDONED = 1, /* not final (shutdown, route removed): do not acknowledge; let it be redelivered */
    TRG_DONE_UNSENT = 2,    /* never reached a route: dropped from the engine's hold (trg_source_set_hold) when
                             * the source stopped or asked (trg_source_drop_held); as ABANDONED, and nothing
                             * the source emitted after it reached a route either */
};

/* A route's on_failure target other than "dlq" (ops->on_failure): what went wrong with the events. */
struct trg_failure_info {
    const char *route;
    const char *function;
    const char *condition;  /* RetryAttemptsExhausted | EventAgeExceeded | MaximumPayloadSizeExceeded | Rejected */
    const char *error;      /* the last error: the function's error type, "HTTP 500", or the condition */
    const char *request_id; /* of the last invocation */
};
/* Outcome of ops->on_failure: err 0 once the target has the events for good (id: what to log), else < 0. */
typedef void (*trg_failure_cb)(void *arg, int err, const char *id);

struct trg_source_ops {
    const char *name;               /* the source "type" in the config */
    /* Defaults for the options of routes fed by this source, as a JSON object, overriding the
     * engine's table defaults: push sources (webhooks, schedules) take Lambda's async-invocation
     * defaults ({"batch_size":1,"max_retry_attempts":2,"max_record_age_s":21600}), stream sources
     * the event-source-mapping ones (Kafka: {"batch_size":100,"batch_window_ms":500,...}). NULL = none. */
    const char *route_defaults;
    const struct trg_opt *options;
    size_t n_options;
    size_t opts_size;
    /* Extra validation after the table was applied. May be NULL. */
    void (*check)(const void *opts, const char *path, struct trg_errs *errs);
    /* Create an instance bound to src; opts is borrowed for its lifetime. No I/O yet.
     * On failure everything is freed and a negative trg_err returned. */
    int (*create)(struct trg_source *src, const void *opts, void **out);
    /* Begin intake (listen, connect, subscribe). */
    int (*start)(void *inst);
    /* Stop intake; events already emitted still get their done callbacks. */
    void (*stop)(void *inst);
    void (*destroy)(void *inst);
    /* ev reached its end (status: enum trg_done_status). res is the last invocation's result, or
     * NULL (filtered, DLQ, abandoned); both are borrowed until the callback returns. The engine frees
     * ev afterwards. */
    void (*done)(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res);
    /* Optional, for a source with a hold that builds its events only when they leave it (it hands the engine
     * references to its records: trg_source_hold_ref): the event of ref, now that the engine hands it on
     * (token, created_ms, item_id and order_key set as for trg_source_emit), or NULL when it cannot be built
     * (out of memory: then unsent(ref) follows, as for a dropped reference). */
    struct trg_event *(*finish)(void *inst, void *ref);
    /* A reference the engine held is dropped without an event (the source stopped, trg_source_drop_held,
     * or finish failed): as done(TRG_DONE_UNSENT) for an event. Required with finish. */
    void (*unsent)(void *inst, void *ref);
    /* The engine refuses this source's events (paused = true: a route it feeds is full or cannot write its
     * DLQ, or with a durable intake Redis is down) or takes them again (false: retry what was refused; it
     * may come without a pause(true) before, e.g. when Redis connects for the first time). A source with a
     * hold (trg_source_set_hold) is never refused: it hears pause(true) when its hold is full and
     * pause(false) at half. Never called once the source stopped. May be NULL. */
    void (*pause)(void *inst, bool paused);
    /* ev is safely accepted: queued in memory, or with `redis` configured stored in the route's durable
     * intake stream (err 0); or it could not be stored (err < 0, e.g. Redis is down): refuse it upstream
     * (503, no ack), and no done callback follows. Called once per emitted event, later from the loop,
     * and always before done. A push source answers its sender here. NULL = not interested. A source with
     * a hold hears it when an event leaves the hold for good (for the routes, or stored), and never
     * accepted(ev, err < 0): an event the intake cannot store goes back to the hold. */
    void (*accepted)(void *inst, struct trg_event *ev, int err);
    /* The payload alone of ev, for routes with "envelope": "raw" (a webhook's body). NULL = ev->json. */
    int (*raw)(void *inst, const struct trg_event *ev, struct trg_buf *out);
    /* Build the function's payload for n events of one batch into out. NULL = the default:
     * the single event's json when n == 1, else {"records":[json,...]}. */
    int (*envelope)(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out);
    /* What a route's filter patterns see of ev, parsed (docs/FILTERS.md: e.g. a Kafka value or a webhook
     * body parsed when it is JSON). Called only for routes with filters; the caller frees the result
     * with cJSON_Delete(). NULL = ev->json parsed. */
    cJSON *(*filter_view)(void *inst, const struct trg_event *ev);
    /* Connected and able to receive events (for /readyz). NULL = always ready. */
    bool (*ready)(void *inst);
    /* A push source whose events cannot be redelivered by their sender once accepted (webhooks, MQTT,
     * schedules): with `redis` configured, trg_source_emit() appends each event (unless ev->no_intake) to
     * the durable intake stream of every route of the source, `<prefix>intake:<route>`, and calls
     * accepted(ev, 0) only once every XADD succeeded, then done(ev, TRG_DONE_OK) at once: from then on the
     * event belongs to the intake, whose consumers (any replica) XACK an entry after its final outcome.
     * With Redis down or a failed XADD: accepted(ev, err < 0) and no done. Without `redis`: in memory. */
    bool durable_intake;
    /* Optional: append one JSON object describing the instance for the admin API (schedules list
     * their next next_n fire times: GET /admin/schedules). Returns 0 or a negative trg_err. NULL = none. */
    int (*status_json)(void *inst, struct trg_buf *out, int next_n);
    /* The source's batch info for a DLQ record of n events of one batch (payload_size = the batch payload's
     * bytes): sets *key (a static string, e.g. "KafkaBatchInfo") and appends its JSON value to out.
     * Returns 0 with nothing appended when there is none. NULL = none. */
    int (*batch_info)(void *inst, struct trg_event *const *evs, size_t n, size_t payload_size, const char **key,
                      struct trg_buf *out);
    /* Optional: routes of this source may set on_failure to "<failure_scheme>NAME" (kafka: "kafka://TOPIC")
     * instead of "dlq"; the config refuses other values. */
    const char *failure_scheme;
    /* Deliver n events of one batch that finally failed to target (the route's on_failure), instead of the
     * DLQ; the events are borrowed until done is called. done(arg, 0, id) once the target has them for good:
     * then they are final (done with TRG_DONE_OK). done(arg, err < 0, NULL): the engine keeps them, pauses the
     * source and calls on_failure again later, as for a failed DLQ write. A negative return means done is not
     * called (same handling). done is never called from inside on_failure. */
    int (*on_failure)(void *inst, const char *target, struct trg_event *const *evs, size_t n,
                      const struct trg_failure_info *info, trg_failure_cb done, void *arg);
};

/* Services for connectors. */
struct ev_loop *trg_source_loop(struct trg_source *src);
const char *trg_source_name(struct trg_source *src);
struct trg_http *trg_source_http(struct trg_source *src);
/* The shared Redis connection when the config has `redis`, else NULL (src/redis.h). */
struct trg_redis *trg_source_redis(struct trg_source *src);
/* The `redis` settings, for a connection of the source's own (a blocking reader); NULL without `redis`.
 * Valid for the source's lifetime. */
const struct trg_redis_conf *trg_source_redis_conf(struct trg_source *src);
/* Is trigd shutting down? (Then stop only refuses new events: a webhook keeps its path and answers
 * 503, where on a reload it gives the path up for its successor.) */
bool trg_source_shutting_down(struct trg_source *src);
/* Count something the source saw, as trigd_source_events_total{source,event} (event: a short
 * snake_case name such as "skipped_overlap" or "expired"). */
void trg_source_count(struct trg_source *src, const char *event, double n);
/* The engine's random source (uniform 64-bit numbers; tests inject it). A trg_rand_fn (retry.h) with the
 * source (struct trg_source *) as its state, so it can be handed on, e.g. to trg_rstream_conf. */
uint64_t trg_source_random(void *src);
/* A request id (UUID v4 shape) from the engine's random source. */
void trg_source_request_id(struct trg_source *src, char out[40]);
/* How long to wait before reconnect number `attempt` (0 = the first) after a lost or refused connection:
 * capped exponential from min_ms to max_ms with equal jitter (trg_reconnect_delay_ms, src/retry.h). */
int64_t trg_source_reconnect_delay_ms(struct trg_source *src, int attempt, int64_t min_ms, int64_t max_ms);
/* Is there room on every route of this source for one more event? */
bool trg_source_can_accept(struct trg_source *src);
/* The HTTP face every push source's path shares (webhook, MinIO's webhook mode). Returns true when req may
 * go on; else it was answered: a HEAD when head_ok with 200 and no body, any other method than POST with
 * 405 and Allow, a missing or wrong bearer token (when token is set; compared in constant time) with 401
 * and WWW-Authenticate, logged as a warning that names the sender and, when given, what to check (hint). */
bool trg_source_ingress(struct trg_source *src, struct trg_http_req *req, const char *token, bool head_ok,
                        const char *hint);
/* Answer a request whose event the engine refused (trg_source_can_accept() false, or trg_source_emit() < 0):
 * 503 with Retry-After, saying trigd is stopping or the source's routes are full. */
void trg_source_ingress_refuse(struct trg_source *src, struct trg_http_req *req);
/* Hand ev to the routes of this source. On 0 the engine takes ownership. On TRG_EFULL (a route is
 * full) or TRG_ESTATE (stopping) nothing is taken: the caller still owns ev, and should refuse
 * the event upstream (503, do not ack). A source with a hold (trg_source_set_hold) never hears
 * TRG_EFULL: what the routes cannot take now is held, and TRG_ENOMEM means it could not be. */
int trg_source_emit(struct trg_source *src, struct trg_event *ev);
/* Ask the engine to hold this source's events while its routes cannot take them (full, a DLQ blocked,
 * Redis down for a durable intake; also while no enabled route takes them), instead of refusing them:
 * for a source that cannot refuse what it read (MQTT: the broker has its acknowledgement) or that reads
 * ahead (Kafka). Held events keep their order within an ordering key, the keys taking turns as room
 * comes; they count as emitted (done follows for each). The source hears pause(true) once max_events
 * events or max_bytes bytes of JSON are held, and pause(false) once both are back at half (and the
 * routes take events); it never hears pause for a full route alone. Call from ops->create. */
void trg_source_set_hold(struct trg_source *src, size_t max_events, size_t max_bytes);
/* Would trg_source_emit() hold an event of this source now (it has a hold, and the hold has something or
 * the routes cannot take an event)? */
bool trg_source_would_hold(struct trg_source *src);
/* While trg_source_would_hold() is true, a source with ops->finish may hand the engine a reference to one of
 * its records instead of building its event: the engine holds ref (in order with the rest, under
 * order_key, which is copied; weight counts against max_bytes) and has the source finish it into an event
 * when it hands it on, so that a full hold costs what the source holds of its records anyway, not their
 * events. Counts as emitted. 0, TRG_ESTATE (stopping, or the source has no hold or no finish) or
 * TRG_ENOMEM; on an error the reference stays the source's. */
int trg_source_hold_ref(struct trg_source *src, void *ref, const char *order_key, size_t weight);
/* Drop what the engine holds of this source that match(ev, ref, arg) picks (one of ev and ref is NULL;
 * match NULL: everything), e.g. a revoked partition's: each comes back at once, from inside this call, an
 * event with done(ev, TRG_DONE_UNSENT) (then freed), a reference with unsent(ref). */
void trg_source_drop_held(struct trg_source *src, bool (*match)(const struct trg_event *ev, void *ref, void *arg),
                          void *arg);
/* How many records the source holds that trigd has not read yet (trigd_source_lag{source}). */
void trg_source_set_lag(struct trg_source *src, double lag);
/* Gauges a source sets beyond the lag (label: what the gauge's second label takes, or NULL). */
enum trg_source_gauge {
    TRG_GAUGE_PARTITION_LAG,    /* trigd_source_partition_lag{source,partition=label}: records not read yet */
    TRG_GAUGE_PAUSED_PARTITIONS /* trigd_source_paused_partitions{source}: partitions paused now (label NULL) */
};
/* Set gauge which of this source to v; v < 0 removes the sample (a partition given up). */
void trg_source_set_gauge(struct trg_source *src, enum trg_source_gauge which, const char *label, double v);

extern const struct trg_source_ops trg_source_webhook;
extern const struct trg_source_ops trg_source_redis_stream;
extern const struct trg_source_ops trg_source_kafka;
extern const struct trg_source_ops trg_source_schedule;
extern const struct trg_source_ops trg_source_mqtt;
extern const struct trg_source_ops trg_source_minio;

#endif
