/* test_invoke_runtime.c — the runtime invoker against a real bash + curl runtime written by the test:
 * option checks, the error-type rule, a cold then a warm invoke in the same process with the log tail
 * (Init Duration only on the cold one), metering through bind and status_json, a timeout, a missing
 * code_dir, and destroy leaving no child behind without waiting for one that ignores SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invoke_common.h"

#include "invoke/runtime.h"
#include "metrics.h"

static const struct trg_invoker_ops *ops = &trg_invoke_runtime;
static char dir[] = "/tmp/trigd-test-runtime.XXXXXX";

/* Answers {"pid":PID,"n":N} to each event; an event with "sleep" sleeps 5 s first. With IGNORE_TERM set
 * it (and all it runs) ignores SIGTERM, and stays when its Runtime API is gone. */
static const char bootstrap[] =
    "#!/bin/bash\n"
    "[ -n \"${IGNORE_TERM:-}\" ] && trap '' TERM\n"
    "R=\"http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\"\n"
    "echo \"init $_HANDLER\"\n"
    "n=0\n"
    "while true; do\n"
    "  ev=$(curl -sS -D \"$TMPH\" \"$R/invocation/next\") || {\n"
    "    [ -n \"${IGNORE_TERM:-}\" ] && while :; do sleep 0.1; done\n"
    "    exit 1\n"
    "  }\n"
    "  id=$(sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *\\([^[:space:]]*\\).*/\\1/p' "
    "\"$TMPH\")\n"
    "  n=$((n + 1))\n"
    "  echo \"handling $n\"\n"
    "  case $ev in *sleep*) sleep 5;; esac\n"
    "  curl -sS -o /dev/null -X POST \"$R/invocation/$id/response\" -d \"{\\\"pid\\\":$$,\\\"n\\\":$n}\"\n"
    "done\n";

struct seen {
    int calls;
    enum trg_outcome outcome;
    char *body;
    char *tail;
};

static void seen_cb(void *arg, struct trg_invoke_result *res)
{
    struct seen *s = arg;
    s->calls++;
    s->outcome = res->outcome;
    trg_free(s->body);
    trg_free(s->tail);
    s->body = res->body ? trg_strndup(res->body, res->body_len) : NULL;
    s->tail = res->log_tail ? trg_strndup(res->log_tail, res->log_tail_len) : NULL;
}

static void seen_clear(struct seen *s)
{
    trg_free(s->body);
    trg_free(s->tail);
    memset(s, 0, sizeof *s);
}

static int setup(void **state)
{
    (void)state;
    char path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/bootstrap", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(bootstrap, f) >= 0, 1);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    trg_log_setup(TRG_LOG_WARN, TRG_LOG_TEXT, stderr);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/bootstrap", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/hdr", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static char *config(const char *extra)
{
    char *c =
        trg_asprintf("{\"code_dir\":\"%s\",\"handler\":\"h.x\",\"environment\":{\"TMPH\":\"%s/hdr\"}%s%s}",
                     dir, dir, extra ? "," : "", extra ? extra : "");
    assert_non_null(c);
    return c;
}

static void invoke(struct fixture *f, struct seen *s, const char *ev, int64_t timeout_ms)
{
    struct trg_invoke_req req = {
        .function = "t", .request_id = "0000-id", .payload = ev, .len = strlen(ev), .timeout_ms = timeout_ms};
    int before = s->calls;
    assert_int_equal(ops->invoke(f->inst, &req, seen_cb, s), 0);
    assert_int_equal(s->calls, before); /* never synchronous */
}

static void no_children_left(void) { assert_true(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD); }

static void count_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = (int)rt_reap_pending();
}

