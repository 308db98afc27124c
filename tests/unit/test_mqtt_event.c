/* test_mqtt_event.c — the pure parts of the MQTT source: URLs, records (JSON and binary payloads, v5
 * properties, repeated user properties), the IoT-rule single form with include, batch and MinIO
 * envelopes, filter views, raw payloads, and reply targets (the reconnect backoff is
 * retry.c's: test_retry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "connectors/mqtt/mqtt_event.h"
#include "src/event.h"

static char *record_of(const struct trg_mqtt_msg *m)
{
    struct trg_buf b = {0};
    assert_int_equal(trg_mqtt_record(m, &b), 0);
    return trg_buf_steal(&b);
}

static void assert_json_eq(const char *got, const char *want)
{
    cJSON *g = cJSON_Parse(got), *w = cJSON_Parse(want);
    if (!g || !w || !cJSON_Compare(g, w, true))
        fail_msg("JSON differs:\n got  %s\n want %s", got, want);
    cJSON_Delete(g);
    cJSON_Delete(w);
}

static void test_url(void **state)
{
    char *host;
    int port;
    bool tls;
    (void)state;

    assert_int_equal(trg_mqtt_parse_url("mqtt://broker", &host, &port, &tls), 0);
    assert_string_equal(host, "broker");
    assert_int_equal(port, 1883);
    assert_false(tls);
    trg_free(host);
    assert_int_equal(trg_mqtt_parse_url("mqtts://b.example:8884/", &host, &port, &tls), 0);
    assert_string_equal(host, "b.example");
    assert_int_equal(port, 8884);
    assert_true(tls);
    trg_free(host);
    assert_int_equal(trg_mqtt_parse_url("mqtts://[::1]", &host, &port, &tls), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8883);
    trg_free(host);
    const char *bad[] = {"http://x", "mqtt://", "mqtt://x:0", "mqtt://x:70000", "mqtt://x:1a", "mqtt://[::1",
                         "mqtt://x/path", NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(trg_mqtt_parse_url(bad[i], &host, &port, &tls), TRG_EINVAL);
        assert_null(host);
    }
}

static void test_record_json_payload(void **state)
{
    const char *payload = " {\"temp\": 21.5, \"id\": 12345678901234567890}\n";
    struct trg_mqtt_msg m = {.topic = "sensors/a/temp", .payload = payload, .len = strlen(payload), .qos = 1,
                             .timestamp_ms = 1749893467563LL, .message_id = "m1", .expiry_s = -1};
    char *r = record_of(&m);
    /* the payload's own text is kept: the big integer is not re-printed through a double */
    assert_non_null(strstr(r, "{\"payload\":{\"temp\": 21.5, \"id\": 12345678901234567890},"));
    assert_json_eq(r, "{\"payload\":{\"temp\":21.5,\"id\":12345678901234567890},\"isBase64Encoded\":false,"
                      "\"messageId\":\"m1\",\"topic\":\"sensors/a/temp\",\"qos\":1,\"retain\":false,"
                      "\"timestamp\":1749893467563,\"properties\":{}}");
    trg_free(r);
}

/* What cJSON reads and JSON does not (0123, a raw line feed in a string, invalid UTF-8, a NUL) goes as
 * base64: embedded as JSON it would make the function's whole batch invalid JSON. */
static void test_record_lenient_json_as_base64(void **state)
{
    static const struct {
        const char *p;
        size_t len;
    } bad[] = {{"0123", 4}, {"\"a\nb\"", 5}, {"[\"\xff\"]", 5}, {"1\0x", 3}, {"[+1]", 4}, {"{\"a\":1.}", 8}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct trg_mqtt_msg m = {.topic = "t", .payload = bad[i].p, .len = bad[i].len, .qos = 0,
                                 .timestamp_ms = 1, .expiry_s = -1};
        char *r = record_of(&m);
        if (!strstr(r, "\"isBase64Encoded\":true"))
            fail_msg("payload %zu embedded as JSON: %s", i, r);
        trg_free(r);
    }
    struct trg_mqtt_msg ok = {.topic = "t", .payload = "[0, -1.5e3, \"\\n\"]", .len = 17, .expiry_s = -1};
    char *r = record_of(&ok);
    assert_non_null(strstr(r, "\"isBase64Encoded\":false"));
    trg_free(r);
}

