/* retry.h — capped exponential backoff with full jitter (retries) or equal jitter (reconnects): the one
 * backoff of trigd, as pure functions.
 *
 * delay = random in [0, min(max_ms, base_ms * 2^attempt)] — "full jitter": retries of many failing
 * batches spread out instead of hitting a recovering function in waves. The random source is injected
 * so tests are deterministic.
 */
#ifndef TRG_RETRY_H
#define TRG_RETRY_H

#include <stdint.h>

/* A source of uniformly distributed 64-bit random numbers. */
typedef uint64_t (*trg_rand_fn)(void *state);

/* Delay before retry number `attempt` (0 = the first retry). base_ms >= 1, max_ms >= base_ms. */
int64_t trg_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, trg_rand_fn rnd, void *state);

/* The delay before reconnect number `attempt` (0 = the first) of a connection that failed: random in
 * [cap/2, cap] with the same cap ("equal jitter": never at once, so a server that refuses is not hammered;
 * MQTT, MinIO's listen stream). */
int64_t trg_reconnect_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, trg_rand_fn rnd, void *state);

/* The delay for a throttled invocation: the larger of the backoff and the function's Retry-After
 * (retry_after_ms < 0 when absent), capped at max_ms. */
int64_t trg_throttle_delay_ms(int attempt, int64_t retry_after_ms, int64_t base_ms, int64_t max_ms,
                              trg_rand_fn rnd, void *state);

/* A xorshift64* generator for production use; state must be non-zero. */
uint64_t trg_rand_xorshift(void *state);

#endif
