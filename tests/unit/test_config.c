/* test_config.c — loading and validating the config: good files with every default checked, the
 * webhook source's route defaults and their overrides, and bad configs with the exact
 * "NAME: $.path: message" lines, all errors of a file reported at once. Files live in
 * tests/fixtures/config/{good,bad}/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dlq.h"
#include "log.h"
#include "util.h"

#define FIXTURE(p) TRG_SRCDIR "/tests/fixtures/config/" p

static struct trg_config *load_ok(const char *text)
{
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    int rc = trg_config_load_text(text, strlen(text), "t.json", &c, &errs);
    if (rc != 0 || !c)
        fail_msg("config rejected (%d): %s", rc, errs.lines.n ? errs.lines.v[0] : "-");
    assert_int_equal(errs.lines.n, 0);
    trg_errs_free(&errs);
    return c;
}

static const struct trg_route_conf *route(const struct trg_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_routes; i++)
        if (strcmp(c->routes[i].name, name) == 0)
            return &c->routes[i];
    fail_msg("no route %s", name);
    return NULL;
}

/* --- good configs ------------------------------------------------------------------------------- */

static void test_empty_defaults(void **state)
{
    (void)state;
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    assert_int_equal(trg_config_load_file(FIXTURE("good/empty.json"), &c, &errs), 0);
    assert_non_null(c);
    assert_int_equal(errs.lines.n, 0);
    assert_string_equal(c->path, FIXTURE("good/empty.json"));
    assert_string_equal(c->http.listen, "127.0.0.1:9070");
    assert_null(c->http.admin_token);
    assert_int_equal(c->log.level, TRG_LOG_INFO);
    assert_int_equal(c->log.format, TRG_LOG_TEXT);
    assert_false(c->has_redis);
    assert_int_equal(c->dlq.backend, TRG_DLQ_BACKEND_AUTO);
    assert_int_equal(c->dlq.max_len, 100000);
    assert_string_equal(c->state_dir, "/var/lib/trigd");
    assert_string_equal(c->dlq.path, "/var/lib/trigd/dlq"); /* derived from state_dir */
    assert_int_equal(c->shutdown_timeout_ms, 30000);
    assert_int_equal(c->n_functions, 0);
    assert_int_equal(c->n_sources, 0);
    assert_int_equal(c->n_routes, 0);
    assert_null(trg_config_function(c, "x"));
    assert_null(trg_config_source(c, "x"));
    trg_config_free(c);
    trg_config_free(NULL);
}

static void test_good_file(void **state)
{
    (void)state;
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    int rc = trg_config_load_file(FIXTURE("good/webhook_http_exec.json"), &c, &errs);
    if (rc != 0)
        fail_msg("rejected: %s", errs.lines.n ? errs.lines.v[0] : "-");
    assert_string_equal(c->http.listen, "127.0.0.1:0");
    assert_int_equal(c->log.level, TRG_LOG_DEBUG);
    assert_int_equal(c->log.format, TRG_LOG_JSON);
    assert_string_equal(c->state_dir, "/tmp/trigd-unit");
    assert_string_equal(c->dlq.path, "/tmp/trigd-unit/dlq");
    assert_int_equal(c->shutdown_timeout_ms, 5000);

    assert_int_equal(c->n_functions, 3);
    const struct trg_function_conf *f = trg_config_function(c, "thumbnail");
    assert_non_null(f);
    assert_string_equal(f->type, "http");
    assert_non_null(f->ops);
    assert_non_null(f->opts);
    assert_int_equal(f->timeout_ms, 5000);
    assert_int_equal(f->max_concurrency, 10);
    assert_non_null(f->fingerprint);
    assert_non_null(strstr(f->fingerprint, "\"url\":\"http://127.0.0.1:8080/invoke\""));
    f = trg_config_function(c, "audit-log");
    assert_string_equal(f->type, "exec");
    assert_int_equal(f->timeout_ms, 30000);
    assert_int_equal(f->max_concurrency, 2);
    f = trg_config_function(c, "resize.v2");
    assert_string_equal(f->type, "lambda");

    assert_int_equal(c->n_sources, 2);
    const struct trg_source_conf *s = trg_config_source(c, "orders");
    assert_non_null(s);
    assert_string_equal(s->type, "webhook");
    assert_non_null(s->ops);
    assert_non_null(s->opts);

    assert_int_equal(c->n_routes, 3);
    /* a webhook route takes its source's defaults: batch_size 1, 2 retries, 6 hours */
    const struct trg_route_conf *r = route(c, "thumbs");
    assert_string_equal(r->source, "uploads");
    assert_string_equal(r->function, "thumbnail");
    assert_true(r->enabled);
    assert_int_equal(r->batch_size, 1);
    assert_int_equal(r->max_retry_attempts, 2);
    assert_int_equal(r->max_record_age_s, 21600);
    /* and the route table's own defaults for the rest */
    assert_int_equal(r->batch_window_ms, 0);
    assert_int_equal(r->max_batch_bytes, 6291456);
    assert_int_equal(r->retry_base_ms, 1000);
    assert_int_equal(r->retry_max_ms, 300000);
    assert_false(r->bisect_on_error);
    assert_false(r->report_batch_item_failures);
    assert_int_equal(r->max_queued_events, 10000);
    assert_int_equal(r->envelope, TRG_ENVELOPE_LAMBDA);
    assert_string_equal(r->on_failure, "dlq");
    assert_null(r->filters);
    assert_null(r->filter);
    assert_non_null(r->fingerprint);

    /* explicit values override the source's defaults */
    r = route(c, "audit");
    assert_int_equal(r->batch_size, 50);
    assert_int_equal(r->batch_window_ms, 250);
    assert_int_equal(r->max_retry_attempts, 5);
    assert_int_equal(r->max_record_age_s, 60);
    assert_true(r->report_batch_item_failures);
    assert_true(r->bisect_on_error);
    assert_int_equal(r->envelope, TRG_ENVELOPE_RAW);
    assert_non_null(r->filters);
    assert_non_null(r->filter);

    r = route(c, "resize");
    assert_false(r->enabled);
    assert_int_equal(r->max_retry_attempts, -1); /* -1 overrides the webhook's 2 */
    assert_int_equal(r->batch_size, 1);
    trg_config_free(c);
    trg_errs_free(&errs);
}

