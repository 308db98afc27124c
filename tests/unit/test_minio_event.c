/* test_minio_event.c — the MinIO source's pure functions: Go url.QueryEscape key encoding (and back),
 * event-name wildcards, the source filter, webhook body validation on the shared fixtures, listen
 * stream splitting (keep-alive spaces, pings, partial lines), and records built identically from a
 * webhook body and from a listen line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "connectors/minio/minio_event.h"

#define UNICODE_KEY "photos/\xc3\x89t\xc3\xa9 2025/cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e + caf\xc3\xa9.jpg"
#define UNICODE_KEY_ENC "photos%2F%C3%89t%C3%A9+2025%2Fcr%C3%A8me+br%C3%BBl%C3%A9e+%2B+caf%C3%A9.jpg"

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/minio/%s", TRG_SRCDIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static char *escape(const char *s)
{
    struct trg_buf b = {0};
    assert_int_equal(trg_minio_key_escape(s, strlen(s), &b), 0);
    assert_int_equal(trg_buf_add(&b, "", 0), 0);
    return trg_buf_steal(&b);
}

static void test_key_escape(void **state)
{
    (void)state;
    char *e = escape(UNICODE_KEY);
    assert_string_equal(e, UNICODE_KEY_ENC);
    trg_free(e);
    e = escape("a-b_c.d~e!*'();:@&=+$,/?#[]%");
    assert_string_equal(e, "a-b_c.d~e%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%2F%3F%23%5B%5D%25");
    trg_free(e);
    e = escape("");
    assert_string_equal(e, "");
    trg_free(e);

    struct trg_buf b = {0};
    assert_int_equal(trg_minio_uri_escape("s3:ObjectCreated:* a", &b), 0);
    assert_string_equal(b.data, "s3%3AObjectCreated%3A%2A%20a");
    trg_buf_free(&b);
}

static void test_key_unescape(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_minio_key_unescape(UNICODE_KEY_ENC, &b), 0);
    assert_string_equal(b.data, UNICODE_KEY);
    trg_buf_reset(&b);
    assert_int_equal(trg_minio_key_unescape("", &b), 0);
    assert_string_equal(b.data, "");
    trg_buf_reset(&b);
    assert_int_equal(trg_minio_key_unescape("%2b%2F", &b), 0);
    assert_string_equal(b.data, "+/");
    trg_buf_reset(&b);
    assert_int_equal(trg_minio_key_unescape("bad%2", &b), TRG_EINVAL);
    trg_buf_reset(&b);
    assert_int_equal(trg_minio_key_unescape("bad%zz", &b), TRG_EINVAL);
    trg_buf_free(&b);
}

static void test_event_match(void **state)
{
    (void)state;
    assert_true(trg_minio_event_match("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
    assert_true(trg_minio_event_match("s3:ObjectCreated:*", "s3:ObjectCreated:CompleteMultipartUpload"));
    assert_false(trg_minio_event_match("s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"));
    assert_true(trg_minio_event_match("s3:ObjectRemoved:Delete", "s3:ObjectRemoved:Delete"));
    assert_false(trg_minio_event_match("s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"));
    assert_true(trg_minio_event_match("*", "s3:Scanner:BigPrefix"));
}

static void test_filter(void **state)
{
    (void)state;
    char *evs[] = {"s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"};
    struct trg_minio_filter all = {0};
    struct trg_minio_filter f = {evs, 2, "photos/", ".jpg"};

    assert_true(trg_minio_filter_match(&all, "s3:ObjectAccessed:Get", "x"));
    assert_true(trg_minio_filter_match(&f, "s3:ObjectCreated:Put", UNICODE_KEY));
    assert_true(trg_minio_filter_match(&f, "s3:ObjectRemoved:Delete", "photos/.jpg"));
    assert_false(trg_minio_filter_match(&f, "s3:ObjectAccessed:Get", UNICODE_KEY));
    assert_false(trg_minio_filter_match(&f, "s3:ObjectCreated:Put", "docs/a.jpg"));
    assert_false(trg_minio_filter_match(&f, "s3:ObjectCreated:Put", "photos/a.png"));
    assert_false(trg_minio_filter_match(&f, "s3:ObjectCreated:Put", "jpg"));
}

static void test_webhook_parse(void **state)
{
    (void)state;
    const char *why = NULL;
    cJSON *doc = NULL;
    size_t len;
    char *body = slurp("webhook-put-unicode-key.json", &len);

    assert_int_equal(trg_minio_webhook_parse(body, len, &doc, &why), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "Records")), 1);
    cJSON_Delete(doc);
    free(body);

    static const char *const bad[] = {
        "", "not json", "[]", "{}", "{\"EventName\":\"s3:ObjectCreated:Put\",\"Key\":\"b/k\"}",
        "{\"EventName\":\"s3:ObjectCreated:Put\",\"Key\":\"b/k\",\"Records\":[]}",
        "{\"EventName\":1,\"Key\":\"b/k\",\"Records\":[{}]}",
        "{\"EventName\":\"x\",\"Key\":\"b/k\",\"Records\":{}}",
        "{\"EventName\":\"x\",\"Key\":\"b/k\",\"Records\":[{}]} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal(trg_minio_webhook_parse(bad[i], strlen(bad[i]), &doc, &why), TRG_EINVAL);
        assert_null(doc);
        assert_non_null(why);
    }
}

static void test_stream_next(void **state)
{
    (void)state;
    const char *line;
    size_t line_len, used;
    const char *s = "   {\"Records\":null}\n \n  {\"a\":1}\r\n  {\"partial";

    assert_true(trg_minio_stream_next(s, strlen(s), &line, &line_len, &used));
    assert_int_equal(line_len, strlen("{\"Records\":null}"));
    assert_memory_equal(line, "{\"Records\":null}", line_len);
    s += used;
    assert_true(trg_minio_stream_next(s, strlen(s), &line, &line_len, &used));
    assert_int_equal(line_len, 7);
    assert_memory_equal(line, "{\"a\":1}", 7);
    s += used;
    assert_false(trg_minio_stream_next(s, strlen(s), &line, &line_len, &used));
    assert_int_equal(used, 2); /* the spaces before the partial line can go */
    assert_false(trg_minio_stream_next("     ", 5, &line, &line_len, &used));
    assert_int_equal(used, 5);
    assert_false(trg_minio_stream_next("", 0, &line, &line_len, &used));
    assert_int_equal(used, 0);
}

