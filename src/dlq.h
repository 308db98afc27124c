/* dlq.h — the dead-letter queue: where events that finally failed are kept (DESIGN.md §6).
 *
 * Two backends behind one interface: a Redis stream per route ({prefix}dlq:{route}, MAXLEN ~) when
 * redis is configured, else fsync'd JSON lines under state_dir (one file per route,
 * state_dir/dlq/ROUTE.jsonl). An entry is a Lambda on-failure destination record
 * (trg_dlq_record_build) with a "trigd" member that keeps what redrive needs.
 *
 * Every operation is asynchronous: it returns 0 and calls back exactly once, later, from the loop
 * (never from inside the call), or returns a negative enum trg_err and never calls back:
 * TRG_EINVAL for a bad route name (file backend: [A-Za-z0-9_.-], not starting with '.'), id or
 * record, TRG_ESTATE while Redis is disconnected (redis backend; pause and retry) or after destroy.
 *
 * Entry ids have the shape of Redis stream ids, "<ms>-<seq>", in both backends; they increase
 * within a route (the file backend continues after the largest id in the file after a restart).
 */
#ifndef TRG_DLQ_H
#define TRG_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct ev_loop;
struct trg_redis;

/* Why events went to the DLQ; the names are the `condition` field and a metric label. */
enum trg_dlq_condition {
    TRG_DLQ_RETRIES_EXHAUSTED,  /* "RetryAttemptsExhausted" */
    TRG_DLQ_AGE_EXCEEDED,       /* "EventAgeExceeded" */
    TRG_DLQ_PAYLOAD_TOO_LARGE,  /* "MaximumPayloadSizeExceeded" */
    TRG_DLQ_REJECTED,           /* "Rejected" */
};
const char *trg_dlq_condition_name(enum trg_dlq_condition c);

/* Everything a DLQ record says. Strings are borrowed. */
struct trg_dlq_info {
    const char *request_id;
    const char *function;
    const char *route;
    const char *source;
    enum trg_dlq_condition condition;
    int approximate_invoke_count;
    int status_code;             /* last HTTP status / exit status, -1 when none */
    const char *function_error;  /* NULL = none */
    const char *request_payload; /* the batch as the function receives it (JSON) */
    size_t request_payload_len;
    const char *response_payload; /* last response body, any bytes; truncated to 4 KB; may be NULL */
    size_t response_payload_len;
    const char *batch_info_key;   /* e.g. "KafkaBatchInfo"; NULL = none */
    const char *batch_info_json;  /* its JSON value */
    const char *const *records;   /* the events' JSON, for redrive */
    const size_t *record_lens;
    size_t n_records;
    int64_t timestamp_ms;
};
/* Append the record as one line of compact JSON (no newline):
 *   {"version":"1.0","timestamp":"<RFC 3339 ms>","requestContext":{"requestId","function","condition",
 *    "approximateInvokeCount"},"responseContext":{"statusCode","executedVersion":"$LATEST","functionError"},
 *    ["<batch_info_key>":<batch_info_json>,] "requestPayload":<payload>,"responsePayload":<response>,
 *    "trigd":{"route","source","records":[<record>...]}}
 * statusCode is omitted when < 0, functionError when NULL, responsePayload when response_payload is
 * NULL. JSON inputs (payload, records) are embedded as JSON, minified; input that is not JSON is
 * embedded as a JSON string (invalid UTF-8 replaced by U+FFFD). responsePayload is the response
 * parsed as JSON when it is JSON of at most 4096 bytes, else a JSON string of its first 4096 bytes
 * (cut at a UTF-8 boundary) followed by "..." when it was longer. timestamp_ms <= 0 = now;
 * request_id NULL = a new one. Returns TRG_EINVAL when batch_info_json is not JSON. */
int trg_dlq_record_build(const struct trg_dlq_info *info, struct trg_buf *out);

/* Where DLQ records are kept: the one numbering of the config's dlq.backend ("auto", "redis", "file", in
 * this order: config.c's table is indexed by it) and of trg_dlq_conf. */
enum trg_dlq_store {
    TRG_DLQ_BACKEND_AUTO = 0,  /* redis when there is a connection, else file */
    TRG_DLQ_BACKEND_REDIS = 1,
    TRG_DLQ_BACKEND_FILE = 2,
};
/* The backend `configured` means when a Redis connection exists (have_redis) or not: AUTO resolved. */
enum trg_dlq_store trg_dlq_backend_resolve(enum trg_dlq_store configured, bool have_redis);

struct trg_dlq_conf {
    enum trg_dlq_store backend; /* AUTO: resolved against redis (trg_dlq_backend_resolve) */
    const char *dir;           /* file backend: the directory for ROUTE.jsonl */
    int64_t max_len;           /* redis backend: MAXLEN ~ per stream */
};

struct trg_dlq;

/* redis is borrowed (required for the redis backend, else may be NULL) and must outlive the dlq. conf is
 * read during the call only. The file backend creates dir (mkdir -p, 0700) here.
 * Caller frees with trg_dlq_destroy(). */
int trg_dlq_create(struct ev_loop *loop, const struct trg_dlq_conf *conf, struct trg_redis *redis,
                   struct trg_dlq **out);
/* Every pending callback is called before this returns: finished file operations with their result,
 * Redis commands still in flight with TRG_ESTATE (their outcome is unknown). Safe from inside a
 * callback. NULL is a no-op. */
void trg_dlq_destroy(struct trg_dlq *d);

/* record must be JSON (len bytes). err is 0 once the record is durable (fsync'd / acknowledged by
 * Redis); id is the entry id, borrowed until the callback returns (NULL when err != 0). */
typedef void (*trg_dlq_put_cb)(void *arg, int err, const char *id);
int trg_dlq_put(struct trg_dlq *d, const char *route, const char *record, size_t len,
                trg_dlq_put_cb cb, void *arg);

struct trg_dlq_entry {
    char *id;
    char *record;  /* the JSON line */
    size_t len;
};
/* entries are borrowed until the callback returns. */
typedef void (*trg_dlq_list_cb)(void *arg, int err, const struct trg_dlq_entry *entries, size_t n);
/* Up to count (>= 1) entries with id > after (NULL = from the start), oldest first. entry.record
 * is the record as put (NUL-terminated). A route without entries gives err 0, n 0. */
int trg_dlq_list(struct trg_dlq *d, const char *route, const char *after, size_t count,
                 trg_dlq_list_cb cb, void *arg);
/* One entry by id (n = 0 and err TRG_ENOTFOUND when absent). */
int trg_dlq_get(struct trg_dlq *d, const char *route, const char *id, trg_dlq_list_cb cb, void *arg);
typedef void (*trg_dlq_done_cb)(void *arg, int err, long count);
/* Delete one entry (count = 1, or 0 when absent). */
int trg_dlq_delete(struct trg_dlq *d, const char *route, const char *id, trg_dlq_done_cb cb, void *arg);
/* Delete every entry of the route (count = how many). */
int trg_dlq_purge(struct trg_dlq *d, const char *route, trg_dlq_done_cb cb, void *arg);

#endif
