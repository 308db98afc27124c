/* test_invoke_lambda.c — the lambda invoker against tests/helpers/lambda_server.py, which verifies
 * SigV4 signatures the way AWS does and records every request as a JSON line. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invoke_common.h"

#ifndef TRG_SRCDIR
#define TRG_SRCDIR "."
#endif

static const struct trg_invoker_ops *ops = &trg_invoke_lambda;
extern char **environ;

struct server {
    pid_t pid;
    unsigned port;
    char record[64];
};

/* Start lambda_server.py with the given mode and wait (bounded) for the port it prints. */
static void server_start(struct server *s, const char *mode, bool verify)
{
    int fds[2];
    char script[512], port_line[32] = {0};
    posix_spawn_file_actions_t fa;

    snprintf(script, sizeof(script), "%s/tests/helpers/lambda_server.py", TRG_SRCDIR);
    snprintf(s->record, sizeof(s->record), "/tmp/trigd-lambda-XXXXXX");
    int tmp = mkstemp(s->record);
    assert_true(tmp >= 0);
    close(tmp);
    char *argv[] = {"python3", script, "--mode", (char *)mode, "--record", s->record, "--region", "eu-west-1",
                    "--function", "my-func", verify ? "--access-key" : NULL, "AKIDEXAMPLE", "--secret-key",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    assert_int_equal(posix_spawnp(&s->pid, "python3", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t n = 0;
    while (n < sizeof(port_line) - 1 && !strchr(port_line, '\n')) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1); /* the server is up within 10 s or the test fails */
        ssize_t r = read(fds[0], port_line + n, sizeof(port_line) - 1 - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    close(fds[0]);
    s->port = (unsigned)atoi(port_line);
    assert_true(s->port > 0);
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    unlink(s->record);
}

static char *read_record(const struct server *s)
{
    FILE *f = fopen(s->record, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    (void)n;
    fclose(f);
    return text;
}

static struct fixture *fx_new(const struct server *s, const char *extra)
{
    char *json = trg_asprintf("{\"endpoint\": \"http://127.0.0.1:%u/\", \"function_name\": \"my-func\", "
                              "\"region\": \"eu-west-1\"%s}", s->port, extra ? extra : "");
    assert_non_null(json);
    struct fixture *f = fixture_new(ops, "fn", json);
    trg_free(json);
    return f;
}

static void fx_free(struct fixture *f) { fixture_free(f); }

static void invoke(struct fixture *f, const char *payload, const char *id)
{
    struct trg_invoke_req req = {
        .function = "fn", .request_id = id, .payload = payload, .len = strlen(payload), .timeout_ms = 10000};
    int before = f->got.calls;
    assert_int_equal(ops->invoke(f->inst, &req, got_cb, &f->got), 0);
    assert_int_equal(f->got.calls, before);
    assert_true(run_until(f->loop, &f->got.calls, before + 1, 15));
}

#define KEYS ", \"access_key_env\": \"TEST_LAMBDA_AK\", \"secret_key_env\": \"TEST_LAMBDA_SK\""

static int setup_env(void **state)
{
    (void)state;
    setenv("TEST_LAMBDA_AK", "AKIDEXAMPLE", 1);
    setenv("TEST_LAMBDA_SK", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("TEST_LAMBDA_BAD", "not-the-secret", 1);
    setenv("TEST_LAMBDA_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN", 1);
    return 0;
}

static void test_signed_echo(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "echo", true);
    struct fixture *f = fx_new(&s, KEYS ", \"qualifier\": \"live\", \"session_token_env\": \"TEST_LAMBDA_TOKEN\"");
    const char *ev = "{\"Records\":[{\"body\":\"hello\"}]}";

    invoke(f, ev, "req-signed");
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    assert_int_equal(f->got.status, 200);
    assert_string_equal(f->got.body, ev);
    invoke(f, "{\"second\":true}", "req-signed-2");
    assert_int_equal(f->got.outcome, TRG_OUT_SUCCESS);
    fx_free(f);

    char *rec = read_record(&s);
    assert_non_null(strstr(rec, "\"signature_ok\": true"));
    assert_null(strstr(rec, "\"signature_ok\": false"));
    assert_non_null(strstr(rec, "\"function\": \"my-func\""));
    assert_non_null(strstr(rec, "\"qualifier\": \"live\""));
    assert_non_null(strstr(rec, "\"X-Amz-Invocation-Type\": \"RequestResponse\""));
    assert_non_null(strstr(rec, "\"X-Amz-Security-Token\": \"FwoGZXIvYXdzEXAMPLETOKEN\""));
    assert_non_null(strstr(rec, "\"X-Trigd-Request-Id\": \"req-signed\""));
    free(rec);
    server_stop(&s);
}

static void test_bad_signature_refused(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "echo", true);

    struct fixture *f = fx_new(&s, ", \"access_key_env\": \"TEST_LAMBDA_AK\", \"secret_key_env\": \"TEST_LAMBDA_BAD\"");
    invoke(f, "{}", "req-badsig");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 403);
    fx_free(f);

    f = fx_new(&s, NULL); /* unsigned */
    invoke(f, "{}", "req-unsigned");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 403);
    fx_free(f);

    char *rec = read_record(&s);
    assert_non_null(strstr(rec, "\"signature_ok\": false"));
    assert_null(strstr(rec, "\"signature_ok\": true"));
    free(rec);
    server_stop(&s);
}

static void test_function_error(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "error", true);
    struct fixture *f = fx_new(&s, KEYS);

    invoke(f, "{}", "req-fnerr");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 200);
    assert_string_equal(f->got.function_error, "Unhandled");
    assert_non_null(strstr(f->got.body, "\"errorMessage\""));
    fx_free(f);
    server_stop(&s);
}

