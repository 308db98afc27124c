/* core.h — the services every engine module is handed by its owner instead of reaching up to the engine:
 * the loop, the metrics, the DLQ, the clock and the one random source.
 *
 * The engine owns one struct trg_core for its lifetime and hands a pointer to it down to what it builds
 * (routes, functions); they read it and never write it. Tests inject the clock and the random source
 * (struct trg_core_hooks) to drive retries, backoff and record age deterministically.
 */
#ifndef TRG_CORE_H
#define TRG_CORE_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct trg_metrics;
struct trg_dlq;

/* Replacements for the clock and the random source; any member may be NULL (the real one is used). */
struct trg_core_hooks {
    int64_t (*wall_ms)(void *arg);  /* epoch milliseconds */
    int64_t (*mono_ms)(void *arg);  /* a monotonic clock in milliseconds */
    uint64_t (*random)(void *arg);  /* uniformly distributed 64-bit numbers */
    void *arg;
};

struct trg_core {
    struct ev_loop *loop;
    struct trg_metrics *metrics;
    struct trg_dlq *dlq;
    struct trg_core_hooks hooks;
    uint64_t rand_state;            /* the xorshift64* state when hooks.random is NULL */
    uint64_t ids;                   /* request ids made, mixed into each so they differ under any hook */
    bool stopping;                  /* shutting down: intake stopped, routes drain (set by the engine only) */
};

/* Fill core's clock and random source: hooks (may be NULL) over the real ones, the generator seeded by
 * getrandom() (else from the clock and seed_salt, any value that differs between processes). */
void trg_core_init(struct trg_core *core, struct ev_loop *loop, const struct trg_core_hooks *hooks,
                   uint64_t seed_salt);

/* The wall clock, read now. */
static inline int64_t trg_core_wall_ms(const struct trg_core *c)
{
    return c->hooks.wall_ms ? c->hooks.wall_ms(c->hooks.arg) : trg_wall_ms();
}
/* The wall clock as of this loop iteration (no clock read: the hot path's time of arrival). */
static inline int64_t trg_core_loop_ms(const struct trg_core *c)
{
    return c->hooks.wall_ms ? c->hooks.wall_ms(c->hooks.arg) : (int64_t)(ev_now(c->loop) * 1000.0);
}
static inline int64_t trg_core_mono_ms(const struct trg_core *c)
{
    return c->hooks.mono_ms ? c->hooks.mono_ms(c->hooks.arg) : trg_mono_ms();
}
/* A uniformly distributed 64-bit number: the one random source of the engine and its sources (backoff
 * and reconnect jitter, schedule spreading). Its signature is a trg_rand_fn (retry.h) over the core. */
uint64_t trg_core_random(void *core);
/* A request id (UUID v4 shape) from the core's random source, distinct from every other one this core
 * made even when an injected random source repeats itself. */
void trg_core_request_id(struct trg_core *c, char out[40]);

#endif
