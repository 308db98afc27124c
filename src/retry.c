/* retry.c — backoff delays. */
#include "retry.h"

/* min(max_ms, base_ms * 2^attempt), without overflow. */
static int64_t cap_ms(int attempt, int64_t base_ms, int64_t max_ms)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    if (attempt < 0)
        attempt = 0;
    int64_t cap = base_ms;
    for (int i = 0; i < attempt && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    return cap > max_ms ? max_ms : cap;
}

int64_t trg_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, trg_rand_fn rnd, void *state)
{
    int64_t cap = cap_ms(attempt, base_ms, max_ms);
    return (int64_t)(rnd(state) % ((uint64_t)cap + 1));
}

int64_t trg_reconnect_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, trg_rand_fn rnd, void *state)
{
    int64_t cap = cap_ms(attempt, base_ms, max_ms);
    if (cap < 2)
        return cap;
    return cap / 2 + (int64_t)(rnd(state) % (uint64_t)(cap - cap / 2 + 1));
}

int64_t trg_throttle_delay_ms(int attempt, int64_t retry_after_ms, int64_t base_ms, int64_t max_ms,
                              trg_rand_fn rnd, void *state)
{
    int64_t d = trg_backoff_ms(attempt, base_ms, max_ms, rnd, state);
    if (retry_after_ms > d)
        d = retry_after_ms;
    return d > max_ms ? max_ms : d;
}

uint64_t trg_rand_xorshift(void *state)
{
    uint64_t *s = state;
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}
