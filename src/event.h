/* event.h — one record handed to trigd by a source.
 *
 * A source fills the public fields, hands the event to the engine with trg_source_emit(), and
 * hears about it once more, in its ops->done callback, when the event has reached a final
 * outcome on every route it was routed to (or was abandoned at shutdown). The engine frees it
 * after done returns.
 */
#ifndef TRG_EVENT_H
#define TRG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trg_buf;
struct trg_source;
struct trg_rstream_msg;

struct trg_event {
    /* Set by the source. Strings are owned by the event and freed with it. */
    char *json;          /* the record as the function receives it: one element of the batch */
    size_t len;
    char *item_id;       /* batchItemFailures identifier (messageId, sequence number, ...); NULL = none */
    char *order_key;     /* events with the same key are processed in order; NULL = no order */
    int64_t created_ms;  /* when the record was created (wall clock), for max_record_age_s */
    void *token;         /* the source's own, untouched by the engine (offset, message id...) */
    int receive_count;   /* deliveries of this record so far, this one included (a queue's delivery count);
                          * 0 or 1 = first. Counts as receive_count - 1 failed attempts already made. */
    int max_receives;    /* > 0: the record goes to the DLQ once it was received more often than this, or
                          * failed this many times (the source's max_receive_count) */
    bool no_intake;      /* with durable intake: do not queue this one in Redis (a synchronous request) */
    bool packed;         /* made by trg_event_new_packed: the strings live in the event's own block */

    /* Engine-private below. */
    struct trg_source *src;
    uint64_t seq;        /* arrival order, unique per process */
    unsigned refs;       /* routes still holding the event */
    int status;          /* worst outcome across routes (enum trg_done_status) */
    struct trg_event *next;        /* in the engine's queue of events to hand back to their source */
    struct trg_event *accept_next; /* in the engine's queue of events to confirm to their source */
    int accept_pending;            /* in that queue: accepted must reach the source before done */
    void *intake;                  /* read from a route's durable intake stream (intake.c) */
    struct trg_rstream_msg *intake_msg;
};

/* Append prefix, the json of the n events separated by commas, and suffix to out (a batch envelope such as
 * {"Records":[...]}). Returns 0 or TRG_ENOMEM. */
int trg_event_join(struct trg_buf *out, const char *prefix, struct trg_event *const *evs, size_t n,
                   const char *suffix);

/* A new event that takes ownership of json (len bytes, NUL-terminated). NULL on ENOMEM, and then
 * json is freed too. created_ms defaults to now. */
struct trg_event *trg_event_new(char *json, size_t len);
/* A new event in one allocation, for a source's hot path: copies of json (len bytes), item_id and
 * order_key (each may be NULL) are kept in the event's own block, followed by token_size zeroed bytes
 * that ev->token points to (NULL when 0). The strings must not be freed or replaced. created_ms is 0:
 * set it, or trg_source_emit() sets it to the time of emit. NULL on ENOMEM. */
struct trg_event *trg_event_new_packed(const char *json, size_t len, const char *item_id, const char *order_key,
                                       size_t token_size);
/* The same with item_id and order_key given with their lengths (binary safe; NULL: none). */
struct trg_event *trg_event_new_packed_n(const char *json, size_t len, const char *item_id, size_t item_len,
                                         const char *order_key, size_t key_len, size_t token_size);
/* A new event with a copy of json. */
struct trg_event *trg_event_new_copy(const char *json, size_t len);
void trg_event_free(struct trg_event *ev);   /* NULL is a no-op */

/* A MinIO bucket notification ({"EventName","Key","Records":[...]}, len bytes, read from Kafka or MQTT)
 * as the S3 event {"Records":[...]}, appended to out. TRG_EINVAL when value (NULL too) is not JSON with
 * a non-empty "Records" array; TRG_ENOMEM. */
int trg_event_minio_records(const void *value, size_t len, struct trg_buf *out);
/* n S3 events as trg_event_minio_records() wrote them merged into one {"Records":[...]}, their Records
 * concatenated in order. TRG_EINVAL when one is not of that shape. */
int trg_event_minio_merge(const char *const *events, const size_t *lens, size_t n, struct trg_buf *out);

#endif