static void test_record_binary_and_properties(void **state)
{
    const char *keys[] = {"a", "b", "a"}, *values[] = {"1", "2", "3"};
    struct trg_mqtt_msg m = {.topic = "t/\"q\"", .payload = "\x00\xff", .len = 2, .qos = 2, .retain = true,
                             .timestamp_ms = 5, .user_keys = keys, .user_values = values, .n_user = 3,
                             .content_type = "application/octet-stream", .correlation = "id-7", .correlation_len = 4,
                             .response_topic = "replies/x", .expiry_s = 60};
    char *r = record_of(&m);
    (void)state;
    assert_json_eq(r, "{\"payload\":\"AP8=\",\"isBase64Encoded\":true,\"topic\":\"t/\\\"q\\\"\",\"qos\":2,"
                      "\"retain\":true,\"timestamp\":5,\"properties\":{\"userProperties\":{\"a\":[\"1\",\"3\"],"
                      "\"b\":\"2\"},\"contentType\":\"application/octet-stream\",\"correlationData\":\"aWQtNw==\","
                      "\"responseTopic\":\"replies/x\",\"messageExpiryInterval\":60}}");

    char *topic;
    struct trg_buf corr = {0};
    assert_int_equal(trg_mqtt_reply_target(r, strlen(r), &topic, &corr), 0);
    assert_string_equal(topic, "replies/x");
    assert_int_equal(corr.len, 4);
    assert_memory_equal(corr.data, "id-7", 4);
    trg_free(topic);
    trg_buf_free(&corr);

    struct trg_buf raw = {0};
    assert_int_equal(trg_mqtt_raw(r, strlen(r), &raw), 0);
    assert_int_equal(raw.len, 2);
    assert_memory_equal(raw.data, "\x00\xff", 2);
    trg_buf_free(&raw);
    trg_free(r);

    /* no response topic: nobody to answer; an empty payload is binary */
    struct trg_mqtt_msg e = {.topic = "x", .payload = "", .len = 0, .expiry_s = -1};
    r = record_of(&e);
    assert_int_equal(trg_mqtt_reply_target(r, strlen(r), &topic, &corr), TRG_ENOTFOUND);
    assert_null(topic);
    assert_non_null(strstr(r, "{\"payload\":\"\",\"isBase64Encoded\":true"));
    trg_buf_free(&corr);
    trg_free(r);
}

static void test_single(void **state)
{
    const char *inc[] = {"topic", "qos", "properties"};
    struct trg_buf b = {0};
    (void)state;

    struct trg_mqtt_msg m = {.topic = "a/b", .payload = "{\"x\":1}", .len = 7, .qos = 1, .expiry_s = -1};
    char *r = record_of(&m);
    assert_int_equal(trg_mqtt_single(r, strlen(r), inc, 0, &b), 0);
    assert_string_equal(b.data, "{\"x\":1}"); /* SELECT *: the payload itself */
    trg_buf_reset(&b);
    assert_int_equal(trg_mqtt_single(r, strlen(r), inc, 2, &b), 0);
    assert_string_equal(b.data, "{\"x\":1,\"topic\":\"a/b\",\"qos\":1}");
    trg_buf_reset(&b);
    trg_free(r);

    struct trg_mqtt_msg empty = {.topic = "a/b", .payload = "{ }", .len = 3, .expiry_s = -1};
    r = record_of(&empty);
    assert_int_equal(trg_mqtt_single(r, strlen(r), inc, 1, &b), 0);
    assert_string_equal(b.data, "{ \"topic\":\"a/b\"}");
    trg_buf_reset(&b);
    trg_free(r);

    struct trg_mqtt_msg arr = {.topic = "a", .payload = "[1,2]", .len = 5, .expiry_s = -1};
    r = record_of(&arr);
    assert_int_equal(trg_mqtt_single(r, strlen(r), inc, 2, &b), 0);
    assert_string_equal(b.data, "[1,2]");
    trg_buf_reset(&b);
    trg_free(r);

    struct trg_mqtt_msg text = {.topic = "a", .payload = "hello", .len = 5, .expiry_s = -1};
    r = record_of(&text);
    assert_int_equal(trg_mqtt_single(r, strlen(r), inc, 3, &b), 0);
    assert_string_equal(b.data, "{\"payload\":\"aGVsbG8=\",\"isBase64Encoded\":true,\"topic\":\"a\",\"qos\":0,"
                                "\"properties\":{}}");
    trg_buf_free(&b);
    trg_free(r);

    assert_true(trg_mqtt_include_known("retain"));
    assert_false(trg_mqtt_include_known("clientid"));
    assert_int_equal(trg_mqtt_single("{\"x\":1}", 7, inc, 0, &b), TRG_EINVAL);
}

