/* dlq.h — the dead-letter queue: where events that finally failed are kept (DESIGN.md §6).
 *
 * Two backends behind one interface: a Redis stream per route ({prefix}dlq:{route}, MAXLEN ~) when
 * redis is configured, else fsync'd JSON lines under state_dir (one file per route,
 * state_dir/dlq/ROUTE.jsonl). An entry is a Lambda on-failure destination record
 * (trg_dlq_record_build) with a "trigd" member that keeps what redrive needs.
 *
 * Every operation is asynchronous and calls back exactly once, later, from the loop.
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
/* Append the record as one line of compact JSON (no newline). responsePayload is the response
 * parsed as JSON when it is JSON, else a JSON string; truncated responses are strings ending "...". */
int trg_dlq_record_build(const struct trg_dlq_info *info, struct trg_buf *out);

struct trg_dlq_conf {
    int backend;               /* 0 = file, 1 = redis */
    const char *dir;           /* file backend: the directory for ROUTE.jsonl */
    int64_t max_len;           /* redis backend: MAXLEN ~ per stream */
};

struct trg_dlq;

/* redis is borrowed (required for the redis backend, else NULL). */
int trg_dlq_create(struct ev_loop *loop, const struct trg_dlq_conf *conf, struct trg_redis *redis,
                   struct trg_dlq **out);
void trg_dlq_destroy(struct trg_dlq *d); /* pending callbacks are called with TRG_ESTATE */

/* err is 0 once the record is durable (fsync'd / acknowledged by Redis). id is the entry id
 * (a Redis stream id, or "LINE-N" style id for files), borrowed until the callback returns. */
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
/* Up to count entries with id > after (NULL = from the start), oldest first. */
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
