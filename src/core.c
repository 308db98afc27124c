/* core.c — the engine's clock and random source, real or injected. */
#include "core.h"

#include <sys/random.h>

#include "retry.h"

void trg_core_init(struct trg_core *core, struct ev_loop *loop, const struct trg_core_hooks *hooks,
                   uint64_t seed_salt)
{
    core->loop = loop;
    if (hooks)
        core->hooks = *hooks;
    if (getrandom(&core->rand_state, sizeof core->rand_state, GRND_NONBLOCK) != (ssize_t)sizeof core->rand_state)
        core->rand_state = (uint64_t)trg_wall_ms() * 2654435761u ^ seed_salt;
    if (!core->rand_state)
        core->rand_state = 1;
}

uint64_t trg_core_random(void *core)
{
    struct trg_core *c = core;
    return c->hooks.random ? c->hooks.random(c->hooks.arg) : trg_rand_xorshift(&c->rand_state);
}

void trg_core_request_id(struct trg_core *c, char out[40])
{
    uint64_t hi = trg_core_random(c);
    trg_request_id_from(hi, trg_core_random(c) ^ ++c->ids, out);
}
