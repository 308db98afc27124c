/* test_webhook_event.c — the payload-2.0 request event for real requests (captured from trigd's
 * HTTP server on a private loop, sent by curl): query strings, repeated headers, cookies, binary
 * bodies in base64, empty bodies, UTF-8 text; plus the text/binary rule. */
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
    const struct trg_strlist *redact; /* headers left out of the events built */
    char *json;
};

static void capture(void *arg, struct trg_http_req *req)
{
    struct fixture *f = arg;
    struct trg_buf b = {0};

    assert_int_equal(
        trg_webhook_event_build(req, "c0ffee00-0000-4000-8000-000000000001", NOW_MS, f->redact, &b), 0);
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

/* Headers on the redact list leave no trace in the event, whatever their case; Cookie on it empties
 * cookies too; the others arrive as before. */
static void test_redacted_headers(void **state)
{
    struct fixture *f = *state;
    char *names[] = {"authorization", "Proxy-Authorization", "COOKIE", "X-Api-Key"};
    const struct trg_strlist redact = {names, 4};
    const char *args[] = {"-H", "Authorization: Bearer s3cret-token",
                          "-H", "Proxy-Authorization: Basic cHJveHk=",
                          "-H", "Cookie: sid=cookie-secret",
                          "-H", "x-api-key: key-secret",
                          "-H", "X-Api-Key: key-secret-2",
                          "-H", "X-Keep: yes",
                          NULL};

    f->redact = &redact;
    send_req(f, "/r", "{}", 2, args);
    assert_str_at(f->ev, "headers.x-keep", "yes");
    assert_null(cJSON_GetObjectItem(f->ev, "cookies"));
    const char *gone[] = {"s3cret-token", "cHJveHk=", "cookie-secret", "key-secret", "authorization", "cookie",
                          "x-api-key"};
    for (size_t i = 0; i < TRG_ARRAY_SIZE(gone); i++)
        if (strstr(f->json, gone[i]))
            fail_msg("%s is in the event: %s", gone[i], f->json);

    /* without a list, the same request keeps every header */
    f->redact = NULL;
    send_req(f, "/r", "{}", 2, args);
    assert_str_at(f->ev, "headers.authorization", "Bearer s3cret-token");
    assert_str_at(f->ev, "headers.x-api-key", "key-secret,key-secret-2");
    assert_non_null(cJSON_GetObjectItem(f->ev, "cookies"));
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

/* ---- the connector itself, against a fake engine ------------------------------------------------ */

#include "connectors/connector.h"
#include "invoke/invoke.h"
#include "opt.h"

struct trg_source {
    const char *name;
};

static struct {
    struct ev_loop *loop;
    struct trg_http *http;
    bool full;
    int emit_err;
    struct trg_event *evs[8];
    size_t n;
    void *inst;          /* the webhook instance, told when events are accepted */
    ev_timer accept;     /* like the engine: accepted later from the loop, never inside emit */
    size_t accepted;
} fake;

static void fake_accept_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    while (fake.accepted < fake.n)
        trg_source_webhook.accepted(fake.inst, fake.evs[fake.accepted++], 0);
}

struct ev_loop *trg_source_loop(struct trg_source *src) { return fake.loop; }
const char *trg_source_name(struct trg_source *src) { return src->name; }
struct trg_http *trg_source_http(struct trg_source *src) { return fake.http; }
bool trg_source_can_accept(struct trg_source *src) { return !fake.full; }
bool trg_source_shutting_down(struct trg_source *src) { return false; }
void trg_source_request_id(struct trg_source *src, char out[40]) { trg_request_id(out); }
int trg_source_emit(struct trg_source *src, struct trg_event *ev)
{
    if (fake.emit_err)
        return fake.emit_err;
    assert_true(fake.n < 8);
    fake.evs[fake.n++] = ev;
    ev_timer_init(&fake.accept, fake_accept_cb, 0., 0.);
    ev_timer_start(fake.loop, &fake.accept);
    return 0;
}

struct wh {
    struct trg_source src;
    void *opts;
    void *inst;
};

static void wh_start(struct fixture *f, struct wh *w, const char *config)
{
    const struct trg_source_ops *ops = &trg_source_webhook;
    struct trg_errs errs = {0};
    cJSON *obj = cJSON_Parse(config);

    memset(&fake, 0, sizeof fake);
    fake.loop = f->loop;
    fake.http = f->h;
    w->src.name = "hooks";
    w->opts = calloc(1, ops->opts_size);
    assert_int_equal(
        trg_opt_apply(ops->options, ops->n_options, w->opts, obj, "$.sources.hooks", NULL, &errs), 0);
    ops->check(w->opts, "$.sources.hooks", &errs);
    assert_int_equal(errs.lines.n, 0);
    cJSON_Delete(obj);
    assert_int_equal(ops->create(&w->src, w->opts, &w->inst), 0);
    fake.inst = w->inst;
    assert_int_equal(ops->start(w->inst), 0);
    assert_true(ops->ready(w->inst));
}

static void wh_stop(struct wh *w)
{
    const struct trg_source_ops *ops = &trg_source_webhook;

    ev_timer_stop(fake.loop, &fake.accept);
    ops->stop(w->inst);
    ops->destroy(w->inst);
    trg_opt_free(ops->options, ops->n_options, w->opts);
    free(w->opts);
    for (size_t i = 0; i < fake.n; i++)
        trg_event_free(fake.evs[i]);
    fake.n = 0;
}

static int post(struct fixture *f, const char *path, const char *const *args)
{
    char url[256];

    snprintf(url, sizeof url, "%s%s", f->base, path);
    th_client_clear(f->loop, &f->c);
    return th_curl(f->loop, &f->c, url, "{\"a\":1}", 7, args);
}

static void test_webhook_async(void **state)
{
    struct fixture *f = *state;
    struct wh w;
    const char *json[] = {"-H", "Content-Type: application/json", NULL};
    const char *get[] = {"-X", "GET", NULL};
    char v[64];

    trg_http_unroute(f->h, f);
    wh_start(f, &w, "{\"path\":\"/hook\"}");
    assert_int_equal(post(f, "/hook", json), 202);
    assert_int_equal(fake.n, 1);
    assert_non_null(strstr(f->c.body, fake.evs[0]->item_id));
    assert_non_null(strstr(fake.evs[0]->json, "\"body\":\"{\\\"a\\\":1}\""));
    assert_null(fake.evs[0]->token);
    assert_int_equal(post(f, "/hook", get), 405);
    fake.full = true;
    assert_int_equal(post(f, "/hook", json), 503);
    assert_true(th_header(&f->c, "Retry-After", v, sizeof v));
    fake.full = false;
    fake.emit_err = TRG_EFULL;
    assert_int_equal(post(f, "/hook", json), 503);
    fake.emit_err = TRG_ESTATE;
    assert_int_equal(post(f, "/hook", json), 503);
    fake.emit_err = 0;
    assert_int_equal(post(f, "/other", json), 404);
    /* envelope: one event as is, several wrapped */
    struct trg_buf b = {0};
    struct trg_event *two[2] = {fake.evs[0], fake.evs[0]};
    assert_int_equal(trg_source_webhook.envelope(w.inst, two, 1, &b), 0);
    assert_string_equal(b.data, fake.evs[0]->json);
    trg_buf_reset(&b);
    assert_int_equal(trg_source_webhook.envelope(w.inst, two, 2, &b), 0);
    assert_true(!strncmp(b.data, "{\"eventSource\":\"trigd:webhook\",\"records\":[{", 43));
    trg_buf_free(&b);
    wh_stop(&w);
    assert_int_equal(post(f, "/hook", json), 404);
}

static void test_webhook_auth(void **state)
{
    struct fixture *f = *state;
    struct wh w;
    const char *none[] = {NULL};
    const char *wrong[] = {"-H", "Authorization: Bearer nope", NULL};
    const char *right[] = {"-H", "Authorization: Bearer s3cret", NULL};

    trg_http_unroute(f->h, f);
    setenv("TEST_WEBHOOK_TOKEN", "s3cret", 1);
    wh_start(f, &w, "{\"path\":\"/hook\",\"auth_token_env\":\"TEST_WEBHOOK_TOKEN\"}");
    assert_int_equal(post(f, "/hook", none), 401);
    assert_int_equal(post(f, "/hook", wrong), 401);
    assert_int_equal(fake.n, 0);
    assert_int_equal(post(f, "/hook", right), 202);
    assert_int_equal(fake.n, 1);
    wh_stop(&w);
}

static bool emitted(void *arg) { return fake.n >= *(size_t *)arg; }

/* Start a POST, wait for its event, end it with done(status, res), return the HTTP status. */
static int sync_round(struct fixture *f, struct wh *w, int status, struct trg_invoke_result *res)
{
    char url[256];
    size_t want = fake.n + 1;

    snprintf(url, sizeof url, "%s/hook", f->base);
    th_client_clear(f->loop, &f->c);
    assert_int_equal(th_client_start(f->loop, &f->c, url, "x", 1, NULL), 0);
    assert_true(th_run_until(f->loop, emitted, &want, 10.));
    assert_non_null(fake.evs[want - 1]->token);
    trg_source_webhook.done(w->inst, fake.evs[want - 1], status, res);
    th_run_until(f->loop, th_client_done, &f->c, 10.);
    return f->c.status;
}

static void test_webhook_sync(void **state)
{
    struct fixture *f = *state;
    struct wh w;
    char v[64];
    struct trg_invoke_result res = {.outcome = TRG_OUT_SUCCESS, .status = 200, .retry_after_ms = -1};

    trg_http_unroute(f->h, f);
    wh_start(f, &w, "{\"path\":\"/hook\",\"mode\":\"sync\",\"sync_timeout_ms\":300}");
    res.body = "{\"statusCode\":201,\"headers\":{\"x-a\":\"b\",\"content-type\":\"text/plain\"},"
               "\"cookies\":[\"k=v\"],\"body\":\"aGk=\",\"isBase64Encoded\":true}";
    res.body_len = strlen(res.body);
    assert_int_equal(sync_round(f, &w, TRG_DONE_OK, &res), 201);
    assert_string_equal(f->c.body, "hi");
    assert_true(th_header(&f->c, "x-a", v, sizeof v));
    assert_string_equal(v, "b");
    assert_true(th_header(&f->c, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain");
    assert_true(th_header(&f->c, "Set-Cookie", v, sizeof v));
    /* a plain body: 200 as is */
    res.body = "[1,2]";
    res.body_len = 5;
    assert_int_equal(sync_round(f, &w, TRG_DONE_OK, &res), 200);
    assert_string_equal(f->c.body, "[1,2]");
    assert_true(th_header(&f->c, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json");
    /* function error, DLQ, abandoned */
    res.outcome = TRG_OUT_ERROR;
    res.function_error = "Unhandled";
    assert_int_equal(sync_round(f, &w, TRG_DONE_OK, &res), 502);
    assert_int_equal(sync_round(f, &w, TRG_DONE_OK, NULL), 502);
    assert_int_equal(sync_round(f, &w, TRG_DONE_ABANDONED, NULL), 503);
    /* too slow: 504, and the late outcome is dropped */
    char url[256];
    size_t want = fake.n + 1;
    snprintf(url, sizeof url, "%s/hook", f->base);
    th_client_clear(f->loop, &f->c);
    assert_int_equal(th_client_start(f->loop, &f->c, url, "x", 1, NULL), 0);
    assert_true(th_run_until(f->loop, th_client_done, &f->c, 10.));
    assert_int_equal(f->c.status, 504);
    assert_int_equal(fake.n, want);
    trg_source_webhook.done(w.inst, fake.evs[want - 1], TRG_DONE_OK, NULL);
    /* an event still waiting at destroy is answered 503 */
    want = fake.n + 1;
    th_client_clear(f->loop, &f->c);
    assert_int_equal(th_client_start(f->loop, &f->c, url, "x", 1, NULL), 0);
    assert_true(th_run_until(f->loop, emitted, &want, 10.));
    wh_stop(&w);
    th_run_until(f->loop, th_client_done, &f->c, 10.);
    assert_int_equal(f->c.status, 503);
}

static void test_webhook_check(void **state)
{
    const struct trg_source_ops *ops = &trg_source_webhook;
    struct trg_errs errs = {0};
    void *opts = calloc(1, ops->opts_size);
    cJSON *obj = cJSON_Parse("{\"path\":\"hook\",\"max_body_bytes\":0}");

    (void)state;
    trg_opt_apply(ops->options, ops->n_options, opts, obj, "$.sources.w", NULL, &errs);
    ops->check(opts, "$.sources.w", &errs);
    assert_int_equal(errs.lines.n, 2);
    assert_non_null(strstr(errs.lines.v[1], "$.sources.w.path"));
    trg_errs_free(&errs);
    trg_opt_free(ops->options, ops->n_options, opts);
    free(opts);
    cJSON_Delete(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_with_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redacted_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_and_text_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_body, setup, teardown),
        cmocka_unit_test(test_body_is_text),
        cmocka_unit_test_setup_teardown(test_webhook_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_sync, setup, teardown),
        cmocka_unit_test(test_webhook_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