static void test_listen_line(void **state)
{
    (void)state;
    cJSON *doc = (cJSON *)1;
    assert_int_equal(trg_minio_listen_line("{\"Records\":null}", 16, &doc), TRG_MINIO_LINE_PING);
    assert_null(doc);
    assert_int_equal(trg_minio_listen_line("{\"Records\":[]}", 14, &doc), TRG_MINIO_LINE_PING);
    assert_int_equal(trg_minio_listen_line("garbage", 7, &doc), TRG_MINIO_LINE_BAD);
    assert_int_equal(trg_minio_listen_line("{\"x\":1}", 7, &doc), TRG_MINIO_LINE_BAD);
    assert_int_equal(trg_minio_listen_line("{\"Records\":3}", 13, &doc), TRG_MINIO_LINE_BAD);
    assert_int_equal(trg_minio_listen_line("{\"Records\":[{}]}", 16, &doc), TRG_MINIO_LINE_RECORDS);
    assert_non_null(doc);
    cJSON_Delete(doc);
}

/* The same object from the webhook body and from the listen stream gives the same event. */
static void test_records_identical(void **state)
{
    (void)state;
    size_t wlen, llen;
    char *wbody = slurp("webhook-put-unicode-key.json", &wlen);
    char *stream = slurp("listen-stream-ping.ndjson", &llen);
    const char *why = NULL, *line;
    size_t line_len, used;
    cJSON *wdoc = NULL, *ldoc = NULL;
    struct trg_minio_record wr, lr;

    assert_int_equal(trg_minio_webhook_parse(wbody, wlen, &wdoc, &why), 0);
    assert_int_equal(trg_minio_record_build(cJSON_GetArrayItem(cJSON_GetObjectItem(wdoc, "Records"), 0), false,
                                            &wr, &why),
                     0);
    assert_true(trg_minio_stream_next(stream, llen, &line, &line_len, &used));
    assert_int_equal(trg_minio_listen_line(line, line_len, &ldoc), TRG_MINIO_LINE_RECORDS);
    assert_int_equal(trg_minio_record_build(cJSON_GetArrayItem(cJSON_GetObjectItem(ldoc, "Records"), 0), true,
                                            &lr, &why),
                     0);
    assert_string_equal(wr.json, lr.json);
    assert_string_equal(wr.item_id, lr.item_id);
    assert_string_equal(wr.item_id, "1848DE9B27C4B817:media/" UNICODE_KEY_ENC);
    assert_string_equal(wr.key, UNICODE_KEY);
    assert_string_equal(lr.key, UNICODE_KEY);
    assert_string_equal(wr.event_name, "s3:ObjectCreated:Put");
    assert_non_null(strstr(wr.json, "\"key\":\"" UNICODE_KEY_ENC "\""));
    trg_minio_record_free(&wr);
    trg_minio_record_free(&lr);
    cJSON_Delete(wdoc);
    cJSON_Delete(ldoc);
    free(wbody);
    free(stream);
}

