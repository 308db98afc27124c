/* test_opt.c — option tables applied to a struct: every type, defaults, ranges, each error message with
 * its $.path, unknown keys, secrets from _env and _file, required options, trg_opt_free, trg_opt_doc,
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opt.h"
#include "util.h"

struct target {
    char *name;
    int64_t count;
    int64_t delta;
    bool on;
    int mode;
    struct trg_strlist tags;
    struct trg_kvlist hdrs;
    cJSON *extra;
    char *token;
};

static const char *const modes[] = {"slow", "fast", "off", NULL};

#define T(f) offsetof(struct target, f)
static const struct trg_opt table[] = {
    {"name", TRG_OPT_STRING, "\"anon\"", 0, 0, NULL, T(name), "A name.", NULL, 0},
    {"count", TRG_OPT_INT, "5", 1, 100, "events", T(count), "How many.", NULL, 0},
    {"delta", TRG_OPT_INT, NULL, -10, 10, NULL, T(delta), "A signed step.", NULL, 0},
    {"on", TRG_OPT_BOOL, "true", 0, 0, NULL, T(on), "Switch.", NULL, 0},
    {"mode", TRG_OPT_ENUM, "\"fast\"", 0, 0, NULL, T(mode), "Speed.", modes, 0},
    {"tags", TRG_OPT_STRLIST, NULL, 0, 0, NULL, T(tags), "Labels.", NULL, 0},
    {"hdrs", TRG_OPT_KVLIST, NULL, 0, 0, NULL, T(hdrs), "Headers.", NULL, 0},
    {"extra", TRG_OPT_JSON, NULL, 0, 0, NULL, T(extra), "Anything.", NULL, 0},
    {"token", TRG_OPT_SECRET, NULL, 0, 0, NULL, T(token), "A token.", NULL, 0},
};

struct req_target {
    char *must;
    char *key;
    int64_t n;
};

#define R(f) offsetof(struct req_target, f)
static const struct trg_opt req_table[] = {
    {"must", TRG_OPT_STRING, NULL, 0, 0, NULL, R(must), "Required text.", NULL, TRG_OPT_REQUIRED},
    {"key", TRG_OPT_SECRET, NULL, 0, 0, NULL, R(key), "Required secret.", NULL, TRG_OPT_REQUIRED},
    {"n", TRG_OPT_INT, "7", 0, 9, "s", R(n), "Required with a default: the default wins.", NULL,
     TRG_OPT_REQUIRED},
};

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/test_opt.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    setenv("TRG_TEST_TOKEN", "from-env", 1);
    setenv("TRG_TEST_EMPTY", "", 1);
    unsetenv("TRG_TEST_NOPE");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *content)
{
    char *path = trg_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* Apply `json` (NULL: no object) at $.t; return the error count and check it equals the lines added. */
static int apply(const struct trg_opt *t, size_t n, void *base, const char *json, struct trg_errs *errs)
{
    cJSON *obj = NULL;
    if (json) {
        obj = cJSON_Parse(json);
        if (!obj)
            fail_msg("bad test JSON: %s", json);
    }
    size_t before = errs->lines.n;
    int bad = trg_opt_apply(t, n, base, obj, "$.t", NULL, errs);
    cJSON_Delete(obj);
    assert_int_equal((size_t)bad, errs->lines.n - before);
    return bad;
}

static void test_defaults(void **state)
{
    (void)state;
    struct target t;
    memset(&t, 0xa5, sizeof t); /* every field is written, whatever was there */
    struct trg_errs errs = {0};
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, NULL, &errs), 0);
    assert_string_equal(t.name, "anon");
    assert_int_equal(t.count, 5);
    assert_int_equal(t.delta, 0);
    assert_true(t.on);
    assert_int_equal(t.mode, 1);
    assert_int_equal(t.tags.n, 0);
    assert_null(t.tags.v);
    assert_int_equal(t.hdrs.n, 0);
    assert_null(t.extra);
    assert_null(t.token);
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    assert_null(t.name);

    /* an empty object is the same */
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, "{}", &errs), 0);
    assert_string_equal(t.name, "anon");
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