/* Run the loop until the reaper has reaped every process it adopted (or 30 s passed). */
static void run_until_reaped(struct ev_loop *loop)
{
    int pending = (int)rt_reap_pending();
    ev_timer t;
    ev_timer_init(&t, count_cb, 0.05, 0.05);
    t.data = &pending;
    ev_timer_start(loop, &t);
    double end = ev_time() + 30;
    while (pending > 0 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    assert_int_equal(rt_reap_pending(), 0);
}

/* Destroy the invoker (which does not wait for its processes), let the loop reap them, free the fixture. */
static void destroy_and_reap(struct fixture *f)
{
    ops->destroy(f->inst);
    f->inst = NULL;
    run_until_reaped(f->loop);
    fixture_free(f);
}

static void test_options(void **state)
{
    (void)state;
    char *c = config(NULL);
    assert_int_equal(opts_errors(ops, c), 0);
    trg_free(c);
    assert_int_equal(opts_errors(ops, "{\"handler\":\"x\"}"), 1); /* code_dir is required */
    assert_int_equal(opts_errors(ops, "{\"code_dir\":\"/\",\"environment\":{\"_HANDLER\":\"x\"}}"), 1);
    assert_int_equal(
        opts_errors(ops, "{\"code_dir\":\"/\",\"environment\":{\"AWS_LAMBDA_RUNTIME_API\":\"x\"}}"), 1);
    assert_int_equal(opts_errors(ops, "{\"code_dir\":\"/\",\"price_gb_s\":\"cheap\"}"), 1);
    assert_int_equal(opts_errors(ops, "{\"code_dir\":\"/\",\"price_request\":\"-1\"}"), 1);
    assert_int_equal(opts_errors(ops, "{\"code_dir\":\"/\",\"memory_mb\":1}"), 1);
}

static void test_error_type_rule(void **state)
{
    (void)state;
    assert_true(rt_valid_error_type("Runtime.HandlerNotFound"));
    assert_true(rt_valid_error_type("Function.MyError"));
    assert_false(rt_valid_error_type("Runtime.lower"));
    assert_false(rt_valid_error_type("Runtime.Has.Dot"));
    assert_false(rt_valid_error_type("Runtime."));
    assert_false(rt_valid_error_type("Runtime.X")); /* [A-Z][a-zA-Z]+: found by fuzz_runtime_api */
    assert_true(rt_valid_error_type("Function.Xy"));
    assert_false(rt_valid_error_type("Error"));
    assert_false(rt_valid_error_type("bogus"));
    assert_false(rt_valid_error_type(NULL));
}

static void test_cold_then_warm(void **state)
{
    (void)state;
    struct trg_metrics *m = NULL;
    struct seen s = {0};
    char *c = config("\"memory_mb\":512");
    struct fixture *f = fixture_new(ops, "t", c);
    trg_free(c);
    assert_int_equal(trg_metrics_create(&m), 0);
    ops->bind(f->inst, &(struct trg_invoke_host){m, 2, 10000});

    invoke(f, &s, "{\"a\":1}", 20000);
    assert_true(run_until(f->loop, &s.calls, 1, 20));
    assert_int_equal(s.outcome, TRG_OUT_SUCCESS);
    cJSON *j = cJSON_Parse(s.body);
    assert_non_null(j);
    int pid = cJSON_GetObjectItemCaseSensitive(j, "pid")->valueint;
    cJSON_Delete(j);
    assert_non_null(s.tail);
    assert_non_null(strstr(s.tail, "START RequestId: 0000-id Version: $LATEST\n"));
    assert_non_null(strstr(s.tail, "handling 1\n"));
    assert_non_null(strstr(s.tail, "END RequestId: 0000-id\n"));
    assert_non_null(strstr(s.tail, "Memory Size: 512 MB"));
    assert_non_null(strstr(s.tail, "Init Duration: "));

    invoke(f, &s, "{\"a\":2}", 20000);
    assert_true(run_until(f->loop, &s.calls, 2, 20));
    assert_int_equal(s.outcome, TRG_OUT_SUCCESS);
    j = cJSON_Parse(s.body);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "pid")->valueint, pid);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "n")->valueint, 2);
    cJSON_Delete(j);
    assert_null(strstr(s.tail, "Init Duration: "));

    assert_int_equal(trg_metrics_get(m, TRG_M_COLD_STARTS, "t", NULL), 1);
    assert_true(trg_metrics_get(m, TRG_M_BILLED_MS, "t", NULL) >= 2);
    assert_true(trg_metrics_get(m, TRG_M_GB_SECONDS, "t", NULL) > 0);
    /* the instance is busy until it is back at next */
    struct trg_buf b = {0};
    double end = ev_time() + 20;
    for (;;) {
        trg_buf_reset(&b);
        assert_int_equal(ops->status_json(f->inst, &b), 0);
        if (strstr(b.data, "\"instances\":{\"initializing\":0,\"idle\":1,\"busy\":0,\"stopping\":0}") ||
            ev_time() > end)
            break;
        ev_run(f->loop, EVRUN_ONCE);
    }
    assert_non_null(
        strstr(b.data, "\"instances\":{\"initializing\":0,\"idle\":1,\"busy\":0,\"stopping\":0}"));
    assert_non_null(strstr(b.data, "\"invocations\":2,"));
    trg_buf_free(&b);

    destroy_and_reap(f);
    assert_true(kill(pid, 0) != 0);
    no_children_left();
    trg_metrics_destroy(m);
    seen_clear(&s);
}