/* The same route text gives the same fingerprint; a changed value gives another (reload). */
static void test_fingerprints(void **state)
{
    (void)state;
    const char *base = "{\"functions\":{\"f\":{\"type\":\"exec\",\"command\":[\"/bin/cat\"]}},"
                       "\"sources\":{\"s\":{\"type\":\"webhook\",\"path\":\"/in\"}},"
                       "\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\"%s}}}";
    char *t1 = trg_asprintf(base, ""), *t2 = trg_asprintf(base, ""),
         *t3 = trg_asprintf(base, ",\"batch_size\":2");
    struct trg_config *c1 = load_ok(t1), *c2 = load_ok(t2), *c3 = load_ok(t3);
    assert_string_equal(c1->routes[0].fingerprint, c2->routes[0].fingerprint);
    assert_string_not_equal(c1->routes[0].fingerprint, c3->routes[0].fingerprint);
    assert_string_equal(c1->functions[0].fingerprint, c3->functions[0].fingerprint);
    assert_int_equal(c3->routes[0].batch_size, 2);
    trg_config_free(c1);
    trg_config_free(c2);
    trg_config_free(c3);
    trg_free(t1);
    trg_free(t2);
    trg_free(t3);
}

/* Routes of a source type without route defaults get the table's defaults. */
static void test_secrets_and_redis(void **state)
{
    (void)state;
    setenv("TRG_UNIT_ADMIN", "adm1n", 1);
    const char *text = "{\"http\":{\"admin_token_env\":\"TRG_UNIT_ADMIN\"},"
                       "\"redis\":{\"url\":\"redis://127.0.0.1:6379/0\"},\"dlq\":{\"backend\":\"redis\","
                       "\"path\":\"/x/dlq\",\"max_len\":5}}";
    struct trg_config *c = load_ok(text);
    assert_string_equal(c->http.admin_token, "adm1n");
    assert_true(c->has_redis);
    assert_string_equal(c->redis.url, "redis://127.0.0.1:6379/0");
    assert_int_equal(c->dlq.backend, TRG_DLQ_BACKEND_REDIS);
    assert_string_equal(c->dlq.path, "/x/dlq"); /* explicit, not derived */
    assert_int_equal(c->dlq.max_len, 5);
    trg_config_free(c);
}

static void test_default_config_and_sections(void **state)
{
    (void)state;
    struct trg_config *c = load_ok(trg_default_config);
    trg_config_free(c);
    size_t n = 0;
    bool routes = false;
    for (const struct trg_opt_section *s; (s = trg_config_section(n)); n++) {
        assert_non_null(s->title);
        assert_non_null(s->table);
        assert_true(s->n > 0);
        routes |= strcmp(s->title, "routes.NAME") == 0;
    }
    assert_true(n >= 5);
    assert_true(routes);
    assert_null(trg_config_section(n));
    assert_null(trg_config_section((size_t)-1));
}