static void test_values(void **state)
{
    (void)state;
    struct target t;
    struct trg_errs errs = {0};
    const char *json = "{\"name\":\"n1\",\"count\":100,\"delta\":-10,\"on\":false,\"mode\":\"off\","
                       "\"tags\":[\"a\",\"\",\"c\"],\"hdrs\":{\"X-B\":\"2\",\"X-A\":\"1\"},"
                       "\"extra\":{\"deep\":[1,{\"x\":null}]},\"token_env\":\"TRG_TEST_TOKEN\"}";
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, json, &errs), 0);
    assert_string_equal(t.name, "n1");
    assert_int_equal(t.count, 100);
    assert_int_equal(t.delta, -10);
    assert_false(t.on);
    assert_int_equal(t.mode, 2);
    assert_int_equal(t.tags.n, 3);
    assert_string_equal(t.tags.v[0], "a");
    assert_string_equal(t.tags.v[1], "");
    assert_string_equal(t.tags.v[2], "c");
    assert_int_equal(t.hdrs.n, 2); /* order kept */
    assert_string_equal(t.hdrs.k[0], "X-B");
    assert_string_equal(t.hdrs.v[0], "2");
    assert_string_equal(t.hdrs.k[1], "X-A");
    assert_string_equal(t.hdrs.v[1], "1");
    char *extra = cJSON_PrintUnformatted(t.extra);
    assert_string_equal(extra, "{\"deep\":[1,{\"x\":null}]}");
    cJSON_free(extra);
    assert_string_equal(t.token, "from-env");
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    assert_null(t.name);
    assert_null(t.tags.v);
    assert_int_equal(t.tags.n, 0);
    assert_null(t.hdrs.k);
    assert_null(t.extra);
    assert_null(t.token);

    /* the other end of the ranges, numbers written as floats, empty lists, JSON scalars */
    json = "{\"count\":1.0,\"delta\":10,\"mode\":\"slow\",\"tags\":[],\"hdrs\":{},\"extra\":null,"
           "\"token_env\":\"TRG_TEST_EMPTY\"}";
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, json, &errs), 0);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.delta, 10);
    assert_int_equal(t.mode, 0);
    assert_int_equal(t.tags.n, 0);
    assert_int_equal(t.hdrs.n, 0);
    assert_non_null(t.extra);
    assert_true(cJSON_IsNull(t.extra));
    assert_string_equal(t.token, ""); /* set but empty */
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

struct ecase {
    const char *json;
    const char *lines[3]; /* every error line, in order */
};

static const struct ecase error_cases[] = {
    {"{\"name\":5}", {"$.t.name: must be a string"}},
    {"{\"name\":null}", {"$.t.name: must be a string"}},
    {"{\"count\":0}", {"$.t.count: 0 is out of range: 1 to 100 events"}},
    {"{\"count\":101}", {"$.t.count: 101 is out of range: 1 to 100 events"}},
    {"{\"count\":-1}", {"$.t.count: -1 is out of range: 1 to 100 events"}},
    {"{\"count\":1.5}", {"$.t.count: must be a whole number, not 1.5"}},
    {"{\"count\":1e300}", {"$.t.count: must be a whole number, not 1e+300"}},
    {"{\"count\":\"5\"}", {"$.t.count: must be an integer"}},
    {"{\"count\":true}", {"$.t.count: must be an integer"}},
    {"{\"delta\":-11}", {"$.t.delta: -11 is out of range: -10 to 10"}},
    {"{\"on\":\"yes\"}", {"$.t.on: must be true or false"}},
    {"{\"on\":1}", {"$.t.on: must be true or false"}},
    {"{\"mode\":\"medium\"}", {"$.t.mode: must be one of \"slow\", \"fast\", \"off\""}},
    {"{\"mode\":\"FAST\"}", {"$.t.mode: must be one of \"slow\", \"fast\", \"off\""}},
    {"{\"mode\":1}", {"$.t.mode: must be one of \"slow\", \"fast\", \"off\""}},
    {"{\"tags\":\"a\"}", {"$.t.tags: must be an array of strings"}},
    {"{\"tags\":[\"a\",1,\"b\",null]}",
     {"$.t.tags: element 1 must be a string", "$.t.tags: element 3 must be a string"}},
    {"{\"hdrs\":[]}", {"$.t.hdrs: must be an object of strings"}},
    {"{\"hdrs\":{\"a\":1,\"b\":\"x\"}}", {"$.t.hdrs: the value of \"a\" must be a string"}},
    {"{\"bogus\":1}", {"$.t.bogus: unknown key"}},
    {"{\"Name\":\"x\"}", {"$.t.Name: unknown key"}}, /* keys are case-sensitive */
    {"{\"token_envx\":\"A\"}", {"$.t.token_envx: unknown key"}},
    {"{\"name_env\":\"A\"}", {"$.t.name_env: unknown key"}}, /* only secrets have _env */
    {"{\"token\":\"hunter2\"}",
     {"$.t.token: secrets are never written inline; use token_env (an environment variable) or token_file"}},
    {"{\"token_env\":\"TRG_TEST_TOKEN\",\"token_file\":\"/etc/hostname\"}",
     {"$.t.token_file: set only one of token_env and token_file"}},
    {"{\"token_env\":\"TRG_TEST_NOPE\"}", {"$.t.token_env: environment variable TRG_TEST_NOPE is not set"}},
    {"{\"token_env\":\"\"}", {"$.t.token_env: must be the name of an environment variable"}},
    {"{\"token_env\":5}", {"$.t.token_env: must be the name of an environment variable"}},
    {"{\"token_file\":\"\"}", {"$.t.token_file: must be the path of a file holding the secret"}},
    {"{\"token_file\":[]}", {"$.t.token_file: must be the path of a file holding the secret"}},
    {"{\"token_file\":\"/nonexistent/trg/secret\"}",
     {"$.t.token_file: cannot read /nonexistent/trg/secret: No such file or directory"}},
    /* several errors at once, in table order, then unknown keys in object order */
    {"{\"zzz\":1,\"on\":0,\"count\":0,\"aaa\":2}",
     {"$.t.count: 0 is out of range: 1 to 100 events", "$.t.on: must be true or false",
      "$.t.zzz: unknown key"}},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(error_cases); i++) {
        const struct ecase *c = &error_cases[i];
        struct target t;
        struct trg_errs errs = {0};
        int bad = apply(table, TRG_ARRAY_SIZE(table), &t, c->json, &errs);
        size_t want = 0;
        while (want < 3 && c->lines[want])
            want++;
        if (i == TRG_ARRAY_SIZE(error_cases) - 1)
            want = 4; /* "aaa" too; only the first three are listed */
        if ((size_t)bad != want)
            fail_msg("%s: %d errors, want %zu (first: %s)", c->json, bad, want,
                     errs.lines.n ? errs.lines.v[0] : "-");
        for (size_t k = 0; k < 3 && c->lines[k]; k++)
            if (strcmp(errs.lines.v[k], c->lines[k]) != 0)
                fail_msg("%s: line %zu is \"%s\", want \"%s\"", c->json, k, errs.lines.v[k], c->lines[k]);
        trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
        trg_errs_free(&errs);
    }
}