/* Behind the Runtime Interface Emulator: no X-Amz-Function-Error, and a timeout is a plain-text 200. */
static void test_emulator_error(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "rie-error", true);
    struct fixture *f = fx_new(&s, KEYS);

    invoke(f, "{}", "req-rie-err");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "Unhandled");
    fx_free(f);
    server_stop(&s);
}

static void test_emulator_timeout(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "rie-timeout", true);
    struct fixture *f = fx_new(&s, KEYS);

    invoke(f, "{}", "req-rie-timeout");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_string_equal(f->got.function_error, "Sandbox.Timedout");
    fx_free(f);
    server_stop(&s);
}

static void test_throttled(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "throttle", true);
    struct fixture *f = fx_new(&s, KEYS);

    invoke(f, "{}", "req-429");
    assert_int_equal(f->got.outcome, TRG_OUT_THROTTLED);
    assert_int_equal(f->got.status, 429);
    fx_free(f);
    server_stop(&s);
}

static void test_unknown_function(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "echo", false);
    char *json = trg_asprintf("{\"endpoint\": \"http://127.0.0.1:%u\", \"function_name\": \"other fn\"}", s.port);
    assert_non_null(json);
    struct fixture *f = fixture_new(ops, "fn", json);
    trg_free(json);

    invoke(f, "{}", "req-404");
    assert_int_equal(f->got.outcome, TRG_OUT_ERROR);
    assert_int_equal(f->got.status, 404);
    fx_free(f);
    char *rec = read_record(&s);
    assert_non_null(strstr(rec, "\"path\": \"/2015-03-31/functions/other%20fn/invocations\""));
    free(rec);
    server_stop(&s);
}

static void test_options(void **state)
{
    (void)state;
    assert_true(opts_errors(ops, "{\"endpoint\": \"http://x\"}") >= 1);
    assert_int_equal(opts_errors(ops, "{\"endpoint\": \"x\", \"function_name\": \"f\"}"), 1);
    assert_int_equal(opts_errors(ops, "{\"endpoint\": \"http://x\", \"function_name\": \"f\", "
                                      "\"access_key_env\": \"TEST_LAMBDA_AK\"}"), 1);
    assert_true(opts_errors(ops, "{\"endpoint\": \"http://x\", \"function_name\": \"f\", \"secret_key\": \"s\"}") >= 1);
    assert_int_equal(opts_errors(ops, "{\"endpoint\": \"http://x\", \"function_name\": \"f\"" KEYS "}"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_signed_echo),
        cmocka_unit_test(test_bad_signature_refused),
        cmocka_unit_test(test_function_error),
        cmocka_unit_test(test_emulator_error),
        cmocka_unit_test(test_emulator_timeout),
        cmocka_unit_test(test_throttled),
        cmocka_unit_test(test_unknown_function),
    };
    return cmocka_run_group_tests(tests, setup_env, NULL);
}