/* --- bad configs -------------------------------------------------------------------------------- */

#define FN_HTTP "{\"type\":\"http\",\"url\":\"http://127.0.0.1/\"}"
#define FN_EXEC "{\"type\":\"exec\",\"command\":[\"/bin/cat\"]}"
/* an exec function whose async on_failure is target */
#define FN_OF(target)                                                                                        \
    "{\"type\":\"exec\",\"command\":[\"/bin/cat\"],\"async\":{\"on_failure\":\"" target "\"}}"
#define SRC_WH "{\"type\":\"webhook\",\"path\":\"/in\"}"
/* a config with function f, source s and route r, whose route body is given */
#define WITH_ROUTE(body)                                                                                     \
    "{\"functions\":{\"f\":" FN_EXEC "},\"sources\":{\"s\":" SRC_WH "},\"routes\":{\"r\":" body "}}"
#define ROUTE_SF(extra) WITH_ROUTE("{\"source\":\"s\",\"function\":\"f\"" extra "}")

struct bcase {
    const char *text;
    const char *lines[4]; /* every error line, in order */
};

static const struct bcase bad_cases[] = {
    /* not JSON: line and column of the problem */
    {"", {"t.json: line 1, column 1: not valid JSON"}},
    {"{\"a\":}", {"t.json: line 1, column 6: not valid JSON"}},
    {"[1,,2]", {"t.json: line 1, column 4: not valid JSON"}},
    {"{\n  \"log\": {\"level\": info}\n}", {"t.json: line 2, column 20: not valid JSON"}},
    {"{\n\n\"a\" 1}", {"t.json: line 3, column 5: not valid JSON"}},
    /* top level */
    {"[]", {"t.json: $: the config must be a JSON object"}},
    {"\"x\"", {"t.json: $: the config must be a JSON object"}},
    {"{\"bogus\":1}", {"t.json: $.bogus: unknown key"}},
    {"{\"Functions\":{}}", {"t.json: $.Functions: unknown key"}},
    {"{\"http\":[]}", {"t.json: $.http: must be an object"}},
    {"{\"http\":{\"port\":1}}", {"t.json: $.http.port: unknown key"}},
    {"{\"log\":{\"level\":\"verbose\"}}",
     {"t.json: $.log.level: must be one of \"debug\", \"info\", \"warn\", \"error\""}},
    {"{\"shutdown_timeout_ms\":-1}", {"t.json: $.shutdown_timeout_ms: -1 is out of range: 0 to 3600000 ms"}},
    {"{\"dlq\":{\"backend\":\"redis\"}}",
     {"t.json: $.dlq.backend: \"redis\" needs a top-level \"redis\" object with its url"}},
    {"{\"dlq\":{\"max_len\":0}}", {"t.json: $.dlq.max_len: 0 is out of range: 1 to 100000000 entries"}},
    /* secrets inline */
    {"{\"http\":{\"admin_token\":\"hunter2\"}}",
     {"t.json: $.http.admin_token: secrets are never written inline; use admin_token_env (an environment "
      "variable) or admin_token_file"}},
    {"{\"sources\":{\"s\":{\"type\":\"webhook\",\"path\":\"/in\",\"auth_token\":\"x\"}}}",
     {"t.json: $.sources.s.auth_token: secrets are never written inline; use auth_token_env (an environment "
      "variable) or auth_token_file"}},
    {"{\"http\":{\"admin_token_env\":\"TRG_UNIT_SURELY_UNSET\"}}",
     {"t.json: $.http.admin_token_env: environment variable TRG_UNIT_SURELY_UNSET is not set"}},
    /* sections of the wrong shape */
    {"{\"functions\":[]}", {"t.json: $.functions: must be an object from function names to definitions"}},
    {"{\"sources\":1}", {"t.json: $.sources: must be an object from source names to definitions"}},
    {"{\"routes\":\"r\"}", {"t.json: $.routes: must be an object from route names to definitions"}},
    {"{\"functions\":{\"f\":\"http\"}}",
     {"t.json: $.functions.f: must be an object with a \"type\"", "t.json: $.functions.f.type: is required"}},
    /* functions */
    {"{\"functions\":{\"f\":{\"type\":\"ftp\"}}}",
     {"t.json: $.functions.f.type: unknown function type \"ftp\" (known: http, lambda, exec, runtime)"}},
    {"{\"functions\":{\"f\":{\"url\":\"http://x/\"}}}", {"t.json: $.functions.f.type: is required"}},
    {"{\"functions\":{\"f\":{\"type\":5}}}", {"t.json: $.functions.f.type: must be a string"}},
    {"{\"functions\":{\"f\":{\"type\":\"http\"}}}", {"t.json: $.functions.f.url: is required"}},
    {"{\"functions\":{\"f\":{\"type\":\"exec\"}}}", {"t.json: $.functions.f.command: is required"}},
    {"{\"functions\":{\"f\":{\"type\":\"exec\",\"command\":[]}}}",
     {"t.json: $.functions.f.command: needs at least the program to run, e.g. [\"/usr/bin/python3\", "
      "\"handler.py\"]"}},
    {"{\"functions\":{\"f\":{\"type\":\"lambda\",\"endpoint\":\"http://x\"}}}",
     {"t.json: $.functions.f.function_name: is required"}},
    {"{\"functions\":{\"f\":{\"type\":\"http\",\"url\":\"ftp://x/\"}}}",
     {"t.json: $.functions.f.url: \"ftp://x/\" is not an http:// or https:// URL"}},
    {"{\"functions\":{\"f\":{\"type\":\"http\",\"url\":\"http://x/\",\"bogus\":1}}}",
     {"t.json: $.functions.f.bogus: unknown key"}},
    {"{\"functions\":{\"f\":{\"type\":\"exec\",\"command\":[\"/bin/cat\"],\"url\":\"http://x/\"}}}",
     {"t.json: $.functions.f.url: unknown key"}}, /* another type's option */
    {"{\"functions\":{\"f\":{\"type\":\"http\",\"url\":\"http://x/\",\"timeout_ms\":0}}}",
     {"t.json: $.functions.f.timeout_ms: 0 is out of range: 1 to 900000 ms"}},
    {"{\"functions\":{\"f\":{\"type\":\"http\",\"url\":\"http://x/\",\"max_concurrency\":1001}}}",
     {"t.json: $.functions.f.max_concurrency: 1001 is out of range: 1 to 1000 invocations"}},
    /* names */
    {"{\"functions\":{\"bad name\":" FN_HTTP "}}",
     {"t.json: $.functions.bad name: a name uses only letters, digits, '_', '-' and '.'"}},
    {"{\"functions\":{\"\":" FN_HTTP "}}",
     {"t.json: $.functions.: a name uses only letters, digits, '_', '-' and '.'"}},
    {"{\"sources\":{\".hidden\":" SRC_WH "}}",
     {"t.json: $.sources..hidden: a name uses only letters, digits, '_', '-' and '.'"}},
    {"{\"sources\":{\"a/b\":" SRC_WH "}}",
     {"t.json: $.sources.a/b: a name uses only letters, digits, '_', '-' and '.'"}},
    {WITH_ROUTE("{\"source\":\"s\",\"function\":\"f\"}") "", {NULL}}, /* control: valid */
    /* sources */
    {"{\"sources\":{\"s\":{\"type\":\"carrier-pigeon\"}}}",
     {"t.json: $.sources.s.type: unknown source type \"carrier-pigeon\""}},
    {"{\"sources\":{\"s\":{}}}", {"t.json: $.sources.s.type: is required"}},
    {"{\"sources\":{\"s\":{\"type\":\"webhook\"}}}", {"t.json: $.sources.s.path: is required"}},
    {"{\"sources\":{\"s\":{\"type\":\"webhook\",\"path\":\"in\"}}}",
     {"t.json: $.sources.s.path: must start with '/' (got \"in\")"}},
    {"{\"sources\":{\"s\":{\"type\":\"webhook\",\"path\":\"/in\",\"topic\":\"x\"}}}",
     {"t.json: $.sources.s.topic: unknown key"}},
    {"{\"sources\":{\"s\":{\"type\":\"webhook\",\"path\":\"/in\",\"mode\":\"later\"}}}",
     {"t.json: $.sources.s.mode: must be one of \"async\", \"sync\""}},
    /* routes */
    {WITH_ROUTE("\"x\""),
     {"t.json: $.routes.r: must be an object", "t.json: $.routes.r.source: is required",
      "t.json: $.routes.r.function: is required"}},
    {WITH_ROUTE("{}"),
     {"t.json: $.routes.r.source: is required", "t.json: $.routes.r.function: is required"}},
    {WITH_ROUTE("{\"source\":\"nope\",\"function\":\"f\"}"),
     {"t.json: $.routes.r.source: no source is named \"nope\""}},
    {WITH_ROUTE("{\"source\":\"s\",\"function\":\"nope\"}"),
     {"t.json: $.routes.r.function: no function is named \"nope\""}},
    {ROUTE_SF(",\"bogus\":1"), {"t.json: $.routes.r.bogus: unknown key"}},
    {ROUTE_SF(",\"BatchSize\":10"), {"t.json: $.routes.r.BatchSize: unknown key"}},
    {ROUTE_SF(",\"batch_size\":0"), {"t.json: $.routes.r.batch_size: 0 is out of range: 1 to 10000 events"}},
    {ROUTE_SF(",\"batch_size\":10001"),
     {"t.json: $.routes.r.batch_size: 10001 is out of range: 1 to 10000 events"}},
    {ROUTE_SF(",\"batch_size\":\"5\""), {"t.json: $.routes.r.batch_size: must be an integer"}},
    {ROUTE_SF(",\"batch_size\":null"), {"t.json: $.routes.r.batch_size: must be an integer"}},
    {ROUTE_SF(",\"batch_window_ms\":300001"),
     {"t.json: $.routes.r.batch_window_ms: 300001 is out of range: 0 to 300000 ms"}},
    {ROUTE_SF(",\"max_batch_bytes\":6291457"),
     {"t.json: $.routes.r.max_batch_bytes: 6291457 is out of range: 1 to 6291456 bytes"}},
    {ROUTE_SF(",\"max_retry_attempts\":-2"),
     {"t.json: $.routes.r.max_retry_attempts: -2 is out of range: -1 to 10000 retries"}},
    {ROUTE_SF(",\"max_record_age_s\":0"),
     {"t.json: $.routes.r.max_record_age_s: must be -1 (no limit) or at least 1"}},
    /* (max_record_age_s out of range: test_no_second_error) */
    {ROUTE_SF(",\"retry_base_ms\":5000,\"retry_max_ms\":1000"),
     {"t.json: $.routes.r.retry_max_ms: must be at least retry_base_ms (5000)"}},
    {ROUTE_SF(",\"retry_max_ms\":999"),
     {"t.json: $.routes.r.retry_max_ms: must be at least retry_base_ms (1000)"}},
    {ROUTE_SF(",\"on_failure\":\"sqs\""), {"t.json: $.routes.r.on_failure: must be \"dlq\""}},
    {ROUTE_SF(",\"envelope\":\"sns\""), {"t.json: $.routes.r.envelope: must be one of \"lambda\", \"raw\""}},
    {ROUTE_SF(",\"filters\":{}"), {"t.json: $.routes.r.filters: must be an array of pattern objects"}},
    /* async on_failure chains between functions: a cycle is refused once, at its first function, named */
    {"{\"functions\":{\"a\":" FN_OF("a") "}}",
     {"t.json: $.functions.a.async.on_failure: the on_failure chain comes back to this function (a -> a): an "
      "event that fails would go round for ever; end the chain with \"dlq\""}},
    {"{\"functions\":{\"z\":" FN_OF("a") ",\"a\":" FN_OF("b") ",\"b\":" FN_OF("c") ",\"c\":" FN_OF("a")
     ",\"d\":" FN_OF("dlq") "}}",
     {"t.json: $.functions.a.async.on_failure: the on_failure chain comes back to this function (a -> b -> c "
      "-> a): an event that fails would go round for ever; end the chain with \"dlq\""}},
    {"{\"functions\":{\"a\":" FN_OF("b") ",\"b\":" FN_OF("c") ",\"c\":" FN_OF("dlq") "}}", {NULL}},
    {"{\"routes\":{\"bad route\":{\"source\":\"s\",\"function\":\"f\"}}}",
     {"t.json: $.routes.bad route: a name uses only letters, digits, '_', '-' and '.'",
      "t.json: $.routes.bad route.source: no source is named \"s\"",
      "t.json: $.routes.bad route.function: no function is named \"f\""}},
};

