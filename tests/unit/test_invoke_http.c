/* test_invoke_http.c — the http invoker against a real libmicrohttpd server on a free port.
 *
 * The server runs on its own threads (MHD's thread per connection), the invoker on a libev loop
 * from ev_loop_new() in the test thread. The path picks the answer: /ok echoes, /throttle is 429
 * with Retry-After: 7, /busy is 503 with an HTTP date, /fail 500, /big 413, /slow sleeps 2 s.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "invoke_common.h"

static const struct trg_invoker_ops *ops = &trg_invoke_http;

static struct MHD_Daemon *daemon_;
static unsigned short port_;
static atomic_int connections_;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_request_id[64];
static char seen_content_type[64];
static char seen_custom[64];

struct upload {
    struct trg_buf body;
};

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&connections_, 1);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct upload *u = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (u) {
        trg_buf_free(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t n)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(out, n, "%s", v ? v : "");
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body, size_t len,
                             const char *hname, const char *hvalue)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls)
{
    struct upload *u = *con_cls;
    (void)cls;
    (void)method;
    (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        *con_cls = u;
        return u ? MHD_YES : MHD_NO;
    }
    if (*size) {
        trg_buf_add(&u->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&seen_lock);
    copy_header(conn, "X-Trigd-Request-Id", seen_request_id, sizeof(seen_request_id));
    copy_header(conn, "Content-Type", seen_content_type, sizeof(seen_content_type));
    copy_header(conn, "X-Custom", seen_custom, sizeof(seen_custom));
    pthread_mutex_unlock(&seen_lock);
    if (strcmp(url, "/ok") == 0)
        return reply(conn, 200, u->body.data ? u->body.data : "", u->body.len, NULL, NULL);
    if (strcmp(url, "/throttle") == 0)
        return reply(conn, 429, "{}", 2, "Retry-After", "7");
    if (strcmp(url, "/busy") == 0) {
        char date[64];
        time_t t = time(NULL) + 120;
        struct tm tm;
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&t, &tm));
        return reply(conn, 503, "", 0, "Retry-After", date);
    }
    if (strcmp(url, "/fail") == 0)
        return reply(conn, 500, "{\"errorMessage\":\"boom\"}", 23, NULL, NULL);
    if (strcmp(url, "/big") == 0)
        return reply(conn, 413, "", 0, NULL, NULL);
    if (strcmp(url, "/slow") == 0) {
        struct timespec ts = {2, 0};
        nanosleep(&ts, NULL);
        return reply(conn, 200, "late", 4, NULL, NULL);
    }
    return reply(conn, 404, "", 0, NULL, NULL);
}

static int server_up(void **state)
{
    (void)state;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                               handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                               MHD_OPTION_NOTIFY_CONNECTION, notify_conn, NULL, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
                                                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
                               MHD_OPTION_END);
    if (!daemon_)
        return -1;
    port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return port_ ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    return 0;
}

static struct fixture *fx_new(const char *path, const char *extra)
{
    char *json = trg_asprintf("{\"url\": \"http://127.0.0.1:%u%s\"%s}", port_, path, extra ? extra : "");
    assert_non_null(json);
    struct fixture *f = fixture_new(ops, "t", json);
    trg_free(json);
    return f;
}

static void fx_free(struct fixture *f) { fixture_free(f); }

static void invoke(struct fixture *f, const char *payload, int64_t timeout_ms, const char *id)
{
    struct trg_invoke_req req = {
        .function = "t", .request_id = id, .payload = payload, .len = strlen(payload), .timeout_ms = timeout_ms};
    int before = f->got.calls;
    assert_int_equal(ops->invoke(f->inst, &req, got_cb, &f->got), 0);
    assert_int_equal(f->got.calls, before); /* never synchronous */
}

static void test_ok_with_body(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/ok", ", \"headers\": {\"X-Custom\": \"yes\"}");

    invoke(f, "{\"batchItemFailures\":[]}", 5000, "req-ok");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_int_equal(f->got.status, 200);
    assert_string_equal(f->got.body, "{\"batchItemFailures\":[]}");
    assert_string_equal(f->got.content_type, "application/json");
    assert_null(f->got.function_error);
    assert_true(f->got.duration_ms > 0);
    pthread_mutex_lock(&seen_lock);
    assert_string_equal(seen_request_id, "req-ok");
    assert_string_equal(seen_content_type, "application/json");
    assert_string_equal(seen_custom, "yes");
    pthread_mutex_unlock(&seen_lock);
    fx_free(f);
}

