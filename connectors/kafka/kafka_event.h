/* kafka_event.h — private to connectors/kafka: the pure pieces of the Kafka source (record JSON as
 * Lambda's self-managed Kafka event has it, the batch envelope, the filter view, KafkaBatchInfo, the
 * key hash of parallelization), kept apart from librdkafka so unit tests can call them.
 */
#ifndef TRG_KAFKA_EVENT_H
#define TRG_KAFKA_EVENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "../connector.h"

enum trg_kafka_ts_type {
    TRG_KAFKA_TS_NONE = 0,        /* NO_TIMESTAMP_TYPE */
    TRG_KAFKA_TS_CREATE = 1,      /* CREATE_TIME */
    TRG_KAFKA_TS_LOG_APPEND = 2,  /* LOG_APPEND_TIME */
};

struct trg_kafka_header {
    const char *name;
    const void *value;  /* NULL = a null header value (sent as []) */
    size_t len;
};

/* One consumed record, borrowed. */
struct trg_kafka_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;  /* ms since the epoch; -1 = none */
    int ts_type;        /* enum trg_kafka_ts_type */
    const void *key;    /* NULL = null key: "key" is left out */
    size_t key_len;
    const void *value;  /* NULL = null value (tombstone): "value" is left out */
    size_t value_len;
    const struct trg_kafka_header *headers;
    size_t n_headers;
};

/* Append the record object as Lambda sends it:
 * {"topic":"t","partition":0,"offset":15,"timestamp":1545084650987,"timestampType":"CREATE_TIME",
 *  "key":"<base64>","value":"<base64>","headers":[{"name":[98,121,116,101,115]}]} */
int trg_kafka_record_json(const struct trg_kafka_record *r, struct trg_buf *out);

/* Append {"eventSource":"SelfManagedKafka","bootstrapServers":"...","records":{"<tp>":[r0,r1,...]}}
 * where records[i] are record objects (lens[i] bytes each) of the partition named tp ("topic-0"). */
int trg_kafka_envelope(const char *bootstrap, const char *tp, const char *const *records, const size_t *lens,
                       size_t n, struct trg_buf *out);

/* What filter patterns see of a record object: topic, partition, offset, timestamp, key (decoded to
 * text), value (decoded, parsed as JSON when it is JSON, else text) and headers ({"name":"text"}).
 * NULL on ENOMEM or a record that is not one of ours. Caller frees with cJSON_Delete(). */
cJSON *trg_kafka_filter_view(const char *json, size_t len);

/* KafkaBatchInfo of n records of partition tp: {"batchSize":n,"bootstrapServers":"...","payloadSize":bytes,
 * "recordsInfo":{"<tp>":{"firstRecordOffset":..,"lastRecordOffset":..,"firstRecordTimestamp":"RFC 3339",
 * "lastRecordTimestamp":"RFC 3339"}}}. offsets/timestamps are the first and last record's. */
int trg_kafka_batch_info(const char *bootstrap, const char *tp, size_t n, size_t payload_size,
                         int64_t first_offset, int64_t last_offset, int64_t first_ts, int64_t last_ts,
                         struct trg_buf *out);

/* Which of n lanes a key goes to (parallelization): FNV-1a of the key bytes mod n; a null key is lane 0. */
unsigned trg_kafka_key_lane(const void *key, size_t len, unsigned n);

#endif
