/* mqtt_event.h — private to connectors/mqtt: the pure parts of the MQTT source (URL parsing, event
 * records, the IoT-rule single-message form, batch and MinIO envelopes, filter views, replies),
 * kept apart from the libmosquitto glue so cmocka can test them.
 */
#ifndef TRG_MQTT_EVENT_H
#define TRG_MQTT_EVENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../connector.h"

/* mqtt://host[:port] or mqtts://host[:port] (IPv6 as [::1]). *host is a new string (caller frees
 * with trg_free()); the port defaults to 1883, or 8883 for mqtts. TRG_EINVAL when malformed. */
int trg_mqtt_parse_url(const char *url, char **host, int *port, bool *tls);

/* One received message, everything borrowed. */
struct trg_mqtt_msg {
    const char *topic;
    const void *payload;
    size_t len;
    int qos;
    bool retain;
    int64_t timestamp_ms;         /* when trigd received it */
    const char *message_id;       /* trigd's id for it (batchItemFailures), may be NULL */
    /* MQTT v5 properties; NULL / 0 / -1 when absent */
    const char *const *user_keys; /* n_user pairs, order kept, repeats allowed */
    const char *const *user_values;
    size_t n_user;
    const char *content_type;
    const void *correlation;
    size_t correlation_len;
    const char *response_topic;
    int64_t expiry_s;             /* message expiry interval left, -1 = none */
};

/* The record of one message, as an element of a batch's "records":
 *   {"messageId","topic","qos","retain","timestamp","payload","isBase64Encoded","properties":{...}}
 * payload is the JSON value itself when the payload is JSON, else its base64 with isBase64Encoded. */
int trg_mqtt_record(const struct trg_mqtt_msg *m, struct trg_buf *out);

/* Which record keys `include` may name. */
bool trg_mqtt_include_known(const char *key);

/* The IoT-rule form of one record: the payload itself when it is JSON (a JSON object gets the
 * `include` keys merged in), else {"payload": base64, "isBase64Encoded": true, ...include keys}. */
int trg_mqtt_single(const char *record, size_t len, const char *const *include, size_t n_include,
                    struct trg_buf *out);

/* {"eventSource":"trigd:mqtt","records":[record,...]} */
int trg_mqtt_batch(const char *const *records, const size_t *lens, size_t n, struct trg_buf *out);

/* What filters see of a record: {"topic","qos","payload"} with payload parsed when it is JSON
 * (a base64 string otherwise). NULL when record is not a record. Caller frees with cJSON_Delete(). */
cJSON *trg_mqtt_filter_view(const char *record, size_t len);

/* The payload alone (decoded when base64), for routes with "envelope": "raw". */
int trg_mqtt_raw(const char *record, size_t len, struct trg_buf *out);

/* The reply target of a record: its v5 response topic (*topic, caller frees with trg_free()) and
 * correlation data (decoded into corr). 0 when there is one, TRG_ENOTFOUND when there is none. */
int trg_mqtt_reply_target(const char *record, size_t len, char **topic, struct trg_buf *corr);

#endif
