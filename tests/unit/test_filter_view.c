/* test_filter_view.c — what route filters see of an event: every source's filter_view op and the engine's
 * default (trg_json_parse) accept exactly one JSON value, so a body with trailing garbage stays a string and a
 * record with trailing garbage is no document at all. One line per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "connectors/connector.h"
#include "event.h"
#include "util.h"

struct view_case {
    const char *record;
    const char *field;    /* the member of the view to check; NULL: the view must be NULL */
    int want_type;        /* cJSON_String or cJSON_Object */
};

static cJSON *view_of(const struct trg_source_ops *ops, const char *record)
{
    struct trg_event *ev = trg_event_new_copy(record, strlen(record));
    assert_non_null(ev);
    cJSON *doc = ops ? ops->filter_view(NULL, ev) : trg_json_parse(ev->json, ev->len, NULL);
    trg_event_free(ev);
    return doc;
}

static void check(const struct trg_source_ops *ops, const struct view_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *doc = view_of(ops, cases[i].record);
        if (!cases[i].field) {
            assert_null(doc);
            continue;
        }
        assert_non_null(doc);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, cases[i].field);
        assert_non_null(v);
        assert_int_equal(v->type & 0xff, cases[i].want_type);
        cJSON_Delete(doc);
    }
}

static void test_webhook_body(void **state)
{
    (void)state;
    static const struct view_case cases[] = {
        {"{\"body\":\"{\\\"a\\\":1}\",\"isBase64Encoded\":false}", "body", cJSON_Object},
        {"{\"body\":\"{\\\"a\\\":1} trailing\",\"isBase64Encoded\":false}", "body", cJSON_String},
        {"{\"body\":\"{\\\"a\\\":1}{}\",\"isBase64Encoded\":false}", "body", cJSON_String},
        {"{\"body\":\"{\\\"a\\\":1}\\n\",\"isBase64Encoded\":false}", "body", cJSON_Object},
        {"{\"body\":\"eyJhIjoxfQ==\",\"isBase64Encoded\":true}", "body", cJSON_String},
        {"{\"body\":\"{}\"} garbage", NULL, 0},
    };
    check(&trg_source_webhook, cases, TRG_ARRAY_SIZE(cases));
}

static void test_redis_stream_body(void **state)
{
    (void)state;
    static const struct view_case cases[] = {
        {"{\"messageId\":\"1-0\",\"body\":\"[1,2]\"}", "body", cJSON_Array},
        {"{\"messageId\":\"1-0\",\"body\":\"[1,2]]\"}", "body", cJSON_String},
        {"{\"messageId\":\"1-0\",\"body\":\"plain text\"}", "body", cJSON_String},
        {"{\"messageId\":\"1-0\"}x", NULL, 0},
    };
    check(&trg_source_redis_stream, cases, TRG_ARRAY_SIZE(cases));
}

static void test_default_view(void **state)
{
    (void)state;
    static const struct view_case cases[] = {
        {"{\"a\":{\"b\":1}}", "a", cJSON_Object},
        {"{\"a\":{\"b\":1}} {\"c\":2}", NULL, 0},
        {"{\"a\":1}]", NULL, 0},
    };
    check(NULL, cases, TRG_ARRAY_SIZE(cases));
}

int main(void)
{
    trg_json_init_hooks();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_redis_stream_body),
        cmocka_unit_test(test_default_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