/* A failed value leaves the field at its zero value (not the default), and the rest still applies. */
static void test_partial_after_errors(void **state)
{
    (void)state;
    struct target t;
    struct trg_errs errs = {0};
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t,
                           "{\"count\":0,\"name\":\"ok\",\"tags\":[\"a\",2,\"c\"],\"token\":\"x\","
                           "\"token_env\":\"TRG_TEST_TOKEN\"}",
                           &errs),
                     3);
    assert_int_equal(t.count, 0);
    assert_string_equal(t.name, "ok");
    assert_int_equal(t.tags.n, 2); /* the good elements are kept */
    assert_string_equal(t.tags.v[1], "c");
    assert_string_equal(t.token, "from-env"); /* the inline value is refused, never used */
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

static void test_not_an_object(void **state)
{
    (void)state;
    struct target t;
    struct trg_errs errs = {0};
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, "[1]", &errs), 1);
    assert_string_equal(errs.lines.v[0], "$.t: must be an object");
    assert_string_equal(t.name, "anon"); /* defaults still applied */
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);

    /* path NULL: keys are reported under "$" */
    cJSON *obj = cJSON_Parse("{\"bogus\":1}");
    assert_int_equal(trg_opt_apply(table, TRG_ARRAY_SIZE(table), &t, obj, NULL, NULL, &errs), 1);
    assert_string_equal(errs.lines.v[0], "$.bogus: unknown key");
    cJSON_Delete(obj);
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

