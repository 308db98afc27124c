/* engine.h — the engine: sources, routes and functions built from a config, and their lifecycle.
 *
 * One engine per process, on one libev loop. It owns the HTTP server (health, readiness, metrics,
 * admin API and the ingress paths that sources declare), the Redis connection when configured, the
 * DLQ, and every source, route and function instance. Events flow source -> route (filter, lanes,
 * batches) -> function; outcomes flow back as retries, DLQ records, and finally the source's done
 * callback.
 */
#ifndef TRG_ENGINE_H
#define TRG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "invoke/invoke.h"
#include "util.h"

struct ev_loop;
struct trg_config;
struct trg_core;
struct trg_core_hooks;
struct trg_dlq;
struct trg_http;
struct trg_metrics;
struct trg_redis;
struct trg_redis_conf;

struct trg_engine;

/* Build everything the config names (no I/O beyond binding the HTTP listener). hooks (NULL: the real
 * ones) replace the clock and the random source, for tests; they are copied. Takes ownership of conf
 * whatever it returns: the caller never frees it (on failure it is already freed). On failure errors are
 * logged and a negative trg_err is returned (TRG_EINVAL for a config that cannot run, such as a port in
 * use or a path taken twice). */
int trg_engine_create(struct ev_loop *loop, struct trg_config *conf, const struct trg_core_hooks *hooks,
                      struct trg_engine **out);
/* Start every source's intake. */
int trg_engine_start(struct trg_engine *e);
/* Switch to a new config without dropping in-flight work: unchanged sources, functions and routes
 * are kept; changed and removed ones stop taking events and are freed once they have finished what
 * they hold. Takes ownership of conf whatever it returns: the caller never frees it. A negative trg_err:
 * nothing changed (conf is already freed). Otherwise the config is applied, and the result is the number
 * of new sources that could not start (each logged; they stay down, /readyz answers 503, until a reload
 * starts them). */
int trg_engine_reload(struct trg_engine *e, struct trg_config *conf);
/* Stop intake, let in-flight work finish for up to shutdown_timeout_ms, then abandon what is left
 * (its sources are not told it is done, so they redeliver it) and call done. */
void trg_engine_shutdown(struct trg_engine *e, void (*done)(void *arg), void *arg);
/* Free everything (call after shutdown's done, outside the engine's callbacks). NULL is a no-op. */
void trg_engine_destroy(struct trg_engine *e);

/* Services and state for the other core modules (route, dispatch, admin). */
struct ev_loop *trg_engine_loop(const struct trg_engine *e);
struct trg_metrics *trg_engine_metrics(const struct trg_engine *e);
struct trg_dlq *trg_engine_dlq(const struct trg_engine *e);
struct trg_http *trg_engine_http(const struct trg_engine *e);
/* The shared Redis connection and the conf it was made from (both NULL without Redis); borrowed for the
 * engine's lifetime. */
struct trg_redis *trg_engine_redis(const struct trg_engine *e, const struct trg_redis_conf **conf);
const struct trg_config *trg_engine_config(const struct trg_engine *e);
const struct trg_core *trg_engine_core(const struct trg_engine *e);
bool trg_engine_stopping(const struct trg_engine *e);
bool trg_engine_ready(const struct trg_engine *e);

/* The admin API's view: {"version", "uptime_s", "ready", "sources":[...], "routes":[...], "functions":[...]}. */
int trg_engine_status_json(struct trg_engine *e, struct trg_buf *out);
/* Append the "routes" array of that view: [{"name","source","function","enabled","held",...}, ...]. */
int trg_engine_routes_json(struct trg_engine *e, struct trg_buf *out);

/* A JSON array with the status_json op's object of every active source of type `type` that has one
 * (GET /admin/schedules: type "schedule", next_n fire times each). */
int trg_engine_sources_status_json(struct trg_engine *e, const char *type, int next_n, struct trg_buf *out);

/* Invoke a function directly (Lambda Invoke API, Event invocations), within its concurrency limit: call (see
 * invoke/invoke.h) is copied. cb is called once, later. TRG_ENOTFOUND when there is no such function,
 * TRG_ESTATE once shutting down, TRG_EFULL when call->no_wait and the function is at max_concurrency (its
 * invocations in flight and the batches and invocations waiting for it). */
int trg_engine_invoke(struct trg_engine *e, const char *function, const struct trg_direct_call *call,
                      trg_invoke_cb cb, void *arg);

/* Pause (enabled false) or resume a route at run time, as Lambda's UpdateEventSourceMapping Enabled does: a
 * paused route takes no new events from its source and finishes what it holds; the state lasts while the
 * route is unchanged by reloads. TRG_ENOTFOUND (no such route), TRG_EINVAL (the config disables the route). */
int trg_engine_route_set_enabled(struct trg_engine *e, const char *route, bool enabled);

/* Re-submit the records of a DLQ record (as trg_dlq_record_build wrote it) to its route. cb is called
 * once every record reached a new final outcome (err 0: succeeded, filtered, or written to the DLQ
 * again), or at once-later with a negative error (no such route, bad record, route full, stopping). */
int trg_engine_redrive(struct trg_engine *e, const char *route, const char *record, size_t len,
                       void (*cb)(void *arg, int err), void *arg);

#endif
