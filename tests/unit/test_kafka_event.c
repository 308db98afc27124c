/* test_kafka_event.c — the Kafka record JSON, envelope, filter view, batch info and key lanes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/kafka/kafka_event.h"
#include "src/event.h"

static void test_record_json(void **state)
{
    (void)state;
    struct trg_kafka_header h[] = {{"h1", "ab", 2}, {"nul", NULL, 0}};
    struct trg_kafka_record r = {.topic = "t", .partition = 2, .offset = 15, .timestamp = 1545084650987,
                                 .ts_type = TRG_KAFKA_TS_CREATE, .key = "k", .key_len = 1,
                                 .value = "\x00\xff", .value_len = 2, .headers = h, .n_headers = 2};
    struct trg_buf b = {0};
    assert_int_equal(trg_kafka_record_json(&r, &b), 0);
    assert_string_equal(b.data, "{\"topic\":\"t\",\"partition\":2,\"offset\":15,\"timestamp\":1545084650987,"
                                "\"timestampType\":\"CREATE_TIME\",\"key\":\"aw==\",\"value\":\"AP8=\","
                                "\"headers\":[{\"h1\":[97,98]},{\"nul\":[]}]}");
    trg_buf_free(&b);
    r.key = NULL;
    r.value = NULL;
    r.n_headers = 0;
    r.ts_type = TRG_KAFKA_TS_LOG_APPEND;
    assert_int_equal(trg_kafka_record_json(&r, &b), 0);
    assert_string_equal(b.data, "{\"topic\":\"t\",\"partition\":2,\"offset\":15,\"timestamp\":1545084650987,"
                                "\"timestampType\":\"LOG_APPEND_TIME\",\"headers\":[]}");
    trg_buf_free(&b);
}

static void test_envelope(void **state)
{
    (void)state;
    const char *recs[] = {"{\"a\":1}", "{\"b\":2}"};
    size_t lens[] = {7, 7};
    struct trg_buf b = {0};
    assert_int_equal(trg_kafka_envelope("h:1,h:2", "t-0", recs, lens, 2, &b), 0);
    assert_string_equal(b.data, "{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":\"h:1,h:2\","
                                "\"records\":{\"t-0\":[{\"a\":1},{\"b\":2}]}}");
    trg_buf_free(&b);
}

static void test_filter_view(void **state)
{
    (void)state;
    /* value {"x":5} and key "id-1", header h: "v" */
    const char *rec = "{\"topic\":\"t\",\"partition\":0,\"offset\":3,\"timestamp\":1,\"timestampType\":\"CREATE_TIME\","
                      "\"key\":\"aWQtMQ==\",\"value\":\"eyJ4Ijo1fQ==\",\"headers\":[{\"h\":[118]}]}";
    cJSON *v = trg_kafka_filter_view(rec, strlen(rec));
    assert_non_null(v);
    assert_string_equal(cJSON_GetObjectItem(v, "key")->valuestring, "id-1");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "value"), "x")->valueint, 5);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "headers"), 0), "h")->valuestring,
                        "v");
    cJSON_Delete(v);
    /* a value that is not JSON stays text */
    const char *rec2 = "{\"topic\":\"t\",\"partition\":0,\"offset\":3,\"value\":\"aGVsbG8=\",\"headers\":[]}";
    v = trg_kafka_filter_view(rec2, strlen(rec2));
    assert_non_null(v);
    assert_string_equal(cJSON_GetObjectItem(v, "value")->valuestring, "hello");
    assert_null(cJSON_GetObjectItem(v, "key"));
    cJSON_Delete(v);
    assert_null(trg_kafka_filter_view("[1]", 3));
}

static void test_batch_info(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_kafka_batch_info("h:1", "t-0", 2, 100, 5, 6, 0, 1000, &b), 0);
    assert_string_equal(b.data, "{\"batchSize\":2,\"bootstrapServers\":\"h:1\",\"payloadSize\":100,\"recordsInfo\":"
                                "{\"t-0\":{\"firstRecordOffset\":5,\"lastRecordOffset\":6,"
                                "\"firstRecordTimestamp\":\"1970-01-01T00:00:00.000Z\","
                                "\"lastRecordTimestamp\":\"1970-01-01T00:00:01.000Z\"}}}");
    trg_buf_free(&b);
}

static void test_key_lane(void **state)
{
    (void)state;
    assert_int_equal(trg_kafka_key_lane(NULL, 0, 4), 0);
    assert_int_equal(trg_kafka_key_lane("abc", 3, 1), 0);
    unsigned seen[4] = {0};
    char k[8];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(k, sizeof k, "k%d", i);
        unsigned l = trg_kafka_key_lane(k, (size_t)n, 4);
        assert_true(l < 4);
        assert_int_equal(l, trg_kafka_key_lane(k, (size_t)n, 4));
        seen[l]++;
    }
    for (int i = 0; i < 4; i++)
        assert_true(seen[i] > 0);
}

static void test_minio(void **state)
{
    (void)state;
    const char *n1 = "{\"EventName\":\"s3:ObjectCreated:Put\",\"Records\":[{\"k\":1}]}";
    struct trg_buf a = {0}, b = {0}, m = {0};
    assert_int_equal(trg_event_minio_records(n1, strlen(n1), &a), 0);
    assert_string_equal(a.data, "{\"Records\":[{\"k\":1}]}");
    assert_int_equal(trg_event_minio_records("{\"Records\":[]}", 14, &b), TRG_EINVAL);
    assert_int_equal(trg_event_minio_records("nope", 4, &b), TRG_EINVAL);
    assert_int_equal(trg_event_minio_records(NULL, 0, &b), TRG_EINVAL);
    const char *evs[] = {a.data, a.data};
    size_t lens[] = {a.len, a.len};
    assert_int_equal(trg_event_minio_merge(evs, lens, 2, &m), 0);
    assert_string_equal(m.data, "{\"Records\":[{\"k\":1},{\"k\":1}]}");
    trg_buf_free(&a);
    trg_buf_free(&b);
    trg_buf_free(&m);
}

int main(void)
{
    trg_json_init_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_json), cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_filter_view), cmocka_unit_test(test_batch_info),
        cmocka_unit_test(test_key_lane),    cmocka_unit_test(test_minio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
