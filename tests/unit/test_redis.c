/* test_redis.c — the shared Redis connection against a real redis-server on a free 127.0.0.1 port:
 * URL parsing table, connect, SELECT, unix sockets, AUTH with an ACL user, wrong passwords,
 * reconnect after the server is killed and restarted on the same port, TRG_ESTATE while down,
 * command and connect timeouts, destroy at every point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "redis_server.h"
#include "util.h"

static struct test_redis srv;

/* --- URL table ------------------------------------------------------------------------------- */

struct url_case {
    const char *url;
    int rc;
    const char *host;
    int port;
    const char *unix_path;
    const char *user;
    const char *password;
    int db;
};

static const struct url_case url_cases[] = {
    {"redis://127.0.0.1", 0, "127.0.0.1", 6379, NULL, NULL, NULL, 0},
    {"redis://localhost:6380", 0, "localhost", 6380, NULL, NULL, NULL, 0},
    {"redis://localhost:6380/", 0, "localhost", 6380, NULL, NULL, NULL, 0},
    {"redis://localhost/5", 0, "localhost", 6379, NULL, NULL, NULL, 5},
    {"redis://h:1/15", 0, "h", 1, NULL, NULL, NULL, 15},
    {"redis://:secret@h", 0, "h", 6379, NULL, NULL, "secret", 0},
    {"redis://alice:secret@h:7000/2", 0, "h", 7000, NULL, "alice", "secret", 2},
    {"redis://alice@h", 0, "h", 6379, NULL, "alice", NULL, 0},
    {"redis://al%69ce:p%40ss%3Aw%2Frd@h", 0, "h", 6379, NULL, "alice", "p@ss:w/rd", 0},
    {"redis://u:p@ss@h", 0, "h", 6379, NULL, "u", "p@ss", 0}, /* the last '@' ends the userinfo */
    {"redis://[::1]:6390/1", 0, "::1", 6390, NULL, NULL, NULL, 1},
    {"redis://[::1]", 0, "::1", 6379, NULL, NULL, NULL, 0},
    {"unix:///run/redis.sock", 0, NULL, 6379, "/run/redis.sock", NULL, NULL, 0},
    {"unix:///run/redis.sock?db=3", 0, NULL, 6379, "/run/redis.sock", NULL, NULL, 3},
    {"", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"127.0.0.1:6379", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"rediss://h", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"http://h", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://:6379", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h:", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h:0", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h:65536", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h:12ab", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h/x", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h/-1", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h/1/2", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://h?db=1", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://a:b:c", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://[::1", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://u:%zz@h", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://u:%4@h", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"redis://u:%00@h", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"unix://", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"unix://relative.sock", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"unix:///s.sock?db=x", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
    {"unix:///s.sock?foo=1", TRG_EINVAL, NULL, 0, NULL, NULL, NULL, 0},
};

static void assert_opt_str(const char *got, const char *want, const char *url)
{
    if (!want) {
        if (got)
            fail_msg("%s: got \"%s\", want NULL", url, got);
        return;
    }
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", url, got ? got : "(null)", want);
}

static void test_url_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(url_cases); i++) {
        const struct url_case *c = &url_cases[i];
        char *host, *unix_path, *user, *password;
        int port, db;
        int rc = trg_redis_parse_url(c->url, &host, &port, &unix_path, &user, &password, &db);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", c->url, rc, c->rc);
        if (rc == 0) {
            assert_opt_str(host, c->host, c->url);
            assert_opt_str(unix_path, c->unix_path, c->url);
            assert_opt_str(user, c->user, c->url);
            assert_opt_str(password, c->password, c->url);
            if (port != c->port || db != c->db)
                fail_msg("%s: port %d db %d, want %d %d", c->url, port, db, c->port, c->db);
        } else {
            assert_null(host);
            assert_null(unix_path);
            assert_null(user);
            assert_null(password);
        }
        trg_free(host);
        trg_free(unix_path);
        trg_free(user);
        trg_free(password);
    }
    char *h, *u, *un, *pw;
    int port, db;
    assert_int_equal(trg_redis_parse_url(NULL, &h, &port, &un, &u, &pw, &db), TRG_EINVAL);
}

/* --- loop helpers ---------------------------------------------------------------------------- */

