/* kafka.h — what the Kafka source's files share (private to connectors/kafka/): its options, its state
 * (struct kafka: the consumer, records out per partition, offsets, the on_failure producer), and the
 * functions one file calls in another. kafka.c is the consumer; kafka_partition.c a partition's records
 * (offsets stored behind finished records); kafka_conf.c the
 * options and librdkafka settings; kafka_batch.c the batch views; kafka_producer.c the on_failure producer.
 */
#ifndef TRG_KAFKA_H
#define TRG_KAFKA_H

#include <ev.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../connector.h"

#define KAFKA_DRAIN_MAX 2000 /* records and callbacks per loop pass, so other watchers get their turn */
#define KAFKA_SPENT 64       /* handed-on records let go of together (kafka_finish) */

enum kafka_start { KAFKA_TRIM_HORIZON, KAFKA_LATEST, KAFKA_AT_TIMESTAMP };
enum kafka_format { KAFKA_FORMAT_LAMBDA, KAFKA_FORMAT_MINIO };

struct kafka_opts {
    char *brokers;
    struct trg_strlist topics;
    char *group;
    char *client_id;
    int starting_position;
    int64_t starting_timestamp;
    int64_t parallelization;
    int format;
    int64_t commit_interval_ms;
    int64_t max_buffered;
    int64_t max_buffered_bytes;
    struct trg_kvlist rdkafka;
};

struct kafka;

/* One emitted record, in its partition's list until everything before it is done. A record the engine
 * holds by reference has none yet: it gets one when the engine hands it on (kafka_finish). */
struct krec {
    struct krec *next;
    struct kpart *p;
    int64_t offset;
    int64_t ts;
    bool done;
    bool abandoned;
};

/* A partition this instance holds or held: assigned, or revoked with records still out. */
struct kpart {
    struct kpart *next;
    struct kafka *k;
    char *topic;
    int32_t partition;
    char *tp;              /* "topic-partition" */
    struct krec *head, *tail;
    bool assigned;
    bool stuck;            /* past an abandoned (or lost) record: store nothing more */
    bool dirty;            /* store_next changed and is not stored yet */
    bool skip_ts;          /* AT_TIMESTAMP without a committed offset: skipping records before the timestamp */
    bool reset;            /* AT_TIMESTAMP without a committed offset: to restart at the oldest record */
    int64_t store_next;    /* the offset to store (first record not done) */
    int64_t next_offset;   /* the offset after the last record handed to the engine */
    int64_t fetch_next;    /* the offset after the last record polled (emitted, held or dropped), -1 unknown */
};

/* Events of one failed batch being produced to an on_failure topic: done once every delivery report is in. */
struct kfail {
    struct kfail *next;
    struct kafka *k;
    size_t pending;
    rd_kafka_resp_err_t err;
    trg_failure_cb done;
    void *arg;
    char *topic;
};

struct kafka {
    struct trg_source *src;
    const struct kafka_opts *opts;
    const char *name;
    struct ev_loop *loop;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int pipe_rd, pipe_wr;
    ev_io io;
    ev_prepare store;
    ev_timer commit;
    struct kpart *parts;
    /* the partition of the last record polled (on_message), and of the last one handed on (kafka_finish) */
    struct kpart_cache { struct kpart *p; const rd_kafka_topic_t *rkt; } polled, handed;
    struct trg_pool recs;       /* struct krec */
    rd_kafka_message_t *spent[KAFKA_SPENT]; /* handed on, not destroyed yet */
    int n_spent;
    struct trg_buf scratch, scratch_id, scratch_key; /* a record's json, item id and order key being built */
    bool started, stopping, paused_kafka, joined, need_commit, need_reset;
    /* the producer for on_failure "kafka://TOPIC", created at the first failure; its main queue (delivery
     * reports, logs, errors) signals pprd/ppwr, drained with rd_kafka_poll(prk, 0) on the loop */
    rd_kafka_t *prk;
    rd_kafka_queue_t *pqueue;
    int ppipe_rd, ppipe_wr;
    ev_io pio;
    struct kfail *fails;
    bool destroying;
    uint64_t rebalances, commits;
    int64_t queued_min; /* librdkafka's queued.min.messages */
    bool fetch_idle;    /* the consumer queue reached queued.min.messages: librdkafka stopped fetching */
};

/* The option table (kafka_conf.c): KAFKA_N_OPTIONS entries, which kafka_conf.c asserts. */
#define KAFKA_N_OPTIONS 12
extern const struct trg_opt trg_kafka_options[];
/* The librdkafka settings of opts (caller frees with rd_kafka_conf_destroy()); NULL when rdkafka refuses a
 * key, each added to errs (may be NULL) under path. */
rd_kafka_conf_t *trg_kafka_build_conf(const struct kafka_opts *o, const char *path, struct trg_errs *errs);
/* ops->check: keys trigd owns, topics, starting_timestamp, and what rdkafka refuses. */
void trg_kafka_check(const void *opts, const char *path, struct trg_errs *errs);

/* Partitions (kafka_partition.c). The assigned partition topic/partition, or NULL. */
struct kpart *trg_kafka_part_find(struct kafka *k, const char *topic, int32_t partition);
/* A new assigned partition at the front of k->parts; NULL when out of memory. */
struct kpart *trg_kafka_part_add(struct kafka *k, const char *topic, int32_t partition);
/* Take p off k->parts; free it (its records out go back to the pool). */
void trg_kafka_part_unlink(struct kafka *k, struct kpart *p);
void trg_kafka_part_free(struct kpart *p);
/* Pop the finished prefix of p's records and schedule storing the offset after it; a revoked partition
 * with nothing out is freed. */
void trg_kafka_part_advance(struct kpart *p);
/* Store the offsets of every changed assigned partition in one call (k->store, an ev_prepare, runs
 * trg_kafka_store_cb once per loop pass). */
void trg_kafka_store_offsets(struct kafka *k);
void trg_kafka_store_cb(struct ev_loop *loop, ev_prepare *w, int revents);
/* Store, then commit what was stored (sync: wait for the answer). */
void trg_kafka_commit(struct kafka *k, bool sync);
/* The lag gauges, from the cached high watermarks, and the paused-partitions gauge. */
void trg_kafka_update_lag(struct kafka *k);


/* The batch views (kafka_batch.c): ops->envelope, ops->batch_info, ops->filter_view. */
int trg_kafka_source_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out);
int trg_kafka_source_batch_info(void *inst, struct trg_event *const *evs, size_t n, size_t payload_size,
                                const char **key, struct trg_buf *out);
cJSON *trg_kafka_source_filter_view(void *inst, const struct trg_event *ev);

/* librdkafka's error and log callbacks, for the consumer's and the producer's handles (kafka.c). */
void trg_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
void trg_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/* ops->on_failure: produce n failed records to the topic of target ("kafka://TOPIC") (kafka_producer.c). */
int trg_kafka_on_failure(void *inst, const char *target, struct trg_event *const *evs, size_t n,
                         const struct trg_failure_info *info, trg_failure_cb done, void *arg);

#endif
