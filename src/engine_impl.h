/* engine_impl.h — struct trg_engine, for the engine's own files only: engine.c runs it and reload.c builds
 * it from a config (the two write it); status.c only reads it (health, readiness, metrics and the admin
 * API's views). */
#ifndef TRG_ENGINE_IMPL_H
#define TRG_ENGINE_IMPL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "function.h"
#include "intake.h"
#include "list.h"
#include "route.h"
#include "source.h"

struct trg_config;
struct trg_engine;
struct trg_event;
struct trg_http;
struct trg_redis;

struct trg_engine {
    struct trg_core core;       /* loop, metrics, DLQ, clock, random: handed down to routes and functions */
    struct trg_source_env source_env; /* what every source borrows: core, http, redis, emit */
    struct trg_route_owner route_owner;       /* the callbacks of every route */
    struct trg_function_owner function_owner; /* the callbacks of every function */
    struct trg_config *cfg;     /* the current config */
    struct trg_http *http;
    struct trg_redis *redis;
    struct trg_config *redis_cfg; /* holds the conf the Redis connections borrow */
    struct trg_intake *intake;  /* with `redis`: the durable intake of push sources' events */
    struct trg_intake_owner intake_owner;
    struct trg_list sources, functions, routes;
    uint64_t seq;
    int64_t started_ms;
    int emitting;               /* inside trg_source_emit: hand events back later */
    struct trg_event *done_head, *done_tail;
    struct trg_event *accept_head, *accept_tail;
    ev_prepare prepare;         /* each loop iteration: hands on held events, confirms and hands back
                                 * deferred events, reaps */
    bool reap;
    bool unhold;                /* a source holds events and its routes may take them now */
    bool pump;                  /* a route asked for a pump (trg_route_pump_due) */
    ev_timer unhold_retry;      /* a refused intake append of a held event: try again in a second */
    bool redis_down;            /* Redis was connected and is not now: durable sources are paused */
    ev_timer shutdown_timer;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

/* Make the engine run cfg (reload.c): create what cfg needs that the engine does not have unchanged,
 * retire what it no longer has, adopt the new objects and, once the engine runs, start new sources. On
 * failure nothing changed and the error is returned; else 0, and *not_started (may be NULL) is how many
 * new sources could not start. The engine references cfg as its current config. */
int trg_engine_apply(struct trg_engine *e, struct trg_config *cfg, int *not_started);
/* The live (not retired) function named name, or NULL (reload.c). */
struct trg_function *trg_engine_find_function(const struct trg_engine *e, const char *name);

/* Register /healthz, /readyz and /metrics on the engine's HTTP server (status.c). */
int trg_engine_status_register(struct trg_engine *e);

#endif