struct fx {
    struct ev_loop *loop;
    ev_timer tick; /* makes EVRUN_ONCE return at least every 10 ms */
    struct trg_redis_conf conf;
    struct trg_redis *r;
    int ups, downs;
    bool up;
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void on_state(void *arg, bool connected)
{
    struct fx *f = arg;
    f->up = connected;
    if (connected)
        f->ups++;
    else
        f->downs++;
}

/* Run the loop until *flag is true or the deadline passes. */
static bool run_until(struct fx *f, const bool *flag, double seconds)
{
    double deadline = tr_now() + seconds;
    while (!*flag && tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    return *flag;
}

static void run_for(struct fx *f, double seconds)
{
    bool never = false;
    run_until(f, &never, seconds);
}

static void fx_open(struct fx *f, const char *url_fmt, ...)
{
    va_list ap;
    va_start(ap, url_fmt);
    char url[256];
    vsnprintf(url, sizeof(url), url_fmt, ap);
    va_end(ap);
    trg_free(f->conf.url);
    f->conf.url = trg_strdup(url);
    f->conf.prefix = NULL;
    assert_int_equal(trg_redis_create(f->loop, &f->conf, NULL, NULL, &f->r), 0);
    trg_redis_on_state(f->r, on_state, f);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&f->tick, tick_cb, 0.01, 0.01);
    ev_timer_start(f->loop, &f->tick);
    f->conf.connect_timeout_ms = 2000;
    f->conf.command_timeout_ms = 5000;
    if (!srv.pid && !tr_start(&srv))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    trg_redis_destroy(f->r);
    ev_run(f->loop, EVRUN_NOWAIT); /* reap what was destroyed from a callback */
    ev_timer_stop(f->loop, &f->tick);
    ev_loop_destroy(f->loop);
    trg_free(f->conf.url);
    trg_free(f->conf.password);
    free(f);
    return 0;
}

/* A command and what came back. */
struct call {
    bool done;
    bool null_reply;
    int type;
    char str[128];
    long long integer;
};

static void call_cb(void *arg, struct redisReply *reply)
{
    struct call *c = arg;
    c->done = true;
    c->null_reply = reply == NULL;
    if (reply) {
        c->type = reply->type;
        c->integer = reply->integer;
        if (reply->str)
            snprintf(c->str, sizeof(c->str), "%.*s", (int)reply->len, reply->str);
    }
}

static struct call cmd(struct fx *f, int argc, const char **argv)
{
    struct call c = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, argc, argv, NULL), 0);
    assert_false(c.done);
    assert_true(run_until(f, &c.done, 5));
    return c;
}

/* --- tests ----------------------------------------------------------------------------------- */

static void test_connect_and_command(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    assert_false(trg_redis_connected(f->r));
    assert_string_equal(trg_redis_prefix(f->r), "trigd:");
    assert_true(run_until(f, &f->up, 5));
    assert_true(trg_redis_connected(f->r));
    assert_int_equal(f->ups, 1);

    const char *set[] = {"SET", "t:bin", "a\0b"};
    size_t lens[] = {3, 5, 3};
    struct call c = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, 3, set, lens), 0);
    assert_true(run_until(f, &c.done, 5));
    assert_string_equal(c.str, "OK");
    const char *strlen_[] = {"STRLEN", "t:bin"};
    c = cmd(f, 2, strlen_);
    assert_int_equal(c.type, REDIS_REPLY_INTEGER);
    assert_int_equal(c.integer, 3);
    const char *bad[] = {"NOSUCHCOMMAND"};
    c = cmd(f, 1, bad);
    assert_int_equal(c.type, REDIS_REPLY_ERROR);
    assert_true(trg_redis_connected(f->r)); /* an error reply is not a link problem */
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, 0, bad, NULL), TRG_EINVAL);
}

static void test_select_db(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d/3", srv.port);
    assert_true(run_until(f, &f->up, 5));
    const char *set[] = {"SET", "t:db", "three"};
    assert_string_equal(cmd(f, 3, set).str, "OK");
    redisReply *r = tr_cmd(&srv, "SELECT 3");
    freeReplyObject(r);
    /* a fresh sync connection is in db 0: the key must not be there */
    assert_int_equal(tr_int(&srv, "EXISTS %s", "t:db"), 0);
    redisContext *c = tr_connect(&srv);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    r = redisCommand(c, "GET t:db");
    assert_string_equal(r->str, "three");
    freeReplyObject(r);
    redisFree(c);
}

static void test_unix_socket(void **state)
{
    struct fx *f = *state;
    fx_open(f, "unix://%s?db=2", srv.sock);
    assert_true(run_until(f, &f->up, 5));
    const char *ping[] = {"PING"};
    assert_string_equal(cmd(f, 1, ping).str, "PONG");
}

