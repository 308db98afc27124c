/* test_dlq_record.c — the Lambda on-failure destination record a DLQ entry is: every field, the
 * omitted ones, responsePayload truncation at 4 KB, batch info, records embedded for redrive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dlq.h"
#include "util.h"

static const char *const recs[] = {"{\"a\":1}", "{ \"b\" : [1, 2] }", "not json"};
static const size_t rec_lens[] = {7, 16, 8};

static struct trg_dlq_info base_info(void)
{
    struct trg_dlq_info in = {
        .request_id = "e4b4-0001",
        .function = "thumbnail",
        .route = "thumbs",
        .source = "uploads",
        .condition = TRG_DLQ_RETRIES_EXHAUSTED,
        .approximate_invoke_count = 3,
        .status_code = 500,
        .function_error = "Unhandled",
        .request_payload = "{\"Records\":[{\"x\":1}]}",
        .request_payload_len = 21,
        .response_payload = "{\"errorMessage\":\"boom\"}",
        .response_payload_len = 23,
        .records = recs,
        .record_lens = rec_lens,
        .n_records = 3,
        .timestamp_ms = 1573755365568, /* 2019-11-14T18:16:05.568Z */
    };
    return in;
}

/* Build, check it is one compact line, and parse it. */
static cJSON *build(const struct trg_dlq_info *in, struct trg_buf *b)
{
    trg_buf_reset(b);
    assert_int_equal(trg_dlq_record_build(in, b), 0);
    assert_non_null(b->data);
    assert_null(memchr(b->data, '\n', b->len));
    assert_int_equal(strlen(b->data), b->len);
    cJSON *j = cJSON_Parse(b->data);
    assert_non_null(j);
    return j;
}

static const cJSON *at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (x && b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return x;
}

static void assert_str(const cJSON *x, const char *want)
{
    assert_non_null(x);
    assert_true(cJSON_IsString(x));
    assert_string_equal(x->valuestring, want);
}

static void assert_num(const cJSON *x, double want)
{
    assert_non_null(x);
    assert_true(cJSON_IsNumber(x));
    assert_true(x->valuedouble == want);
}

static void test_every_field(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    cJSON *j = build(&in, &b);
    assert_str(at(j, "version", NULL), "1.0");
    assert_str(at(j, "timestamp", NULL), "2019-11-14T18:16:05.568Z");
    assert_str(at(j, "requestContext", "requestId"), "e4b4-0001");
    assert_str(at(j, "requestContext", "function"), "thumbnail");
    assert_str(at(j, "requestContext", "condition"), "RetryAttemptsExhausted");
    assert_num(at(j, "requestContext", "approximateInvokeCount"), 3);
    assert_num(at(j, "responseContext", "statusCode"), 500);
    assert_str(at(j, "responseContext", "executedVersion"), "$LATEST");
    assert_str(at(j, "responseContext", "functionError"), "Unhandled");
    assert_num(at(at(j, "requestPayload", "Records")->child, "x", NULL), 1);
    assert_str(at(j, "responsePayload", "errorMessage"), "boom");
    assert_str(at(j, "trigd", "route"), "thumbs");
    assert_str(at(j, "trigd", "source"), "uploads");
    const cJSON *records = at(j, "trigd", "records");
    assert_true(cJSON_IsArray(records));
    assert_int_equal(cJSON_GetArraySize(records), 3);
    /* JSON records are embedded as JSON (minified), others as strings */
    assert_num(at(cJSON_GetArrayItem(records, 0), "a", NULL), 1);
    assert_true(cJSON_IsArray(at(cJSON_GetArrayItem(records, 1), "b", NULL)));
    assert_str(cJSON_GetArrayItem(records, 2), "not json");
    assert_non_null(strstr(b.data, "{\"b\":[1,2]}"));
    /* field order follows the Lambda record */
    assert_true(strncmp(b.data, "{\"version\":\"1.0\",\"timestamp\":", 28) == 0);
    assert_true(strstr(b.data, "\"requestPayload\"") < strstr(b.data, "\"responsePayload\""));
    assert_null(at(j, "KafkaBatchInfo", NULL));
    cJSON_Delete(j);
    trg_buf_free(&b);
}

static void test_conditions(void **state)
{
    (void)state;
    assert_string_equal(trg_dlq_condition_name(TRG_DLQ_RETRIES_EXHAUSTED), "RetryAttemptsExhausted");
    assert_string_equal(trg_dlq_condition_name(TRG_DLQ_AGE_EXCEEDED), "EventAgeExceeded");
    assert_string_equal(trg_dlq_condition_name(TRG_DLQ_PAYLOAD_TOO_LARGE), "MaximumPayloadSizeExceeded");
    assert_string_equal(trg_dlq_condition_name(TRG_DLQ_REJECTED), "Rejected");
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    in.condition = TRG_DLQ_AGE_EXCEEDED;
    cJSON *j = build(&in, &b);
    assert_str(at(j, "requestContext", "condition"), "EventAgeExceeded");
    cJSON_Delete(j);
    trg_buf_free(&b);
}

