/* redis.h — trigd's one shared asynchronous Redis connection (hiredis async on the libev loop).
 *
 * Connects from redis.url, authenticates (ACL user and password), selects the db, and reconnects
 * with capped backoff and full jitter (100 ms .. 5 s) when the link drops or a connect fails; the
 * first failure of a streak is logged once at warn with what to check, the recovery at info.
 * Commands issued while disconnected fail at once with TRG_ESTATE so callers can pause.
 *
 * hiredis 0.14 has no command timeout of its own: a command older than command_timeout_ms tears
 * the link down (every pending callback gets reply NULL) and a reconnect follows.
 */
#ifndef TRG_REDIS_H
#define TRG_REDIS_H

#include "retry.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opt.h"

struct ev_loop;
struct redisReply;

/* The config's top-level "redis" object (trg_redis_options fills it; free with trg_opt_free()). */
struct trg_redis_conf {
    char *url;              /* redis://[user[:password]@]host[:port][/db] or unix:///path[?db=N] */
    char *password;         /* from password_env / password_file; overrides the URL's */
    char *prefix;           /* key prefix, default "trigd:" (NULL = "trigd:") */
    int64_t connect_timeout_ms; /* TCP connect + AUTH + SELECT; <= 0 = 2000 */
    int64_t command_timeout_ms; /* <= 0 = 5000 */
    int64_t intake_visibility_timeout_ms; /* durable intake: reclaim entries pending this long; <= 0 = 30000 */
};
extern const struct trg_opt trg_redis_options[];
extern const size_t trg_redis_n_options;
/* Check what trg_opt_apply() cannot: the URL's scheme, host, port (1-65535) and db, and that a user
 * has a password. Adds "PATH.url: ..." errors (the URL shown redacted) to errs. */
void trg_redis_check(const struct trg_redis_conf *conf, const char *path, struct trg_errs *errs);

struct trg_redis;

/* Parse conf and prepare; the first connection attempt starts at once, asynchronously. conf is
 * borrowed for the connection's lifetime. The jitter of reconnect delays comes from rnd(rnd_state): the
 * owner's random source (the engine's, trg_core_random), borrowed for the connection's lifetime; NULL
 * only where no owner has one (tools, unit tests): then the operating system's (trg_random_bytes).
 * Returns TRG_EINVAL for a bad URL (logged). Caller frees with trg_redis_destroy(). */
int trg_redis_create(struct ev_loop *loop, const struct trg_redis_conf *conf, trg_rand_fn rnd, void *rnd_state,
                     struct trg_redis **out);
/* Safe at any point, also while connecting and from inside a command callback or a state
 * listener. Every pending command callback is called with reply NULL before this returns;
 * listeners are not called. NULL is a no-op. */
void trg_redis_destroy(struct trg_redis *r);
/* True once connected, authenticated and the db selected. */
bool trg_redis_connected(const struct trg_redis *r);
const char *trg_redis_prefix(const struct trg_redis *r);
/* Called with connected = true/false on every change (one listener per arg: a second call with the
 * same arg replaces the first; fn NULL removes it). Listeners are not called from inside this call. */
void trg_redis_on_state(struct trg_redis *r, void (*fn)(void *arg, bool connected), void *arg);

/* Commands sent and not yet answered (shutdown waits for acks to reach Redis). */
size_t trg_redis_pending(const struct trg_redis *r);

/* reply is NULL on a connection error or timeout; it is borrowed until the callback returns.
 * A Redis error reply has type REDIS_REPLY_ERROR. */
typedef void (*trg_redis_cb)(void *arg, struct redisReply *reply);
/* Send a command given as argv (binary safe; argvlen NULL = strlen of each). Returns 0 (cb is
 * called exactly once, later), or TRG_ESTATE when not connected (cb not called). */
int trg_redis_command(struct trg_redis *r, trg_redis_cb cb, void *arg, int argc, const char **argv,
                      const size_t *argvlen);

/* Parse a redis URL (exposed for unit tests). Outputs are allocated (NULL when absent: host for
 * unix sockets, unix_path for TCP, user, password); caller frees with trg_free(). port defaults to
 * 6379, db to 0; user and password are percent-decoded. Returns TRG_EINVAL on a bad URL. */
int trg_redis_parse_url(const char *url, char **host, int *port, char **unix_path, char **user,
                        char **password, int *db);

#endif