static void test_acl_user(void **state)
{
    struct fx *f = *state;
    redisReply *r = tr_cmd(&srv, "ACL SETUSER alice on >p@ss:w/rd ~* +@all");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    fx_open(f, "redis://alice:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/1", srv.port);
    assert_true(run_until(f, &f->up, 5));
    const char *who[] = {"ACL", "WHOAMI"};
    assert_string_equal(cmd(f, 2, who).str, "alice");
}

static void test_password_from_conf_overrides_url(void **state)
{
    struct fx *f = *state;
    redisReply *r = tr_cmd(&srv, "ACL SETUSER bob on >right ~* +@all");
    freeReplyObject(r);
    f->conf.password = trg_strdup("right");
    fx_open(f, "redis://bob:wrong@127.0.0.1:%d", srv.port);
    assert_true(run_until(f, &f->up, 5));
    const char *who[] = {"ACL", "WHOAMI"};
    assert_string_equal(cmd(f, 2, who).str, "bob");
}

static void test_wrong_password(void **state)
{
    struct fx *f = *state;
    redisReply *r = tr_cmd(&srv, "ACL SETUSER carol on >right ~* +@all");
    freeReplyObject(r);
    fx_open(f, "redis://carol:wrong@127.0.0.1:%d", srv.port);
    run_for(f, 0.5); /* several attempts, all refused */
    assert_false(trg_redis_connected(f->r));
    assert_int_equal(f->ups, 0);
    assert_int_equal(f->downs, 0); /* never up: no change to report */
    const char *ping[] = {"PING"};
    struct call c = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, 1, ping, NULL), TRG_ESTATE);
    /* a user without a password is a config error */
    struct trg_redis *r2 = NULL;
    struct trg_redis_conf conf = {.url = "redis://dave@127.0.0.1:1"};
    assert_int_equal(trg_redis_create(f->loop, &conf, NULL, NULL, &r2), TRG_EINVAL);
    assert_null(r2);
    conf.url = "rediss://127.0.0.1";
    assert_int_equal(trg_redis_create(f->loop, &conf, NULL, NULL, &r2), TRG_EINVAL);
}

static void test_reconnect_after_restart(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    assert_true(run_until(f, &f->up, 5));

    /* a command the server holds on to: it must be answered with NULL when the server dies */
    const char *blpop[] = {"BLPOP", "t:never", "30"};
    struct call pending = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &pending, 3, blpop, NULL), 0);
    run_for(f, 0.05);
    tr_kill(&srv);
    bool down = false;
    double deadline = tr_now() + 5;
    while (f->downs == 0 && tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    down = f->downs == 1;
    assert_true(down);
    assert_true(pending.done);
    assert_true(pending.null_reply);
    assert_false(trg_redis_connected(f->r));
    const char *ping[] = {"PING"};
    struct call c = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, 1, ping, NULL), TRG_ESTATE);
    run_for(f, 0.3); /* failed attempts while it is down */
    assert_false(trg_redis_connected(f->r));

    assert_true(tr_start(&srv)); /* same port */
    assert_true(run_until(f, &f->up, 10));
    assert_int_equal(f->ups, 2);
    assert_string_equal(cmd(f, 1, ping).str, "PONG");
}

static void test_command_timeout(void **state)
{
    struct fx *f = *state;
    f->conf.command_timeout_ms = 200;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    assert_true(run_until(f, &f->up, 5));
    /* BLPOP would answer only after 60 s: an answer well before means the command timeout ended it; the
     * upper bound is for a machine far slower than this one, the lower one says it did not fire early */
    const char *blpop[] = {"BLPOP", "t:never", "60"};
    struct call c = {0};
    double t0 = tr_now();
    assert_int_equal(trg_redis_command(f->r, call_cb, &c, 3, blpop, NULL), 0);
    assert_true(run_until(f, &c.done, 30));
    double took = tr_now() - t0;
    assert_true(c.null_reply);
    assert_true(took >= 0.15 && took < 20.0);
    assert_int_equal(f->downs, 1);
    /* and it comes back by itself */
    assert_true(run_until(f, &f->up, 5));
    assert_int_equal(f->ups, 2);
}

static void test_connect_timeout(void **state)
{
    struct fx *f = *state;
    /* a socket that accepts connections (backlog) but never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    f->conf.connect_timeout_ms = 100;
    fx_open(f, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    run_for(f, 0.5);
    assert_false(trg_redis_connected(f->r));
    assert_int_equal(f->ups, 0);
    trg_redis_destroy(f->r); /* while connecting */
    f->r = NULL;
    close(fd);
}

