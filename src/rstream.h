/* rstream.h — a Redis stream consumer group reader on the libev loop, shared by the redis_stream source
 * and the engine's durable intake.
 *
 * Life: the group is created (XGROUP CREATE ... MKSTREAM; an existing group is fine) whenever the
 * reader's own connection (re)connects, so a stream deleted meanwhile comes back. New entries are read
 * with XREADGROUP ... BLOCK on that connection, which carries nothing else (a blocking read on the
 * shared connection would hold every other command's reply behind it); the read is re-issued after
 * each reply unless the reader is paused or max_inflight entries are out. Acks, claims and heartbeats
 * go over the shared connection.
 *
 * Every delivered entry is a message the consumer must end with trg_rstream_ack() (XACK, and XDEL when
 * asked) or trg_rstream_release() (left pending: reclaimed after visibility_timeout_ms, by this or
 * another replica). While a message is out, its idle time is reset every visibility_timeout_ms / 3
 * (XCLAIM ... JUSTID to ourselves), so a live replica's slow work is not reclaimed by another one.
 * Entries pending and idle longer than visibility_timeout_ms (a crashed replica's, or released ones)
 * are claimed at start and periodically (XPENDING IDLE, then XCLAIM), with their delivery count.
 */
#ifndef TRG_RSTREAM_H
#define TRG_RSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retry.h"

struct ev_loop;
struct trg_redis;
struct trg_redis_conf;
struct trg_event;

struct trg_rstream_conf {
    const char *stream;            /* the stream's key */
    const char *group;
    const char *consumer;
    const char *start;             /* where a new group starts: "$" (new entries) or "0" (all) */
    int64_t batch;                 /* COUNT of one read; <= 0 = 100 */
    int64_t max_inflight;          /* messages out at most (reading pauses); <= 0 = 1000 */
    int64_t visibility_timeout_ms; /* <= 0 = 30000 */
    const char *log_component;     /* for logs, e.g. "redis_stream" and the source's name */
    trg_rand_fn rnd;               /* the owner's random source, for the reader's own connection
                                    * (trg_redis_create); borrowed for the reader's lifetime */
    void *rnd_state;
    const char *log_instance;
};

/* One delivered entry, owned by the reader until it is acked or released. */
struct trg_rstream_msg;

struct trg_rstream_entry {
    struct trg_rstream_msg *msg;   /* end it with trg_rstream_ack() or trg_rstream_release() */
    const char *id;
    size_t n_fields;
    const char *const *fields;     /* n_fields each; binary safe with their lengths */
    const size_t *field_lens;
    const char *const *values;
    const size_t *value_lens;
    int64_t delivery_count;        /* 1 on the first delivery; more after a reclaim */
};

/* An entry arrived. Everything in en is borrowed until the callback returns, except en->msg. The
 * callback may ack or release the message at once. */
typedef void (*trg_rstream_cb)(void *arg, const struct trg_rstream_entry *en);

struct trg_rstream;

/* Prepare a reader: conf's strings are copied; redis_conf (for the reader's own connection) and shared
 * are borrowed for the reader's lifetime. Nothing is read before trg_rstream_start().
 * Caller frees with trg_rstream_destroy(). */
int trg_rstream_create(struct ev_loop *loop, const struct trg_redis_conf *redis_conf, struct trg_redis *shared,
                       const struct trg_rstream_conf *conf, trg_rstream_cb cb, void *arg, struct trg_rstream **out);
/* Connect its own connection and begin reading. */
int trg_rstream_start(struct trg_rstream *s);
/* Stop or resume reading (messages out are unaffected). */
void trg_rstream_pause(struct trg_rstream *s, bool paused);
/* The group exists and the reader's connection is up. */
bool trg_rstream_ready(const struct trg_rstream *s);
/* Messages out (delivered, not yet acked or released). */
size_t trg_rstream_inflight(const struct trg_rstream *s);
const char *trg_rstream_msg_id(const struct trg_rstream_msg *m);
/* XACK the message's entry (and XDEL it when del), and free msg. When Redis is unreachable the entry
 * stays pending and is redelivered after visibility_timeout_ms (at-least-once). */
void trg_rstream_ack(struct trg_rstream_msg *msg, bool del);
/* Leave the entry pending (it is reclaimed after visibility_timeout_ms) and free msg. */
void trg_rstream_release(struct trg_rstream_msg *msg);
/* Free the reader and its connection; messages still out are released. NULL is a no-op. Not from
 * inside the reader's own callback. */
void trg_rstream_destroy(struct trg_rstream *s);

/* The milliseconds part of a stream entry id ("1700000000000-3" -> 1700000000000); -1 when id is not
 * "<digits>-<digits>" or "<digits>". */
int64_t trg_rstream_id_ms(const char *id);

/* The one place an entry becomes an event (the redis_stream source's and the durable intake's): one
 * allocation (trg_event_new_packed_n) holding a copy of json (len bytes), item_id and order_key (with
 * their lengths; NULL: none); receive_count is the entry's delivery count (capped at 1000000) and
 * created_ms is created_ms, or when that is <= 0 the time in the entry id. en->msg stays the caller's
 * (it attaches it to the event as its owner expects). NULL when out of memory: then en->msg is released
 * (the entry stays pending and is redelivered later) and that is logged with the reader's names. */
struct trg_event *trg_rstream_event(const struct trg_rstream_entry *en, const char *json, size_t len,
                                    const char *item_id, size_t item_len, const char *order_key, size_t key_len,
                                    int64_t created_ms);

/* "host-pid": the default consumer name. Caller frees with trg_free(). */
char *trg_rstream_default_consumer(void);

#endif
