/* test_sqs_record.c — Redis stream entries as SQS records (connectors/redis_stream/sqs_record.c) and the
 * entry id -> SentTimestamp parsing (src/rstream.c), and the event an entry becomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "connectors/redis_stream/sqs_record.h"

static void test_id_ms(void **state)
{
    (void)state;
    assert_int_equal(trg_rstream_id_ms("1700000000123-0"), 1700000000123LL);
    assert_int_equal(trg_rstream_id_ms("1700000000123-42"), 1700000000123LL);
    assert_int_equal(trg_rstream_id_ms("5"), 5);
    assert_int_equal(trg_rstream_id_ms("0-1"), 0);
    assert_int_equal(trg_rstream_id_ms(""), -1);
    assert_int_equal(trg_rstream_id_ms(NULL), -1);
    assert_int_equal(trg_rstream_id_ms("-1"), -1);
    assert_int_equal(trg_rstream_id_ms("12-"), -1);
    assert_int_equal(trg_rstream_id_ms("12-3x"), -1);
    assert_int_equal(trg_rstream_id_ms("a-1"), -1);
    assert_int_equal(trg_rstream_id_ms("99999999999999999999-0"), -1); /* overflow */
}

/* trg_rstream_event: one packed block; item id and ordering key binary safe with their lengths; the
 * delivery count capped; created_ms given, else from the id. */
static void test_entry_event(void **state)
{
    (void)state;
    struct trg_rstream_entry en = {.id = "1700000000123-4", .delivery_count = 3};
    struct trg_event *ev = trg_rstream_event(&en, "{\"a\":1}xx", 7, "item-1zz", 6, "key", 3, 0);
    assert_non_null(ev);
    assert_true(ev->packed);
    assert_string_equal(ev->json, "{\"a\":1}");
    assert_int_equal(ev->len, 7);
    assert_string_equal(ev->item_id, "item-1");
    assert_string_equal(ev->order_key, "key");
    assert_int_equal(ev->receive_count, 3);
    assert_int_equal(ev->created_ms, 1700000000123LL);
    trg_event_free(ev);
    en.delivery_count = 5000000000LL;
    ev = trg_rstream_event(&en, "{}", 2, NULL, 0, NULL, 0, 42);
    assert_non_null(ev);
    assert_null(ev->item_id);
    assert_null(ev->order_key);
    assert_int_equal(ev->receive_count, 1000000);
    assert_int_equal(ev->created_ms, 42);
    trg_event_free(ev);
}

static cJSON *build(const char *id, size_t n, const char *const *f, const char *const *v, int64_t count,
                    const char *src)
{
    size_t fl[8], vl[8];
    for (size_t i = 0; i < n; i++) {
        fl[i] = strlen(f[i]);
        vl[i] = strlen(v[i]);
    }
    struct trg_rs_entry e = {id, n, f, fl, v, vl, count, 1700000009999LL, src, "orders"};
    struct trg_buf b = {0};
    assert_int_equal(trg_rs_sqs_record(&e, &b), 0);
    cJSON *doc = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(doc);
    trg_buf_free(&b);
    return doc;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(x));
    return x->valuestring;
}

static void test_body_field(void **state)
{
    (void)state;
    const char *f[] = {"body", "tenant"}, *v[] = {"{\"order\":1}", "acme"};
    cJSON *r = build("1700000000123-7", 2, f, v, 3, "aws:sqs");
    assert_string_equal(str(r, "messageId"), "1700000000123-7");
    assert_string_equal(str(r, "receiptHandle"), "1700000000123-7");
    assert_string_equal(str(r, "body"), "{\"order\":1}");
    assert_string_equal(str(r, "eventSource"), "aws:sqs");
    assert_string_equal(str(r, "eventSourceARN"), "orders");
    assert_string_equal(str(r, "awsRegion"), "local");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "attributes");
    assert_string_equal(str(a, "ApproximateReceiveCount"), "3");
    assert_string_equal(str(a, "SentTimestamp"), "1700000000123");
    assert_string_equal(str(a, "ApproximateFirstReceiveTimestamp"), "1700000009999");
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(r, "messageAttributes");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ma, "tenant");
    assert_string_equal(str(t, "stringValue"), "acme");
    assert_string_equal(str(t, "dataType"), "String");
    assert_null(cJSON_GetObjectItemCaseSensitive(ma, "body"));
    cJSON_Delete(r);
}

static void test_fields_as_body(void **state)
{
    (void)state;
    const char *f[] = {"a", "q\"uote"}, *v[] = {"1", "x\ny"};
    cJSON *r = build("5-0", 2, f, v, 1, "trigd:redis");
    cJSON *body = cJSON_Parse(str(r, "body"));
    assert_non_null(body);
    assert_string_equal(str(body, "a"), "1");
    assert_string_equal(str(body, "q\"uote"), "x\ny");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "messageAttributes")), 0);
    assert_string_equal(str(r, "eventSource"), "trigd:redis");
    cJSON_Delete(body);
    cJSON_Delete(r);
}

static void test_empty_entry(void **state)
{
    (void)state;
    cJSON *r = build("bad-id", 0, NULL, NULL, 0, "trigd:redis");
    assert_string_equal(str(r, "body"), "{}");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "attributes");
    assert_string_equal(str(a, "ApproximateReceiveCount"), "1");
    assert_string_equal(str(a, "SentTimestamp"), "0");
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_ms),
        cmocka_unit_test(test_entry_event),
        cmocka_unit_test(test_body_field),
        cmocka_unit_test(test_fields_as_body),
        cmocka_unit_test(test_empty_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