static void test_destroy_while_connecting(void **state)
{
    struct fx *f = *state;
    int port = tr_free_port();
    fx_open(f, "redis://127.0.0.1:%d", port); /* nothing listens */
    trg_redis_destroy(f->r);
    f->r = NULL;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    ev_run(f->loop, EVRUN_NOWAIT); /* TCP connected, handshake in flight */
    trg_redis_destroy(f->r);
    f->r = NULL;
}

static void test_destroy_with_pending(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    assert_true(run_until(f, &f->up, 5));
    const char *blpop[] = {"BLPOP", "t:never", "10"};
    struct call c1 = {0}, c2 = {0};
    assert_int_equal(trg_redis_command(f->r, call_cb, &c1, 3, blpop, NULL), 0);
    assert_int_equal(trg_redis_command(f->r, call_cb, &c2, 3, blpop, NULL), 0);
    trg_redis_destroy(f->r);
    f->r = NULL;
    assert_true(c1.done && c1.null_reply);
    assert_true(c2.done && c2.null_reply);
}

struct reentry {
    struct fx *f;
    int calls;
    bool null_reply;
};

static void destroy_in_cb(void *arg, struct redisReply *reply)
{
    struct reentry *re = arg;
    re->calls++;
    if (re->calls == 1) {
        trg_redis_destroy(re->f->r);
        re->f->r = NULL;
    } else {
        re->null_reply = reply == NULL;
    }
}

static void test_destroy_from_callback(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    assert_true(run_until(f, &f->up, 5));
    struct reentry re = {.f = f};
    const char *ping[] = {"PING"};
    const char *blpop[] = {"BLPOP", "t:never", "10"};
    assert_int_equal(trg_redis_command(f->r, destroy_in_cb, &re, 1, ping, NULL), 0);
    assert_int_equal(trg_redis_command(f->r, destroy_in_cb, &re, 3, blpop, NULL), 0);
    double deadline = tr_now() + 5;
    while (re.calls < 2 && tr_now() < deadline)
        ev_run(f->loop, EVRUN_ONCE);
    assert_int_equal(re.calls, 2); /* the second one answered by destroy, with NULL */
    assert_true(re.null_reply);
    ev_run(f->loop, EVRUN_NOWAIT);
}

static void destroy_in_listener(void *arg, bool connected)
{
    struct fx *f = arg;
    if (connected) {
        f->up = true;
        trg_redis_destroy(f->r);
        f->r = NULL;
    }
}

static void test_destroy_from_listener(void **state)
{
    struct fx *f = *state;
    fx_open(f, "redis://127.0.0.1:%d", srv.port);
    trg_redis_on_state(f->r, destroy_in_listener, f); /* replaces on_state for this arg */
    assert_true(run_until(f, &f->up, 5));
    assert_null(f->r);
    ev_run(f->loop, EVRUN_NOWAIT);
    trg_redis_destroy(NULL);
}

static void test_options_table(void **state)
{
    (void)state;
    struct trg_redis_conf conf;
    memset(&conf, 0, sizeof(conf));
    struct trg_errs errs = {0};
    cJSON *obj = cJSON_Parse("{\"url\":\"redis://127.0.0.1\"}");
    assert_int_equal(trg_opt_apply(trg_redis_options, trg_redis_n_options, &conf, obj, "$.redis", NULL, &errs), 0);
    assert_string_equal(conf.url, "redis://127.0.0.1");
    assert_string_equal(conf.prefix, "trigd:");
    assert_int_equal(conf.connect_timeout_ms, 2000);
    assert_int_equal(conf.command_timeout_ms, 5000);
    assert_null(conf.password);
    trg_opt_free(trg_redis_options, trg_redis_n_options, &conf);
    cJSON_Delete(obj);
    /* url is required, an inline password refused */
    obj = cJSON_Parse("{\"password\":\"x\"}");
    memset(&conf, 0, sizeof(conf));
    assert_true(trg_opt_apply(trg_redis_options, trg_redis_n_options, &conf, obj, "$.redis", NULL, &errs) >= 2);
    trg_opt_free(trg_redis_options, trg_redis_n_options, &conf);
    trg_errs_free(&errs);
    cJSON_Delete(obj);
}

static int group_teardown(void **state)
{
    (void)state;
    tr_stop(&srv);
    return 0;
}

int main(void)
{
    tr_require();
    trg_json_init_hooks();
    trg_log_setup(getenv("TRG_TEST_VERBOSE") ? TRG_LOG_DEBUG : TRG_LOG_ERROR, TRG_LOG_TEXT, stderr);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_table),
        cmocka_unit_test(test_options_table),
        cmocka_unit_test_setup_teardown(test_connect_and_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_from_conf_overrides_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_while_connecting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_from_listener, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
