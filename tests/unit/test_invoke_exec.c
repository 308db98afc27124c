/* test_invoke_exec.c — the exec invoker against real processes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invoke_common.h"

static const struct trg_invoker_ops *ops = &trg_invoke_exec;

static struct fixture *fx_new(const char *json) { return fixture_new(ops, "t", json); }

static void fx_free(struct fixture *f)
{
    fixture_free(f);
    /* every child was reaped */
    assert_true(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static void invoke(struct fixture *f, const char *payload, size_t len, int64_t timeout_ms, const char *id)
{
    struct trg_invoke_req req = {
        .function = "t", .request_id = id, .payload = payload, .len = len, .timeout_ms = timeout_ms};
    assert_int_equal(ops->invoke(f->inst, &req, got_cb, &f->got), 0);
    assert_int_equal(f->got.calls, 0); /* never synchronous */
}

static void test_echo_cat(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"cat\"]}");
    const char *ev = "{\"hello\":\"world\"}";

    invoke(f, ev, strlen(ev), 5000, "11111111-1111-4111-8111-111111111111");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_int_equal(f->got.status, 0);
    assert_null(f->got.function_error);
    assert_int_equal(f->got.body_len, strlen(ev));
    assert_string_equal(f->got.body, ev);
    assert_true(f->got.duration_ms > 0);
    fx_free(f);
}

static void test_large_payload(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/bin/cat\"]}");
    size_t n = 3 * 1024 * 1024;
    char *ev = trg_malloc(n);
    assert_non_null(ev);
    for (size_t i = 0; i < n; i++)
        ev[i] = (char)('a' + i % 26);

    invoke(f, ev, n, 20000, "big");
    assert_true(run_until(f->loop, &f->got.calls, 1, 30));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_int_equal(f->got.body_len, n);
    assert_memory_equal(f->got.body, ev, n);
    trg_free(ev);
    fx_free(f);
}

static void test_nonzero_exit(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"echo '{\\\"errorMessage\\\":\\\"x\\\"}'; exit 3\"]}");

    invoke(f, "{}", 2, 5000, "id-exit");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 3);
    assert_string_equal(f->got.function_error, "Unhandled");
    assert_string_equal(f->got.body, "{\"errorMessage\":\"x\"}\n");
    fx_free(f);
}

static void test_killed_by_signal(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"kill -KILL $$\"]}");

    invoke(f, "{}", 2, 5000, "id-sig");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, -1);
    assert_string_equal(f->got.function_error, "Signal");
    fx_free(f);
}

static void test_timeout_sigterm(void **state)
{
    (void)state;
    /* a grace far longer than the bound below: ending within the bound means SIGTERM alone did it */
    struct fixture *f = fx_new("{\"command\": [\"sleep\", \"30\"], \"kill_grace_ms\": 60000}");

    invoke(f, "{}", 2, 200, "id-timeout");
    assert_true(run_until(f->loop, &f->got.calls, 1, 30));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "Timeout");
    assert_true(f->got.duration_ms >= 190 && f->got.duration_ms < 20000); /* SIGTERM, no grace needed */
    fx_free(f);
}

static void test_timeout_sigkill_after_grace(void **state)
{
    (void)state;
    /* the shell and its sleep ignore SIGTERM: only the SIGKILL after the grace ends them */
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"trap '' TERM; sleep 30; echo done\"],"
                               " \"kill_grace_ms\": 300}");

    invoke(f, "{}", 2, 200, "id-grace");
    assert_true(run_until(f->loop, &f->got.calls, 1, 20));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "Timeout");
    /* timeout + grace at least; the upper bound (the sleep would end at 30 s) is for a slow machine */
    assert_true(f->got.duration_ms >= 480 && f->got.duration_ms < 20000);
    fx_free(f);
}

static void test_stderr_lines_logged(void **state)
{
    (void)state;
    FILE *log = log_capture();
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"echo first >&2; printf 'second\\\\nthird' >&2; cat\"]}");

    invoke(f, "in", 2, 5000, "req-stderr");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_string_equal(f->got.body, "in");
    fx_free(f);
    char *text = log_release(log);
    assert_non_null(strstr(text, "[exec:t] req-stderr first\n"));
    assert_non_null(strstr(text, "[exec:t] req-stderr second\n"));
    assert_non_null(strstr(text, "[exec:t] req-stderr third\n")); /* the unterminated last line too */
    free(text);
}