static void test_extra_keys(void **state)
{
    (void)state;
    struct target t;
    struct trg_errs errs = {0};
    static const char *const extra[] = {"type", "other", NULL};
    cJSON *obj = cJSON_Parse("{\"type\":\"x\",\"other\":[1],\"third\":0}");
    assert_int_equal(trg_opt_apply(table, TRG_ARRAY_SIZE(table), &t, obj, "$.f", extra, &errs), 1);
    assert_int_equal(errs.lines.n, 1);
    assert_string_equal(errs.lines.v[0], "$.f.third: unknown key");
    cJSON_Delete(obj);
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

static void test_required(void **state)
{
    (void)state;
    struct req_target r;
    struct trg_errs errs = {0};
    assert_int_equal(apply(req_table, TRG_ARRAY_SIZE(req_table), &r, "{}", &errs), 2);
    assert_string_equal(errs.lines.v[0], "$.t.must: is required");
    assert_string_equal(errs.lines.v[1], "$.t: key_env or key_file is required");
    assert_int_equal(r.n, 7);
    trg_opt_free(req_table, TRG_ARRAY_SIZE(req_table), &r);
    trg_errs_free(&errs);

    /* no object at all: the same errors */
    assert_int_equal(apply(req_table, TRG_ARRAY_SIZE(req_table), &r, NULL, &errs), 2);
    trg_opt_free(req_table, TRG_ARRAY_SIZE(req_table), &r);
    trg_errs_free(&errs);

    /* an inline secret does not satisfy the requirement */
    assert_int_equal(apply(req_table, TRG_ARRAY_SIZE(req_table), &r, "{\"must\":\"m\",\"key\":\"k\"}", &errs),
                     2);
    assert_string_equal(
        errs.lines.v[0],
        "$.t.key: secrets are never written inline; use key_env (an environment variable) or key_file");
    assert_string_equal(errs.lines.v[1], "$.t: key_env or key_file is required");
    trg_opt_free(req_table, TRG_ARRAY_SIZE(req_table), &r);
    trg_errs_free(&errs);

    assert_int_equal(apply(req_table, TRG_ARRAY_SIZE(req_table), &r,
                           "{\"must\":\"m\",\"key_env\":\"TRG_TEST_TOKEN\"}", &errs),
                     0);
    assert_string_equal(r.must, "m");
    assert_string_equal(r.key, "from-env");
    trg_opt_free(req_table, TRG_ARRAY_SIZE(req_table), &r);
    trg_errs_free(&errs);
}

struct fcase {
    const char *content;
    const char *want;
};

static const struct fcase file_cases[] = {
    {"s3cret\n", "s3cret"},
    {"s3cret", "s3cret"},
    {"s3cret\r\n", "s3cret"},
    {"s3cret\n\n\n", "s3cret"},
    {"two\nlines\n", "two\nlines"},
    {" spaced \n", " spaced "}, /* only line ends are trimmed */
    {"\n", ""},
    {"", ""},
};

static void test_secret_file(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(file_cases); i++) {
        char name[32];
        snprintf(name, sizeof name, "secret%zu", i);
        char *path = write_file(name, file_cases[i].content);
        char *json = trg_asprintf("{\"token_file\":\"%s\"}", path);
        struct target t;
        struct trg_errs errs = {0};
        assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, json, &errs), 0);
        assert_non_null(t.token);
        if (strcmp(t.token, file_cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, t.token, file_cases[i].want);
        trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
        trg_errs_free(&errs);
        trg_free(json);
        trg_free(path);
    }
    /* a large secret file (several read chunks) */
    char *big = malloc(20001);
    memset(big, 's', 20000);
    big[20000] = '\0';
    char *path = write_file("big", big);
    char *json = trg_asprintf("{\"token_file\":\"%s\"}", path);
    struct target t;
    struct trg_errs errs = {0};
    assert_int_equal(apply(table, TRG_ARRAY_SIZE(table), &t, json, &errs), 0);
    assert_string_equal(t.token, big);
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    free(big);
    trg_free(json);
    trg_free(path);
}

/* Was a bug (fixed): src/opt.c:54-66 (read_secret_file) — fopen() of a directory succeeds on Linux and fread() then
 * fails with EISDIR, but the read error is never checked (no ferror()), so `token_file` naming a directory
 * silently yields an empty secret "" instead of an error "cannot read DIR: Is a directory". An empty
 * admin_token or auth_token is then taken as the token. */
static void test_secret_file_directory(void **state)
{
    (void)state;
    /* fixed: the test runs */
    char *json = trg_asprintf("{\"token_file\":\"%s\"}", tmpdir);
    struct target t;
    struct trg_errs errs = {0};
    int bad = apply(table, TRG_ARRAY_SIZE(table), &t, json, &errs);
    trg_free(json);
    assert_int_equal(bad, 1);
    assert_null(t.token);
    char *want = trg_asprintf("$.t.token_file: cannot read %s: Is a directory", tmpdir);
    assert_string_equal(errs.lines.v[0], want);
    trg_free(want);
    trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
    trg_errs_free(&errs);
}