static void test_omitted_fields(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    in.status_code = -1;
    in.function_error = NULL;
    in.response_payload = NULL;
    in.response_payload_len = 0;
    in.request_id = NULL;
    in.n_records = 0;
    in.records = NULL;
    in.record_lens = NULL;
    in.timestamp_ms = 0;
    cJSON *j = build(&in, &b);
    assert_null(at(j, "responseContext", "statusCode"));
    assert_null(at(j, "responseContext", "functionError"));
    assert_str(at(j, "responseContext", "executedVersion"), "$LATEST");
    assert_null(at(j, "responsePayload", NULL));
    /* a request id is made up, the timestamp is now */
    const cJSON *rid = at(j, "requestContext", "requestId");
    assert_true(cJSON_IsString(rid) && strlen(rid->valuestring) == 36);
    const cJSON *ts = at(j, "timestamp", NULL);
    assert_true(cJSON_IsString(ts) && strlen(ts->valuestring) == 24);
    assert_int_equal(cJSON_GetArraySize(at(j, "trigd", "records")), 0);
    cJSON_Delete(j);
    trg_buf_free(&b);
}

static void test_truncate_non_json(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    /* 5000 bytes of text, with a 2-byte character straddling byte 4096 */
    char *resp = malloc(5000);
    assert_non_null(resp);
    memset(resp, 'x', 5000);
    resp[4095] = (char)0xc3;
    resp[4096] = (char)0xa9;
    in.response_payload = resp;
    in.response_payload_len = 5000;
    cJSON *j = build(&in, &b);
    const cJSON *rp = at(j, "responsePayload", NULL);
    assert_true(cJSON_IsString(rp));
    size_t n = strlen(rp->valuestring);
    assert_int_equal(n, 4095 + 3); /* the split character is dropped whole */
    assert_string_equal(rp->valuestring + 4095, "...");
    cJSON_Delete(j);

    /* short non-JSON: a whole string, no "..."; invalid UTF-8 is replaced */
    in.response_payload = "Internal \xff Error";
    in.response_payload_len = 16;
    j = build(&in, &b);
    assert_str(at(j, "responsePayload", NULL), "Internal \xef\xbf\xbd Error");
    cJSON_Delete(j);

    /* exactly 4096 bytes of text: kept whole */
    memset(resp, 'y', 4096);
    in.response_payload = resp;
    in.response_payload_len = 4096;
    j = build(&in, &b);
    rp = at(j, "responsePayload", NULL);
    assert_int_equal(strlen(rp->valuestring), 4096);
    cJSON_Delete(j);
    free(resp);
    trg_buf_free(&b);
}

static void test_truncate_json(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    struct trg_buf big = {0};
    trg_buf_adds(&big, "{\"errorMessage\":\"");
    for (int i = 0; i < 5000; i++)
        trg_buf_addc(&big, 'e');
    trg_buf_adds(&big, "\"}");
    in.response_payload = big.data;
    in.response_payload_len = big.len;
    cJSON *j = build(&in, &b);
    const cJSON *rp = at(j, "responsePayload", NULL);
    assert_true(cJSON_IsString(rp)); /* too large to embed: a string of its start */
    assert_int_equal(strlen(rp->valuestring), 4096 + 3);
    assert_true(strncmp(rp->valuestring, "{\"errorMessage\":\"eee", 20) == 0);
    assert_string_equal(rp->valuestring + 4096, "...");
    cJSON_Delete(j);

    /* pretty JSON under the limit is embedded, minified */
    in.response_payload = "{\n  \"errorType\": \"Timeout\",\n  \"n\": 12345678901234567\n}";
    in.response_payload_len = strlen(in.response_payload);
    j = build(&in, &b);
    assert_str(at(j, "responsePayload", "errorType"), "Timeout");
    assert_non_null(strstr(b.data, "\"responsePayload\":{\"errorType\":\"Timeout\",\"n\":12345678901234567}"));
    cJSON_Delete(j);

    /* JSON followed by garbage is not JSON */
    in.response_payload = "{\"a\":1} trailing";
    in.response_payload_len = strlen(in.response_payload);
    j = build(&in, &b);
    assert_str(at(j, "responsePayload", NULL), "{\"a\":1} trailing");
    cJSON_Delete(j);
    trg_buf_free(&big);
    trg_buf_free(&b);
}