static void test_environment_and_limit(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"printf '%s|%s|%s|%s|%s|' "
                               "\\\"$AWS_LAMBDA_FUNCTION_NAME\\\" \\\"$TRIGD_REQUEST_ID\\\" \\\"$AWS_REQUEST_ID\\\" "
                               "\\\"$GREETING\\\" \\\"$SECRET_OF_PARENT\\\"; ulimit -v\"],"
                               " \"env\": {\"GREETING\": \"hi\"}, \"memory_mb\": 100}");

    setenv("SECRET_OF_PARENT", "leak", 1);
    invoke(f, "", 0, 5000, "req-env");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    unsetenv("SECRET_OF_PARENT");
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_string_equal(f->got.body, "t|req-env|req-env|hi||102400\n");
    fx_free(f);
}

static void test_memory_limit_enforced(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"python3\", \"-c\", \"x = bytearray(400 * 1024 * 1024)\"],"
                               " \"memory_mb\": 100}");

    invoke(f, "", 0, 20000, "req-mem");
    assert_true(run_until(f->loop, &f->got.calls, 1, 30));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR); /* MemoryError: exit 1 */
    assert_int_equal(f->got.status, 1);
    fx_free(f);

    /* the same program without a limit succeeds */
    f = fx_new("{\"command\": [\"python3\", \"-c\", \"x = bytearray(400 * 1024 * 1024)\"]}");
    invoke(f, "", 0, 20000, "req-nomem");
    assert_true(run_until(f->loop, &f->got.calls, 1, 30));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    fx_free(f);
}

static void test_report_line(void **state)
{
    (void)state;
    FILE *log = log_capture();
    struct fixture *f = fx_new("{\"command\": [\"python3\", \"-c\", "
                               "\"import time; x = bytearray(50 * 1024 * 1024); time.sleep(0.05)\"],"
                               " \"memory_mb\": 512}");

    invoke(f, "", 0, 20000, "req-report");
    assert_true(run_until(f->loop, &f->got.calls, 1, 30));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    fx_free(f);
    char *text = log_release(log);
    const char *r = strstr(text, "REPORT RequestId: req-report ");
    assert_non_null(r);
    double dur = 0;
    long long billed = 0, size = 0, used = 0;
    assert_int_equal(sscanf(r, "REPORT RequestId: req-report Duration: %lf ms Billed Duration: %lld ms Memory "
                               "Size: %lld MB Max Memory Used: %lld MB",
                            &dur, &billed, &size, &used),
                     4);
    assert_true(dur >= 50 && dur < 20000);
    assert_true(billed >= dur && billed < dur + 1.001);
    assert_int_equal(size, 512);
    /* Linux folds trigd's own peak RSS at spawn time into the child's ru_maxrss (exec records the
     * vfork-shared mm's high-water mark), so only a lower bound is exact */
    assert_true(used >= 50 && used < 4096);
    free(text);
}

static void test_no_inherited_fds(void **state)
{
    (void)state;
    int tmp = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    assert_true(tmp >= 0);
    int leak = dup2(tmp, 77);
    assert_int_equal(leak, 77);
    close(tmp);
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"cd /proc/$$/fd && echo *\"]}");

    invoke(f, "", 0, 5000, "req-fds");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    /* 0-2 are the pipes; 3 is the shell's own directory stream for the glob */
    assert_string_equal(f->got.body, "0 1 2 3\n");
    fx_free(f);
    close(leak);
}

static void test_spawn_failure_deferred(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/nonexistent/handler\"]}");

    invoke(f, "{}", 2, 5000, "req-missing");
    assert_true(run_until(f->loop, &f->got.calls, 1, 5));
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "SpawnError");
    fx_free(f);

    f = fx_new("{\"command\": [\"no-such-program-in-path\"]}");
    invoke(f, "{}", 2, 5000, "req-missing2");
    assert_true(run_until(f->loop, &f->got.calls, 1, 5));
    assert_string_equal(f->got.function_error, "SpawnError");
    fx_free(f);
}