static void test_bad_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(bad_cases); i++) {
        const struct bcase *c = &bad_cases[i];
        size_t want = 0;
        while (want < 4 && c->lines[want])
            want++;
        struct trg_config *cfg = (struct trg_config *)&cfg; /* must be reset to NULL on failure */
        struct trg_errs errs = {0};
        int rc = trg_config_load_text(c->text, strlen(c->text), "t.json", &cfg, &errs);
        if (errs.lines.n != want) {
            for (size_t k = 0; k < errs.lines.n; k++)
                print_message("  got: %s\n", errs.lines.v[k]);
            fail_msg("case %zu %s: %zu errors, want %zu", i, c->text, errs.lines.n, want);
        }
        for (size_t k = 0; k < want; k++)
            if (strcmp(errs.lines.v[k], c->lines[k]) != 0)
                fail_msg("case %zu %s:\n  got  %s\n  want %s", i, c->text, errs.lines.v[k], c->lines[k]);
        if (want) {
            assert_int_equal(rc, TRG_EINVAL);
            assert_null(cfg);
        } else {
            assert_int_equal(rc, 0);
            trg_config_free(cfg);
        }
        trg_errs_free(&errs);
    }
}

/* The text need not be NUL-terminated, and errors are appended after lines already in errs. */
static void test_text_length_and_append(void **state)
{
    (void)state;
    const char *text = "{\"bogus\":1}{{{";
    char *copy = malloc(11);
    memcpy(copy, text, 11);
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    trg_errs_add(&errs, NULL, "earlier line");
    assert_int_equal(trg_config_load_text(copy, 11, "a.json", &c, &errs), TRG_EINVAL);
    assert_int_equal(errs.lines.n, 2);
    assert_string_equal(errs.lines.v[0], "earlier line"); /* not prefixed again */
    assert_string_equal(errs.lines.v[1], "a.json: $.bogus: unknown key");
    free(copy);
    trg_errs_free(&errs);
}