static void test_bad_default(void **state)
{
    (void)state;
    static const struct trg_opt bad[] = {
        {"x", TRG_OPT_INT, "nope", 0, 10, NULL, 0, "Broken default.", NULL, 0},
        {"y", TRG_OPT_INT, "11", 0, 10, NULL, sizeof(int64_t), "Out-of-range default.", NULL, 0},
    };
    int64_t v[2];
    struct trg_errs errs = {0};
    assert_int_equal(apply(bad, TRG_ARRAY_SIZE(bad), v, NULL, &errs), 2);
    assert_string_equal(errs.lines.v[0], "$.t.x: internal error: bad default nope");
    assert_string_equal(errs.lines.v[1], "$.t.y: 11 is out of range: 0 to 10");
    trg_errs_free(&errs);
}

static void test_errs_add(void **state)
{
    (void)state;
    struct trg_errs errs = {0};
    trg_errs_add(&errs, "$.a", "x %d", 1);
    trg_errs_add(&errs, NULL, "plain %s", "line");
    assert_int_equal(errs.lines.n, 2);
    assert_string_equal(errs.lines.v[0], "$.a: x 1");
    assert_string_equal(errs.lines.v[1], "plain line");
    trg_errs_free(&errs);
    assert_int_equal(errs.lines.n, 0);
    trg_errs_free(&errs); /* twice is fine */
    /* out of memory: the line is dropped, nothing crashes */
    trg_alloc_fail_after(0);
    trg_errs_add(&errs, "$.a", "x");
    trg_alloc_fail_after(-1);
    assert_int_equal(errs.lines.n, 0);
    trg_errs_free(&errs);
}

static void test_doc(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_opt_doc(table, TRG_ARRAY_SIZE(table), &b), 0);
    const char *rows[] = {
        "| key | type | default | range | description |\n|---|---|---|---|---|\n",
        "| `name` | string | `\"anon\"` |  | A name. |\n",
        "| `count` | integer | `5` | 1 – 100 events | How many. |\n",
        "| `delta` | integer | none | -10 – 10 | A signed step. |\n",
        "| `on` | boolean | `true` |  | Switch. |\n",
        "| `mode` | enum | `\"fast\"` | `slow`, `fast`, `off` | Speed. |\n",
        "| `tags` | string array | none |  | Labels. |\n",
        "| `hdrs` | object | none |  | Headers. |\n",
        "| `extra` | JSON | none |  | Anything. |\n",
        "| `token_env` / `token_file` | secret | none |  | A token. |\n",
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(rows); i++)
        if (!strstr(b.data, rows[i]))
            fail_msg("row missing: %s\nin:\n%s", rows[i], b.data);
    /* one header, two separator lines' worth, one row per option */
    size_t lines = 0;
    for (const char *p = b.data; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + TRG_ARRAY_SIZE(table));
    trg_buf_free(&b);

    assert_int_equal(trg_opt_doc(req_table, TRG_ARRAY_SIZE(req_table), &b), 0);
    assert_non_null(strstr(b.data, "| `must` | string | required |  | Required text. |\n"));
    assert_non_null(strstr(b.data, "| `key_env` / `key_file` | secret | required |  | Required secret. |\n"));
    assert_non_null(strstr(b.data, "| `n` | integer | `7` | 0 – 9 s |"));
    trg_buf_free(&b);
}

/* Every allocation budget: no crash, and trg_opt_free releases whatever was built (ASan/valgrind). */
static void test_alloc_failures(void **state)
{
    (void)state;
    char *path = write_file("alloc", "file-secret\n");
    char *json =
        trg_asprintf("{\"name\":\"n\",\"tags\":[\"a\",\"b\",\"c\"],\"hdrs\":{\"a\":\"1\",\"b\":\"2\"},"
                     "\"extra\":{\"k\":[1,2,3]},\"token_file\":\"%s\",\"bogus\":1,\"count\":0}",
                     path);
    cJSON *obj = cJSON_Parse(json);
    trg_json_init_hooks();
    int clean = 0;
    for (long budget = 0; budget < 60; budget++) {
        struct target t;
        struct trg_errs errs = {0};
        trg_alloc_fail_after(budget);
        int bad = trg_opt_apply(table, TRG_ARRAY_SIZE(table), &t, obj, "$.t", NULL, &errs);
        trg_opt_free(table, TRG_ARRAY_SIZE(table), &t);
        trg_errs_free(&errs);
        trg_alloc_fail_after(-1);
        assert_true(bad >= 0);
        clean += bad == 2;
    }
    assert_true(clean > 0);
    cJSON_Delete(obj);
    trg_free(json);
    trg_free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_partial_after_errors),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_extra_keys),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_secret_file_directory),
        cmocka_unit_test(test_bad_default),
        cmocka_unit_test(test_errs_add),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