static void test_cwd(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"pwd\"], \"cwd\": \"/tmp\"}");

    invoke(f, "", 0, 5000, "req-cwd");
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    assert_string_equal(f->got.body, "/tmp\n");
    fx_free(f);
}

static int concurrent_done;

static void concurrent_cb(void *arg, struct trg_invoke_result *res)
{
    got_cb(arg, res);
    concurrent_done++;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"/bin/sh\", \"-c\", \"sleep 0.2; cat\"]}");
    struct got g[4] = {{0}};
    char payload[4][2] = {"a", "b", "c", "d"};

    concurrent_done = 0;
    for (int i = 0; i < 4; i++) {
        struct trg_invoke_req req = {.function = "t", .request_id = "c", .payload = payload[i], .len = 1,
                                     .timeout_ms = 5000};
        assert_int_equal(ops->invoke(f->inst, &req, concurrent_cb, &g[i]), 0);
    }
    assert_true(run_until(f->loop, &concurrent_done, 4, 10));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(g[i].calls, 1);
        assert_string_equal(g[i].body, payload[i]);
        got_clear(&g[i]);
    }
    fx_free(f);
}

static void test_destroy_kills_without_callback(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"sleep\", \"30\"]}");

    invoke(f, "{}", 2, 60000, "req-destroy");
    invoke(f, "{}", 2, 60000, "req-destroy2");
    ev_run(f->loop, EVRUN_NOWAIT);
    fx_free(f); /* kills, reaps (checked in fx_free) and never calls back */
}

static void destroy_in_cb(void *arg, struct trg_invoke_result *res)
{
    struct fixture *f = arg;
    (void)res;
    f->got.calls++;
    ops->destroy(f->inst);
    f->inst = NULL;
}

static void test_destroy_from_callback(void **state)
{
    (void)state;
    struct fixture *f = fx_new("{\"command\": [\"cat\"]}");
    struct trg_invoke_req fast = {.function = "t", .request_id = "a", .payload = "x", .len = 1, .timeout_ms = 5000};
    assert_int_equal(ops->invoke(f->inst, &fast, destroy_in_cb, f), 0);
    assert_true(run_until(f->loop, &f->got.calls, 1, 10));
    ev_run(f->loop, EVRUN_NOWAIT);
    fx_free(f);
}

static void test_options(void **state)
{
    (void)state;
    assert_int_equal(opts_errors(ops, "{\"command\": []}"), 1);
    assert_true(opts_errors(ops, "{}") >= 1);
    assert_int_equal(opts_errors(ops, "{\"command\": [\"x\"], \"env\": {\"A=B\": \"c\"}}"), 1);
    assert_int_equal(opts_errors(ops, "{\"command\": [\"x\"], \"memory_mb\": -1}"), 1);
    assert_int_equal(opts_errors(ops, "{\"command\": [\"x\"], \"cwd\": \"/\", \"inherit_env\": true}"), 0);
    assert_string_equal(trg_outcome_name(TRG_OUT_THROTTLED), "throttled");
    assert_string_equal(trg_outcome_name(TRG_OUT_SUCCESS), "success");
    assert_string_equal(trg_outcome_name(TRG_OUT_REJECTED), "rejected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_echo_cat),
        cmocka_unit_test(test_large_payload),
        cmocka_unit_test(test_nonzero_exit),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_timeout_sigterm),
        cmocka_unit_test(test_timeout_sigkill_after_grace),
        cmocka_unit_test(test_stderr_lines_logged),
        cmocka_unit_test(test_environment_and_limit),
        cmocka_unit_test(test_memory_limit_enforced),
        cmocka_unit_test(test_report_line),
        cmocka_unit_test(test_no_inherited_fds),
        cmocka_unit_test(test_spawn_failure_deferred),
        cmocka_unit_test(test_cwd),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_destroy_kills_without_callback),
        cmocka_unit_test(test_destroy_from_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