/* Every error of a file at once, in order. */
static void test_bad_file_many(void **state)
{
    (void)state;
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    const char *path = FIXTURE("bad/many_errors.json");
    assert_int_equal(trg_config_load_file(path, &c, &errs), TRG_EINVAL);
    assert_null(c);
    const char *want[] = {
        "$.bogus: unknown key",
        "$.http.admin_token: secrets are never written inline; use admin_token_env (an environment variable) "
        "or admin_token_file",
        "$.log.level: must be one of \"debug\", \"info\", \"warn\", \"error\"",
        "$.functions.f.type: unknown function type \"ftp\" (known: http, lambda, exec, runtime)",
        "$.functions.g.type: is required",
        "$.functions.h.colour: unknown key",
        "$.functions.bad name: a name uses only letters, digits, '_', '-' and '.'",
        "$.sources.hook.auth_token: secrets are never written inline; use auth_token_env (an environment "
        "variable) or auth_token_file",
        "$.routes.r1.source: no source is named \"nope\"",
        "$.routes.r2.batch_size: 0 is out of range: 1 to 10000 events",
        "$.routes.r2.function: no function is named \"missing\"",
        "$.routes.r3.batch_size: 10001 is out of range: 1 to 10000 events",
        "$.routes.r3.max_record_age_s: must be -1 (no limit) or at least 1",
        "$.routes.r4.extra: unknown key",
        "$.routes.r4.retry_max_ms: must be at least retry_base_ms (5000)",
    };
    for (size_t k = 0; k < errs.lines.n; k++)
        print_message("  %s\n", errs.lines.v[k]);
    assert_int_equal(errs.lines.n, TRG_ARRAY_SIZE(want));
    for (size_t k = 0; k < TRG_ARRAY_SIZE(want); k++) {
        char *line = trg_asprintf("%s: %s", path, want[k]);
        if (strcmp(errs.lines.v[k], line) != 0)
            fail_msg("line %zu:\n  got  %s\n  want %s", k, errs.lines.v[k], line);
        trg_free(line);
    }
    trg_errs_free(&errs);
}

