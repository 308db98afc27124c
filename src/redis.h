/* redis.h — trigd's one shared asynchronous Redis connection (hiredis async on the libev loop).
 *
 * Connects from redis.url, authenticates (ACL user and password), selects the db, and reconnects
 * with capped backoff and jitter when the link drops; each failure is logged once with what to
 * check. Commands issued while disconnected fail at once with TRG_ESTATE so callers can pause.
 */
#ifndef TRG_REDIS_H
#define TRG_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opt.h"

struct ev_loop;
struct redisReply;

struct trg_redis_conf {
    char *url;              /* redis://[user[:password]@]host:port/db or unix:///path */
    char *password;         /* from password_env / password_file; overrides the URL's */
    char *prefix;           /* key prefix, default "trigd:" */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
};
extern const struct trg_opt trg_redis_options[];
extern const size_t trg_redis_n_options;

struct trg_redis;

/* Parse conf and prepare; the first connection attempt starts at once, asynchronously. conf is
 * borrowed for the connection's lifetime. */
int trg_redis_create(struct ev_loop *loop, const struct trg_redis_conf *conf, struct trg_redis **out);
void trg_redis_destroy(struct trg_redis *r); /* pending callbacks are called with reply NULL */
bool trg_redis_connected(const struct trg_redis *r);
const char *trg_redis_prefix(const struct trg_redis *r);
/* Called with connected = true/false on every change (one listener per arg). */
void trg_redis_on_state(struct trg_redis *r, void (*fn)(void *arg, bool connected), void *arg);

/* reply is NULL on a connection error or timeout; it is borrowed until the callback returns.
 * A Redis error reply has type REDIS_REPLY_ERROR. */
typedef void (*trg_redis_cb)(void *arg, struct redisReply *reply);
/* Send a command given as argv (binary safe). Returns 0, or TRG_ESTATE when not connected (cb not called). */
int trg_redis_command(struct trg_redis *r, trg_redis_cb cb, void *arg, int argc, const char **argv,
                      const size_t *argvlen);

/* Parse a redis URL (exposed for unit tests). Outputs are allocated; caller frees with trg_free(). */
int trg_redis_parse_url(const char *url, char **host, int *port, char **unix_path, char **user,
                        char **password, int *db);

#endif