static void test_record_checks(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1",
        "{\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"k\"}}}",
        "{\"eventName\":\"s3:ObjectCreated:Put\",\"s3\":{\"object\":{\"key\":\"k\"}}}",
        "{\"eventName\":\"s3:ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{}}}",
        "{\"eventName\":\"s3:ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"%G\"}}}",
    };
    struct trg_minio_record r;
    const char *why;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *rec = cJSON_Parse(bad[i]);
        why = NULL;
        assert_int_equal(trg_minio_record_build(rec, false, &r, &why), TRG_EINVAL);
        assert_non_null(why);
        assert_null(r.json);
        cJSON_Delete(rec);
    }
    /* internal events: requestParameters null, no size/eTag, request id only */
    cJSON *rec = cJSON_Parse("{\"eventName\":\"s3:ObjectRemoved:Delete\",\"requestParameters\":null,"
                             "\"responseElements\":{\"x-amz-request-id\":\"R1\"},"
                             "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"a b+c\"}}}");
    assert_int_equal(trg_minio_record_build(rec, true, &r, &why), 0);
    assert_string_equal(r.item_id, "R1:b/a+b%2Bc");
    assert_string_equal(r.key, "a b+c");
    assert_non_null(strstr(r.json, "\"requestParameters\":null"));
    trg_minio_record_free(&r);
    cJSON_Delete(rec);
}

static void test_envelope(void **state)
{
    (void)state;
    struct trg_event *evs[2] = {trg_event_new_copy("{\"a\":1}", 7), trg_event_new_copy("{\"b\":2}", 7)};
    struct trg_buf b = {0};

    assert_int_equal(trg_minio_envelope(evs, 1, &b), 0);
    assert_string_equal(b.data, "{\"Records\":[{\"a\":1}]}");
    trg_buf_reset(&b);
    assert_int_equal(trg_minio_envelope(evs, 2, &b), 0);
    assert_string_equal(b.data, "{\"Records\":[{\"a\":1},{\"b\":2}]}");
    trg_buf_free(&b);
    trg_event_free(evs[0]);
    trg_event_free(evs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_escape),     cmocka_unit_test(test_key_unescape),
        cmocka_unit_test(test_event_match),    cmocka_unit_test(test_filter),
        cmocka_unit_test(test_webhook_parse),  cmocka_unit_test(test_stream_next),
        cmocka_unit_test(test_listen_line),    cmocka_unit_test(test_records_identical),
        cmocka_unit_test(test_record_checks),  cmocka_unit_test(test_envelope),
    };
    trg_json_init_hooks();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