static void test_bad_file_not_json(void **state)
{
    (void)state;
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    const char *path = FIXTURE("bad/not_json.json");
    assert_int_equal(trg_config_load_file(path, &c, &errs), TRG_EINVAL);
    assert_null(c);
    assert_int_equal(errs.lines.n, 1);
    /* The error is the '}' after a trailing comma at line 4, column 3; cJSON's error offset is one past a
     * character it failed to read as a string, so column 4 is accepted too. */
    char *want3 = trg_asprintf("%s: line 4, column 3: not valid JSON", path);
    char *want4 = trg_asprintf("%s: line 4, column 4: not valid JSON", path);
    if (strcmp(errs.lines.v[0], want3) != 0 && strcmp(errs.lines.v[0], want4) != 0)
        fail_msg("got %s", errs.lines.v[0]);
    trg_free(want3);
    trg_free(want4);
    trg_errs_free(&errs);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct trg_config *c = (struct trg_config *)&c;
    struct trg_errs errs = {0};
    assert_int_equal(trg_config_load_file("/nonexistent/trigd.json", &c, &errs), TRG_EINVAL);
    assert_null(c);
    assert_int_equal(errs.lines.n, 1);
    assert_string_equal(errs.lines.v[0], "/nonexistent/trigd.json: cannot open: No such file or directory");
    trg_errs_free(&errs);
    /* a directory opens but cannot be read */
    assert_int_equal(trg_config_load_file(TRG_SRCDIR "/tests/fixtures/config", &c, &errs), TRG_EINVAL);
    assert_int_equal(errs.lines.n, 1);
    assert_string_equal(errs.lines.v[0], TRG_SRCDIR "/tests/fixtures/config: cannot read the file");
    trg_errs_free(&errs);
}

