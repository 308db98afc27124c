/* test_webhook_event.c — the payload-2.0 request event for real requests (captured from trigd's
 * HTTP server on a private loop, sent by curl): query strings, repeated headers, cookies, binary
 * bodies in base64, empty bodies, UTF-8 text; plus the text/binary rule and base64 decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "test_http_common.h"

#include "connectors/webhook/webhook_event.h"
#include "log.h"

#define NOW_MS 1749893467563LL /* 2025-06-14T09:31:07.563Z */

struct fixture {
    struct ev_loop *loop;
    struct trg_http *h;
    char base[64];
    struct th_client c;
    cJSON *ev; /* the last event built */
    char *json;
};

static void capture(void *arg, struct trg_http_req *req)
{
    struct fixture *f = arg;
    struct trg_buf b = {0};

    assert_int_equal(trg_webhook_event_build(req, "c0ffee00-0000-4000-8000-000000000001", NOW_MS, &b), 0);
    trg_free(f->json);
    f->json = trg_buf_steal(&b);
    cJSON_Delete(f->ev);
    f->ev = cJSON_Parse(f->json);
    assert_non_null(f->ev);
    trg_http_respond(req, 200, "text/plain", "ok", 2, NULL);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    trg_log_setup(TRG_LOG_WARN, TRG_LOG_TEXT, stderr);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(trg_http_create(f->loop, "127.0.0.1:0", &f->h), 0);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", trg_http_port(f->h));
    assert_int_equal(trg_http_route(f->h, NULL, "/", 1 << 20, capture, f), 0);
    f->c.fd = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    th_client_clear(f->loop, &f->c);
    trg_http_destroy(f->h);
    ev_loop_destroy(f->loop);
    cJSON_Delete(f->ev);
    trg_free(f->json);
    free(f);
    return 0;
}

/* Send one request with curl; the event is in f->ev afterwards. */
static void send_req(struct fixture *f, const char *path, const void *body, size_t len,
                     const char *const *args)
{
    char url[512];

    snprintf(url, sizeof url, "%s%s", f->base, path);
    th_client_clear(f->loop, &f->c);
    assert_int_equal(th_curl(f->loop, &f->c, url, body, len, args), 200);
    assert_non_null(f->ev);
}

static const char *str_at(const cJSON *obj, const char *path)
{
    char key[128];
    const char *dot;

    while ((dot = strchr(path, '.'))) {
        snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        path = dot + 1;
    }
    obj = cJSON_GetObjectItemCaseSensitive(obj, path);
    return cJSON_IsString(obj) ? obj->valuestring : NULL;
}

static void assert_str_at(const cJSON *obj, const char *path, const char *want)
{
    const char *got = str_at(obj, path);

    if (!got || strcmp(got, want))
        fail_msg("%s: got %s, want %s", path, got ? got : "(none)", want);
}