static void test_batch_info(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    in.batch_info_key = "KafkaBatchInfo";
    in.batch_info_json = "{\"batchSize\":2,\"bootstrapServers\":\"127.0.0.1:9092\",\"payloadSize\":10,"
                         "\"recordsInfo\":{\"t-0\":{\"firstRecordOffset\":\"15\",\"lastRecordOffset\":\"16\"}}}";
    cJSON *j = build(&in, &b);
    assert_num(at(j, "KafkaBatchInfo", "batchSize"), 2);
    assert_str(at(at(at(j, "KafkaBatchInfo", "recordsInfo"), "t-0", NULL), "firstRecordOffset", NULL), "15");
    assert_true(strstr(b.data, "\"KafkaBatchInfo\"") < strstr(b.data, "\"requestPayload\""));
    cJSON_Delete(j);
    /* batch info must be JSON */
    in.batch_info_json = "{broken";
    trg_buf_reset(&b);
    assert_int_equal(trg_dlq_record_build(&in, &b), TRG_EINVAL);
    trg_buf_free(&b);
}

static void test_non_json_payload_and_append(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    in.request_payload = "raw \"bytes\"\n";
    in.request_payload_len = 12;
    trg_buf_adds(&b, "prefix:");
    assert_int_equal(trg_dlq_record_build(&in, &b), 0);
    assert_true(strncmp(b.data, "prefix:{", 8) == 0); /* appends */
    cJSON *j = cJSON_Parse(b.data + 7);
    assert_non_null(j);
    assert_str(at(j, "requestPayload", NULL), "raw \"bytes\"\n");
    cJSON_Delete(j);
    trg_buf_free(&b);
}

/* cJSON takes a raw line feed inside a string as JSON: a function answering "a<LF>b" (or an event
 * holding one) once split the record over two lines of the DLQ file, losing it. */
static void test_control_chars_in_json_strings(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    struct trg_dlq_info in = base_info();
    const char *evs[] = {"{\"k\":\"x\ny\"}"};
    const size_t lens[] = {strlen(evs[0])};
    in.response_payload = "\"a\nb\tc\001\"";
    in.response_payload_len = strlen(in.response_payload);
    in.request_payload = "{\"m\":\"1\r\n2\"}";
    in.request_payload_len = strlen(in.request_payload);
    in.records = evs;
    in.record_lens = lens;
    in.n_records = 1;
    cJSON *j = build(&in, &b); /* one line, valid JSON */
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20);
    assert_str(at(j, "responsePayload", NULL), "a\nb\tc\001");
    assert_str(at(at(j, "requestPayload", NULL), "m", NULL), "1\r\n2");
    assert_str(at(cJSON_GetArrayItem(at(j, "trigd", "records"), 0), "k", NULL), "x\ny");
    cJSON_Delete(j);
    trg_buf_free(&b);
}

/* cJSON reads 0123456789, +1, 1. and invalid UTF-8 as JSON; JSON does not: such a payload is kept as a
 * string, so the record stays JSON for every reader. (A function answering 0123456789 once made the
 * record invalid JSON.) */
static void test_lenient_json_kept_as_string(void **state)
{
    (void)state;
    const char *bodies[] = {"0123456789", "[+1]", "{\"a\":1.}", "[1e]", "-", "[\"\xff\"]", "00"};
    const char *fine[] = {"0", "-0.5e+10", "[1,2.25,3E-2]", "{\"a\":\"0123\"}", "\"\xc3\xa9\""};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        struct trg_buf b = {0};
        struct trg_dlq_info in = base_info();
        in.response_payload = bodies[i];
        in.response_payload_len = strlen(bodies[i]);
        cJSON *j = build(&in, &b);
        assert_true(cJSON_IsString(at(j, "responsePayload", NULL)));
        cJSON_Delete(j);
        trg_buf_free(&b);
    }
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        struct trg_buf b = {0};
        struct trg_dlq_info in = base_info();
        in.response_payload = fine[i];
        in.response_payload_len = strlen(fine[i]);
        cJSON *j = build(&in, &b);
        const cJSON *r = at(j, "responsePayload", NULL);
        assert_non_null(r);
        if (cJSON_IsString(r))
            assert_true(fine[i][0] == '"');
        cJSON_Delete(j);
        trg_buf_free(&b);
    }
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct trg_dlq_info in = base_info();
    for (long n = 0; n < 40; n++) {
        struct trg_buf b = {0};
        trg_alloc_fail_after(n);
        int rc = trg_dlq_record_build(&in, &b);
        trg_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == TRG_ENOMEM);
        if (rc == TRG_ENOMEM)
            assert_true(b.len == 0);
        trg_buf_free(&b);
    }
}

int main(void)
{
    trg_json_init_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_omitted_fields),
        cmocka_unit_test(test_truncate_non_json),
        cmocka_unit_test(test_truncate_json),
        cmocka_unit_test(test_batch_info),
        cmocka_unit_test(test_non_json_payload_and_append),
        cmocka_unit_test(test_control_chars_in_json_strings),
        cmocka_unit_test(test_lenient_json_kept_as_string),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