static void test_timeout(void **state)
{
    (void)state;
    struct seen s = {0};
    char *c = config(NULL);
    struct fixture *f = fixture_new(ops, "t", c);
    trg_free(c);

    invoke(f, &s, "{\"sleep\":true}", 300);
    assert_true(run_until(f->loop, &s.calls, 1, 20));
    assert_int_equal(s.outcome, TRG_OUT_ERROR);
    assert_non_null(strstr(s.body, "\"errorType\":\"Sandbox.Timedout\""));
    assert_non_null(strstr(s.body, "Error: Task timed out after 0.30 seconds"));
    invoke(f, &s, "{}", 20000);
    assert_true(run_until(f->loop, &s.calls, 2, 20));
    assert_int_equal(s.outcome, TRG_OUT_SUCCESS);
    assert_non_null(strstr(s.body, "\"n\":1}")); /* a fresh instance */
    destroy_and_reap(f);
    no_children_left();
    seen_clear(&s);
}

/* A code_dir that is not there does not stop create (trigd starts): invokes fail as init errors that
 * name it, starts back off, and once the code is there an instance starts and serves. */
static void test_missing_code_dir(void **state)
{
    (void)state;
    char later[300], path[320];
    struct seen s = {0};
    struct trg_buf b = {0};
    snprintf(later, sizeof later, "%s/later", dir);
    char *c = trg_asprintf("{\"code_dir\":\"%s\",\"handler\":\"h.x\",\"environment\":{\"TMPH\":\"%s/hdr\"}}",
                           later, dir);
    assert_non_null(c);
    struct fixture *f = fixture_new(ops, "t", c);
    trg_free(c);

    invoke(f, &s, "{}", 20000);
    assert_true(run_until(f->loop, &s.calls, 1, 20));
    assert_int_equal(s.outcome, TRG_OUT_ERROR);
    assert_non_null(strstr(s.body, "\"errorType\":\"Runtime.InitError\""));
    assert_non_null(strstr(s.body, later));
    assert_non_null(strstr(s.body, "No such file or directory"));
    /* backing off: the next invoke fails at once with the same error, and nothing is starting */
    invoke(f, &s, "{}", 20000);
    assert_true(run_until(f->loop, &s.calls, 2, 20));
    assert_int_equal(s.outcome, TRG_OUT_ERROR);
    assert_non_null(strstr(s.body, later));
    assert_int_equal(ops->status_json(f->inst, &b), 0);
    assert_non_null(strstr(b.data, "\"backing_off\":true"));
    assert_non_null(strstr(b.data, "\"instances\":{\"initializing\":0,"));
    trg_buf_free(&b);

    /* the code arrives: once the backoff is over, an instance starts and serves */
    assert_int_equal(mkdir(later, 0755), 0);
    snprintf(path, sizeof path, "%s/bootstrap", later);
    assert_int_equal(symlink("../bootstrap", path), 0);
    double end = ev_time() + 30;
    int n = 2;
    do {
        ev_sleep(0.1);
        ev_now_update(f->loop);
        invoke(f, &s, "{}", 20000);
        assert_true(run_until(f->loop, &s.calls, ++n, 20));
    } while (s.outcome != TRG_OUT_SUCCESS && ev_time() < end);
    assert_int_equal(s.outcome, TRG_OUT_SUCCESS);
    assert_non_null(strstr(s.body, "\"n\":1}"));
    destroy_and_reap(f);
    unlink(path);
    rmdir(later);
    no_children_left();
    seen_clear(&s);
}

/* destroy does not wait for an instance that ignores SIGTERM: it returns with the process still there,
 * handed to the reaper, which SIGKILLs it after kill_grace_ms and reaps it while the loop runs. */
static void test_destroy_does_not_wait(void **state)
{
    (void)state;
    struct seen s = {0};
    char *c = trg_asprintf("{\"code_dir\":\"%s\",\"kill_grace_ms\":1500,"
                           "\"environment\":{\"TMPH\":\"%s/hdr\",\"IGNORE_TERM\":\"1\"}}",
                           dir, dir);
    assert_non_null(c);
    struct fixture *f = fixture_new(ops, "t", c);
    trg_free(c);
    invoke(f, &s, "{}", 20000);
    assert_true(run_until(f->loop, &s.calls, 1, 20));
    assert_int_equal(s.outcome, TRG_OUT_SUCCESS);
    cJSON *j = cJSON_Parse(s.body);
    assert_non_null(j);
    int pid = cJSON_GetObjectItemCaseSensitive(j, "pid")->valueint;
    cJSON_Delete(j);

    ops->destroy(f->inst);
    f->inst = NULL;
    /* a destroy that waited would have SIGKILLed and reaped it by now */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    assert_int_equal(rt_reap_pending(), 1);
    run_until_reaped(f->loop);
    assert_true(kill(pid, 0) != 0);
    no_children_left();
    fixture_free(f);
    seen_clear(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),          cmocka_unit_test(test_error_type_rule),
        cmocka_unit_test(test_cold_then_warm),   cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_missing_code_dir), cmocka_unit_test(test_destroy_does_not_wait),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