static void test_batch_and_view(void **state)
{
    struct trg_mqtt_msg m1 = {.topic = "s/1", .payload = "{\"t\":30}", .len = 8, .qos = 1, .expiry_s = -1};
    struct trg_mqtt_msg m2 = {.topic = "s/2", .payload = "raw", .len = 3, .expiry_s = -1};
    char *r1 = record_of(&m1), *r2 = record_of(&m2);
    const char *recs[] = {r1, r2};
    size_t lens[] = {strlen(r1), strlen(r2)};
    struct trg_buf b = {0};
    (void)state;

    assert_int_equal(trg_mqtt_batch(recs, lens, 2, &b), 0);
    cJSON *doc = cJSON_Parse(b.data);
    assert_string_equal(cJSON_GetObjectItem(doc, "eventSource")->valuestring, "trigd:mqtt");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "records")), 2);
    cJSON_Delete(doc);
    trg_buf_free(&b);

    cJSON *v = trg_mqtt_filter_view(r1, lens[0]);
    char *text = cJSON_PrintUnformatted(v);
    assert_string_equal(text, "{\"topic\":\"s/1\",\"qos\":1,\"payload\":{\"t\":30}}");
    cJSON_free(text);
    cJSON_Delete(v);
    v = trg_mqtt_filter_view(r2, lens[1]);
    assert_string_equal(cJSON_GetObjectItem(v, "payload")->valuestring, "cmF3");
    cJSON_Delete(v);
    assert_null(trg_mqtt_filter_view("[]", 2));
    trg_free(r1);
    trg_free(r2);
}

static void test_minio(void **state)
{
    const char *note = "{\"EventName\":\"s3:ObjectCreated:Put\",\"Key\":\"b/k\",\"Records\":[{\"eventName\":"
                       "\"s3:ObjectCreated:Put\",\"s3\":{\"object\":{\"key\":\"k\"}}}]}";
    struct trg_buf e1 = {0}, e2 = {0}, b = {0};
    (void)state;

    assert_int_equal(trg_event_minio_records(note, strlen(note), &e1), 0);
    assert_string_equal(e1.data, "{\"Records\":[{\"eventName\":\"s3:ObjectCreated:Put\",\"s3\":{\"object\":"
                                 "{\"key\":\"k\"}}}]}");
    assert_int_equal(trg_event_minio_records(note, strlen(note), &e2), 0);
    const char *evs[] = {e1.data, e2.data};
    size_t lens[] = {e1.len, e2.len};
    assert_int_equal(trg_event_minio_merge(evs, lens, 2, &b), 0);
    cJSON *doc = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "Records")), 2);
    cJSON_Delete(doc);
    assert_int_equal(trg_event_minio_records("{\"a\":1}", 7, &b), TRG_EINVAL);
    assert_int_equal(trg_event_minio_records("nope", 4, &b), TRG_EINVAL);
    trg_buf_free(&e1);
    trg_buf_free(&e2);
    trg_buf_free(&b);
}

int main(void)
{
    trg_json_init_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_record_json_payload),
        cmocka_unit_test(test_record_lenient_json_as_base64),
        cmocka_unit_test(test_record_binary_and_properties),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_batch_and_view),
        cmocka_unit_test(test_minio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