/* Was a bug (fixed): src/config.c:219, :267, :315 (load_functions/load_sources/load_routes) — a name defined twice in
 * the same object ({"functions":{"f":{...},"f":{...}}}) is accepted without an error: cJSON keeps both
 * members, both are loaded, and trg_config_function() silently returns the first, so the second
 * definition is ignored. Expected: "$.functions.f: defined twice". */
static void test_duplicate_names(void **state)
{
    (void)state;
    /* fixed: the test runs */
    const char *texts[] = {
        "{\"functions\":{\"f\":" FN_HTTP ",\"f\":" FN_EXEC "}}",
        "{\"sources\":{\"s\":" SRC_WH ",\"s\":{\"type\":\"webhook\",\"path\":\"/other\"}}}",
        "{\"functions\":{\"f\":" FN_EXEC "},\"sources\":{\"s\":" SRC_WH "},\"routes\":{"
        "\"r\":{\"source\":\"s\",\"function\":\"f\"},\"r\":{\"source\":\"s\",\"function\":\"f\",\"batch_"
        "size\":5}}}",
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(texts); i++) {
        struct trg_config *c = NULL;
        struct trg_errs errs = {0};
        int rc = trg_config_load_text(texts[i], strlen(texts[i]), "t.json", &c, &errs);
        trg_config_free(c);
        trg_errs_free(&errs);
        if (rc != TRG_EINVAL)
            fail_msg("%s accepted", texts[i]);
    }
}

/* Was a bug (fixed): src/config.c:349 and :354 (load_routes) — the checks after the table run on fields whose value was
 * just rejected (and so left at 0), adding a second, misleading error for one mistake:
 *   "max_record_age_s": 604801 -> "...: 604801 is out of range: -1 to 604800 s" AND
 *                                  "...max_record_age_s: must be -1 (no limit) or at least 1";
 *   "retry_max_ms": 0          -> "...: 0 is out of range: 1 to 86400000 ms" AND
 *                                  "...retry_max_ms: must be at least retry_base_ms (1000)".
 * Expected: one error each. */
static void test_no_second_error(void **state)
{
    (void)state;
    const struct bcase cases[] = {
        {ROUTE_SF(",\"max_record_age_s\":604801"),
         {"t.json: $.routes.r.max_record_age_s: 604801 is out of range: -1 to 604800 s"}},
        {ROUTE_SF(",\"max_record_age_s\":\"1h\""),
         {"t.json: $.routes.r.max_record_age_s: must be an integer"}},
        {ROUTE_SF(",\"retry_max_ms\":0"),
         {"t.json: $.routes.r.retry_max_ms: 0 is out of range: 1 to 86400000 ms"}},
    };
    size_t doubled = 0;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(cases); i++) {
        struct trg_config *c = NULL;
        struct trg_errs errs = {0};
        assert_int_equal(trg_config_load_text(cases[i].text, strlen(cases[i].text), "t.json", &c, &errs),
                         TRG_EINVAL);
        assert_true(errs.lines.n >= 1);
        assert_string_equal(errs.lines.v[0], cases[i].lines[0]); /* the right error comes first */
        if (errs.lines.n != 1)
            print_message("case %zu: %zu errors, the second: %s\n", i, errs.lines.n, errs.lines.v[1]);
        doubled += errs.lines.n != 1;
        trg_errs_free(&errs);
    }
    if (doubled)
        fail_msg("%zu case(s) reported a second, misleading error", doubled);
}

/* Was a bug (fixed): src/config.c:412 — trg_config_load_text() parses with cJSON_ParseWithLengthOpts(..., 0), which
 * ignores whatever follows the first JSON value: a file holding two objects, or an object followed by
 * junk (a stray brace after an edit, a half-pasted block), is accepted and the rest silently dropped.
 * Expected: "t.json: line L, column C: not valid JSON" at the start of the extra text. */
static void test_trailing_text(void **state)
{
    (void)state;
    /* fixed: the test runs */
    const char *texts[] = {
        "{\"log\":{\"level\":\"debug\"}}\n{\"routes\":{\"r\":{}}}",
        "{}}",
        "{} // comment",
        ROUTE_SF("") "x",
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(texts); i++) {
        struct trg_config *c = NULL;
        struct trg_errs errs = {0};
        int rc = trg_config_load_text(texts[i], strlen(texts[i]), "t.json", &c, &errs);
        trg_config_free(c);
        bool ok = rc == TRG_EINVAL && errs.lines.n == 1 && strstr(errs.lines.v[0], "not valid JSON");
        trg_errs_free(&errs);
        if (!ok)
            fail_msg("%s: accepted (rc %d)", texts[i], rc);
    }
}