static void test_get_with_query(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"-H", "X-Multi: a",
                          "-H", "X-Multi: b",
                          "-H", "User-Agent: test-agent/1.0",
                          "-H", "Host: abc123.lambda-url.example.com",
                          NULL};

    send_req(f, "/orders/42?a=1&b=x%20y&a=2&plus=c%2Bd", NULL, 0, args);
    assert_str_at(f->ev, "version", "2.0");
    assert_str_at(f->ev, "routeKey", "$default");
    assert_str_at(f->ev, "rawPath", "/orders/42");
    assert_str_at(f->ev, "rawQueryString", "a=1&b=x%20y&a=2&plus=c%2Bd");
    assert_null(cJSON_GetObjectItem(f->ev, "cookies"));
    assert_str_at(f->ev, "headers.x-multi", "a,b");
    assert_str_at(f->ev, "headers.user-agent", "test-agent/1.0");
    assert_str_at(f->ev, "headers.host", "abc123.lambda-url.example.com");
    assert_str_at(f->ev, "queryStringParameters.a", "1,2");
    assert_str_at(f->ev, "queryStringParameters.b", "x y");
    assert_str_at(f->ev, "queryStringParameters.plus", "c+d");
    assert_str_at(f->ev, "requestContext.accountId", "anonymous");
    assert_str_at(f->ev, "requestContext.apiId", "trigd");
    assert_str_at(f->ev, "requestContext.domainName", "abc123.lambda-url.example.com");
    assert_str_at(f->ev, "requestContext.domainPrefix", "abc123");
    assert_str_at(f->ev, "requestContext.http.method", "GET");
    assert_str_at(f->ev, "requestContext.http.path", "/orders/42");
    assert_str_at(f->ev, "requestContext.http.protocol", "HTTP/1.1");
    assert_str_at(f->ev, "requestContext.http.sourceIp", "127.0.0.1");
    assert_str_at(f->ev, "requestContext.http.userAgent", "test-agent/1.0");
    assert_str_at(f->ev, "requestContext.requestId", "c0ffee00-0000-4000-8000-000000000001");
    assert_str_at(f->ev, "requestContext.routeKey", "$default");
    assert_str_at(f->ev, "requestContext.stage", "$default");
    assert_str_at(f->ev, "requestContext.time", "14/Jun/2025:09:31:07 +0000");
    const cJSON *te = cJSON_GetObjectItem(cJSON_GetObjectItem(f->ev, "requestContext"), "timeEpoch");
    assert_true(cJSON_IsNumber(te) && te->valuedouble == (double)NOW_MS);
    /* empty body: omitted, not base64 */
    assert_null(cJSON_GetObjectItem(f->ev, "body"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
    /* names are lowercased: no upper-case key anywhere in headers */
    for (const cJSON *h = cJSON_GetObjectItem(f->ev, "headers")->child; h; h = h->next)
        for (const char *p = h->string; *p; p++)
            assert_false(*p >= 'A' && *p <= 'Z');
    /* compact JSON, in AWS's key order */
    assert_null(strstr(f->json, "\n"));
    assert_true(strncmp(f->json, "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":", 49) == 0);
}

static void test_no_query(void **state)
{
    struct fixture *f = *state;

    send_req(f, "/", NULL, 0, NULL);
    assert_str_at(f->ev, "rawQueryString", "");
    assert_null(cJSON_GetObjectItem(f->ev, "queryStringParameters"));
    assert_str_at(f->ev, "requestContext.domainName", f->base + 7);
    assert_str_at(f->ev, "requestContext.domainPrefix", f->base + 7); /* an address: kept whole */
}

static void test_cookies(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"-H", "Cookie: s=1; theme=dark", "-H", "Cookie: x=y", NULL};
    const cJSON *c;

    send_req(f, "/c", NULL, 0, args);
    c = cJSON_GetObjectItem(f->ev, "cookies");
    assert_true(cJSON_IsArray(c));
    assert_int_equal(cJSON_GetArraySize(c), 3);
    assert_string_equal(cJSON_GetArrayItem(c, 0)->valuestring, "s=1");
    assert_string_equal(cJSON_GetArrayItem(c, 1)->valuestring, "theme=dark");
    assert_string_equal(cJSON_GetArrayItem(c, 2)->valuestring, "x=y");
    assert_null(str_at(f->ev, "headers.cookie"));
}

static void test_json_body(void **state)
{
    struct fixture *f = *state;
    const char *body = "{\"name\":\"Zoë\",\"emoji\":\"\xf0\x9f\x9a\x80\",\"q\":\"\\\"x\\\"\"}";
    const char *args[] = {"-H", "Content-Type: application/json; charset=utf-8", NULL};

    send_req(f, "/hook", body, strlen(body), args);
    assert_str_at(f->ev, "requestContext.http.method", "POST");
    assert_str_at(f->ev, "body", body);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
    assert_str_at(f->ev, "headers.content-type", "application/json; charset=utf-8");
}

static void test_form_and_text_bodies(void **state)
{
    struct fixture *f = *state;
    const char *form[] = {"-H", "Content-Type: application/x-www-form-urlencoded", NULL};
    const char *text[] = {"-H", "Content-Type: text/plain", NULL};

    send_req(f, "/f", "a=1&b=%20", 9, form);
    assert_str_at(f->ev, "body", "a=1&b=%20");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
    /* text type but invalid UTF-8: base64 */
    send_req(f, "/t", "ab\xff", 3, text);
    assert_str_at(f->ev, "body", "YWL/");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
}

static void test_binary_body(void **state)
{
    struct fixture *f = *state;
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    const char *args[] = {"-H", "Content-Type: image/png", NULL};
    const char *utf8_but_binary_type[] = {"-H", "Content-Type: application/octet-stream", NULL};

    send_req(f, "/bin", png, sizeof png, args);
    assert_str_at(f->ev, "body", "iVBORw0KGgoAAAAN");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
    send_req(f, "/bin", "hello", 5, utf8_but_binary_type);
    assert_str_at(f->ev, "body", "aGVsbG8=");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f->ev, "isBase64Encoded")));
}

static void test_body_is_text(void **state)
{
    (void)state;
    assert_true(trg_webhook_body_is_text("text/plain", "abc", 3));
    assert_true(trg_webhook_body_is_text("Application/JSON", "{}", 2));
    assert_true(trg_webhook_body_is_text("application/vnd.api+json", "{}", 2));
    assert_true(trg_webhook_body_is_text("application/xml", "<a/>", 4));
    assert_true(trg_webhook_body_is_text("text/javascript", "x", 1));
    assert_true(trg_webhook_body_is_text("application/x-www-form-urlencoded", "a=1", 3));
    assert_true(trg_webhook_body_is_text("text/plain", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_false(trg_webhook_body_is_text(NULL, "abc", 3));
    assert_false(trg_webhook_body_is_text("image/png", "abc", 3));
    assert_false(trg_webhook_body_is_text("text/plain", "a\0b", 3));
    assert_false(trg_webhook_body_is_text("text/plain", "\xc3", 1));             /* truncated */
    assert_false(trg_webhook_body_is_text("text/plain", "\xc0\x80", 2));         /* overlong */
    assert_false(trg_webhook_body_is_text("text/plain", "\xed\xa0\x80", 3));     /* surrogate */
    assert_false(trg_webhook_body_is_text("text/plain", "\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(trg_webhook_body_is_text("text/plain", "\x80", 1));
}

static void test_base64_decode(void **state)
{
    struct trg_buf b = {0};

    (void)state;
    assert_int_equal(trg_webhook_base64_decode("aGVsbG8=", 8, &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    trg_buf_reset(&b);
    assert_int_equal(trg_webhook_base64_decode("aGVsbG8", 7, &b), 0);
    assert_memory_equal(b.data, "hello", 5);
    trg_buf_reset(&b);
    assert_int_equal(trg_webhook_base64_decode("iVBORw0KGgoAAAAN", 16, &b), 0);
    assert_int_equal(b.len, 12);
    assert_int_equal((unsigned char)b.data[0], 0x89);
    trg_buf_reset(&b);
    assert_int_equal(trg_webhook_base64_decode("", 0, &b), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(trg_webhook_base64_decode("a!==", 4, &b), TRG_EINVAL);
    trg_buf_reset(&b);
    assert_int_equal(trg_webhook_base64_decode("a", 1, &b), TRG_EINVAL);
    trg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_with_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_and_text_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_body, setup, teardown),
        cmocka_unit_test(test_body_is_text),
        cmocka_unit_test(test_base64_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