static void test_throttled_retry_after(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/throttle", NULL);

    invoke(f, "{}", 5000, "req-429");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_THROTTLED);
    assert_int_equal(f->got.status, 429);
    assert_int_equal(f->got.retry_after_ms, 7000);
    fx_free(f);

    f = fx_new("/busy", NULL);
    invoke(f, "{}", 5000, "req-503");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_THROTTLED);
    assert_int_equal(f->got.status, 503);
    assert_true(f->got.retry_after_ms > 100000 && f->got.retry_after_ms <= 121000);
    fx_free(f);
}

static void test_server_error(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/fail", NULL);

    invoke(f, "{}", 5000, "req-500");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 500);
    assert_string_equal(f->got.function_error, "Unhandled");
    assert_string_equal(f->got.body, "{\"errorMessage\":\"boom\"}");
    assert_int_equal(f->got.retry_after_ms, -1);
    fx_free(f);
}

static void test_too_large_rejected(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/big", NULL);

    invoke(f, "{}", 5000, "req-413");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_REJECTED);
    assert_int_equal(f->got.status, 413);
    fx_free(f);
}

static void test_timeout(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/slow", NULL);

    invoke(f, "{}", 300, "req-slow");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "Timeout");
    /* "Timeout" already says the call was cut before /slow answered (at 2 s); the duration's lower bound says
     * the timeout did not fire early. No upper bound: that would measure the machine. */
    assert_true(f->got.duration_ms >= 290);
    fx_free(f);
}

static unsigned short closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* nobody listens there now */
    return ntohs(a.sin_port);
}

static void test_connection_refused(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char *json = trg_asprintf("{\"url\": \"http://127.0.0.1:%u/\"}", closed_port());
    void *opts = opts_from_json(ops, json);
    void *inst = NULL;
    struct got g = {0};
    struct trg_invoke_req req = {.function = "t", .request_id = "r", .payload = "{}", .len = 2, .timeout_ms = 5000};

    assert_int_equal(ops->create(loop, "t", opts, &inst), 0);
    assert_int_equal(ops->invoke(inst, &req, got_cb, &g), 0);
    assert_true(run_until(loop, &g.calls, 1, 10));
    assert_int_equal(g.outcome, TRG_OUT_ERROR);
    assert_int_equal(g.status, -1);
    assert_non_null(g.function_error);
    assert_string_equal(g.function_error, curl_easy_strerror(CURLE_COULDNT_CONNECT));
    got_clear(&g);
    ops->destroy(inst);
    opts_free(ops, opts);
    trg_free(json);
    ev_loop_destroy(loop);
}

static void test_keepalive_reuse(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/ok", NULL);
    int before = atomic_load(&connections_);

    for (int i = 0; i < 5; i++) {
        invoke(f, "{\"n\":1}", 5000, "req-ka");
        assert_true(run_until(f->loop, &f->got.calls, i + 1, 10));
        assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    }
    assert_int_equal(atomic_load(&connections_) - before, 1);
    fx_free(f);
}

static void test_cancel_on_destroy(void **state)
{
    (void)state;
    struct fixture *f = fx_new("/slow", NULL);

    invoke(f, "{}", 5000, "req-cancel");
    invoke(f, "{}", 5000, "req-cancel2");
    ev_run(f->loop, EVRUN_NOWAIT);
    ops->destroy(f->inst);
    f->inst = NULL;
    ev_run(f->loop, EVRUN_NOWAIT);
    assert_int_equal(f->got.calls, 0);
    fx_free(f);
}

static void test_options(void **state)
{
    (void)state;
    assert_int_equal(opts_errors(ops, "{\"url\": \"ftp://x/\"}"), 1);
    assert_true(opts_errors(ops, "{}") >= 1);
    assert_int_equal(opts_errors(ops, "{\"url\": \"https://x/\", \"headers\": {\"Bad Name\": \"v\"}}"), 1);
    assert_int_equal(opts_errors(ops, "{\"url\": \"http://x/\", \"max_response_bytes\": 0}"), 1);
    assert_int_equal(opts_errors(ops, "{\"url\": \"http://x/\", \"headers\": {\"A\": \"b\"}}"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_ok_with_body),
        cmocka_unit_test(test_throttled_retry_after),
        cmocka_unit_test(test_server_error),
        cmocka_unit_test(test_too_large_rejected),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_cancel_on_destroy),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