/* Was a bug (fixed): allocation failures during a load.
 * 1. src/config.c:240 and :288 — f->opts / s->opts = trg_calloc() is not checked; on failure apply_two()
 *    passes base NULL to trg_opt_apply(), which writes through it: SIGSEGV in zero_field (src/opt.c:245,
 *    via src/config.c:197). With the text below, budgets 86-119 and 142-144 crash.
 * 2. src/config.c:449 — errors are detected only as lines added to errs, and trg_errs_add() swallows
 *    allocation failures, so once memory runs out trg_config_load_text() returns 0 with a truncated config:
 *    budget 85 gives a config with no functions, sources or routes; budget 200 a route whose name, source
 *    and fingerprint are NULL (the engine would strcmp them). Expected: TRG_ENOMEM (or TRG_EINVAL) and
 *    *out NULL, or 0 with the complete config. (Budgets 0-50 return TRG_EINVAL with no error line at all.)
 * Allocation failures anywhere in a load: an error or a complete config, never a crash or a leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    /* fixed: the test runs */
    const char *text =
        "{\"http\":{\"listen\":\"127.0.0.1:0\"},\"functions\":{\"f\":" FN_EXEC ",\"g\":" FN_HTTP
        "},\"sources\":{\"s\":" SRC_WH "},\"routes\":{\"r\":{\"source\":\"s\",\"function\":\"f\","
        "\"filters\":[{\"body\":[\"x\"]}]},\"q\":{\"source\":\"s\",\"function\":\"g\"}}}";
    int ok = 0;
    for (long budget = 0; budget < 400; budget++) {
        struct trg_config *c = NULL;
        struct trg_errs errs = {0};
        trg_alloc_fail_after(budget);
        int rc = trg_config_load_text(text, strlen(text), "t.json", &c, &errs);
        trg_alloc_fail_after(-1);
        if (rc == 0) {
            assert_non_null(c);
            assert_int_equal(c->n_functions, 2);
            assert_int_equal(c->n_sources, 1);
            assert_int_equal(c->n_routes, 2);
            for (size_t i = 0; i < c->n_routes; i++) {
                assert_non_null(c->routes[i].name);
                assert_non_null(c->routes[i].source);
                assert_non_null(c->routes[i].function);
                assert_non_null(c->routes[i].fingerprint);
            }
            assert_non_null(c->routes[0].filter);
            ok++;
        } else {
            assert_null(c);
        }
        trg_config_free(c);
        trg_errs_free(&errs);
    }
    assert_true(ok > 0);
}

/* dlq.backend: the name in the config, the enum the DLQ takes, and what it means with and without Redis. */
static void test_dlq_backend(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum trg_dlq_store want, with_redis, without_redis;
    } cases[] = {
        {"auto", TRG_DLQ_BACKEND_AUTO, TRG_DLQ_BACKEND_REDIS, TRG_DLQ_BACKEND_FILE},
        {"redis", TRG_DLQ_BACKEND_REDIS, TRG_DLQ_BACKEND_REDIS, TRG_DLQ_BACKEND_REDIS},
        {"file", TRG_DLQ_BACKEND_FILE, TRG_DLQ_BACKEND_FILE, TRG_DLQ_BACKEND_FILE},
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(cases); i++) {
        char text[160];
        snprintf(text, sizeof text, "{\"redis\":{\"url\":\"redis://127.0.0.1:6379/0\"},\"dlq\":{\"backend\":\"%s\"}}",
                 cases[i].name);
        struct trg_config *c = load_ok(text);
        assert_int_equal(c->dlq.backend, cases[i].want);
        assert_int_equal(trg_dlq_backend_resolve(c->dlq.backend, true), cases[i].with_redis);
        assert_int_equal(trg_dlq_backend_resolve(c->dlq.backend, false), cases[i].without_redis);
        trg_config_free(c);
    }
}

int main(void)
{
    trg_json_init_hooks();
    trg_log_setup(TRG_LOG_ERROR, TRG_LOG_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_secrets_and_redis),
        cmocka_unit_test(test_dlq_backend),
        cmocka_unit_test(test_default_config_and_sections),
        cmocka_unit_test(test_bad_table),
        cmocka_unit_test(test_text_length_and_append),
        cmocka_unit_test(test_bad_file_many),
        cmocka_unit_test(test_bad_file_not_json),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_no_second_error),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_trailing_text),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
