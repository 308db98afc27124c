/* test_outcome.c — partial batch responses (ReportBatchItemFailures), every shape from
 * shared/reference/lambda.md: success shapes, failure lists, Kafka object identifiers, and every
 * malformed form, which fails the whole batch. Tables first: one line per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "util.h"

static const char *const ids_abc[] = {"a", "b", "c"};
static const char *const ids_kafka[] = {"t-0@100", "t-0@101", "t-1@5"};
static const char *const ids_null[] = {"a", NULL, "c"};
static const char *const ids_dup[] = {"a", "a", "b"};

struct ocase {
    const char *name;
    const char *body;       /* NULL: no body at all */
    const char *const *ids; /* 3 ids */
    enum trg_partial want;
    const char *failed; /* "010": failed[i] per id */
    const char *why;    /* substring of why for MALFORMED, or NULL */
};

#define BIF(x) "{\"batchItemFailures\":" x "}"
#define ID(x) "{\"itemIdentifier\":" x "}"

static const struct ocase cases[] = {
    /* full success */
    {"no body", NULL, ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"empty body", "", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"whitespace body", " \n\t\r  ", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"null list", BIF("null"), ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"empty list", BIF("[]"), ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"empty list, spaced", " { \"batchItemFailures\" : [ ] } \n", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"object without the key", "{}", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"other keys only", "{\"statusCode\":200,\"body\":\"ok\"}", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"null response", "null", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    /* a valid JSON value that is not an object has no batchItemFailures: success (outcome.h) */
    {"string response", "\"ok\"", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    {"array response", "[1,2]", ids_abc, TRG_PARTIAL_NONE, "000", NULL},
    /* the top-level key is case-sensitive: a differently cased key is just another key */
    {"BatchItemFailures", "{\"BatchItemFailures\":[" ID("\"a\"") "]}", ids_abc, TRG_PARTIAL_NONE, "000",
     NULL},

    /* some failed */
    {"one string id", BIF("[" ID("\"b\"") "]"), ids_abc, TRG_PARTIAL_SOME, "010", NULL},
    {"two string ids", BIF("[" ID("\"c\"") "," ID("\"a\"") "]"), ids_abc, TRG_PARTIAL_SOME, "101", NULL},
    {"all string ids", BIF("[" ID("\"a\"") "," ID("\"b\"") "," ID("\"c\"") "]"), ids_abc, TRG_PARTIAL_SOME,
     "111", NULL},
    {"duplicate failures", BIF("[" ID("\"a\"") "," ID("\"a\"") "]"), ids_abc, TRG_PARTIAL_SOME, "100", NULL},
    {"extra keys in an entry", BIF("[{\"itemIdentifier\":\"b\",\"reason\":\"x\"}]"), ids_abc,
     TRG_PARTIAL_SOME, "010", NULL},
    {"kafka object id", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":101}") "]"), ids_kafka,
     TRG_PARTIAL_SOME, "010", NULL},
    {"kafka object ids",
     BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":100}") "," ID(
         "{\"offset\":5,\"topic-partition\":\"t-1\"}") "]"),
     ids_kafka, TRG_PARTIAL_SOME, "101", NULL},
    {"kafka string id", BIF("[" ID("\"t-0@100\"") "]"), ids_kafka, TRG_PARTIAL_SOME, "100", NULL},
    {"ids NULL in the batch", BIF("[" ID("\"c\"") "]"), ids_null, TRG_PARTIAL_SOME, "001", NULL},
    {"an id twice in the batch", BIF("[" ID("\"a\"") "]"), ids_dup, TRG_PARTIAL_SOME, "110", NULL},

    /* malformed: the whole batch failed */
    /* (a body that is not JSON at all: test_not_json) */
    {"unknown id", BIF("[" ID("\"zz\"") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "itemIdentifier \"zz\" is not in the batch"},
    {"known and unknown ids", BIF("[" ID("\"a\"") "," ID("\"zz\"") "]"), ids_abc, TRG_PARTIAL_MALFORMED,
     "111", "itemIdentifier \"zz\" is not in the batch"},
    {"unknown id before a known one", BIF("[" ID("\"zz\"") "," ID("\"a\"") "]"), ids_abc,
     TRG_PARTIAL_MALFORMED, "111", "\"zz\""},
    {"wrong id case", BIF("[" ID("\"A\"") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "\"A\" is not in"},
    {"empty id", BIF("[" ID("\"\"") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"null id", BIF("[" ID("null") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"numeric id", BIF("[" ID("1") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"array id", BIF("[" ID("[\"a\"]") "]"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "no valid itemIdentifier"},
    {"missing itemIdentifier", BIF("[{}]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"ItemIdentifier", BIF("[{\"ItemIdentifier\":\"a\"}]"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "no valid itemIdentifier"},
    {"itemidentifier", BIF("[{\"itemidentifier\":\"a\"}]"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "no valid itemIdentifier"},
    {"bare string entry", BIF("[\"a\"]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"null entry", BIF("[null]"), ids_abc, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"list is an object", BIF("{\"itemIdentifier\":\"a\"}"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "batchItemFailures must be an array"},
    {"list is a string", BIF("\"a\""), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "batchItemFailures must be an array"},
    {"list is a number", BIF("0"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "batchItemFailures must be an array"},
    {"list is false", BIF("false"), ids_abc, TRG_PARTIAL_MALFORMED, "111",
     "batchItemFailures must be an array"},
    {"kafka: offset not in batch", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":102}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "\"t-0@102\" is not in the batch"},
    {"kafka: negative offset", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":-1}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "\"t-0@-1\""},
    {"kafka: offset beyond int64", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":7.7e89}") "]"),
     ids_kafka, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"kafka: offset -1e300", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":-1e300}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"kafka: missing offset", BIF("[" ID("{\"topic-partition\":\"t-0\"}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"kafka: offset as string", BIF("[" ID("{\"topic-partition\":\"t-0\",\"offset\":\"100\"}") "]"),
     ids_kafka, TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"kafka: missing topic-partition", BIF("[" ID("{\"offset\":100}") "]"), ids_kafka, TRG_PARTIAL_MALFORMED,
     "111", "no valid itemIdentifier"},
    {"kafka: empty topic-partition", BIF("[" ID("{\"topic-partition\":\"\",\"offset\":100}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"kafka: Topic-Partition", BIF("[" ID("{\"Topic-Partition\":\"t-0\",\"offset\":100}") "]"), ids_kafka,
     TRG_PARTIAL_MALFORMED, "111", "no valid itemIdentifier"},
    {"no id in the batch can match", BIF("[" ID("\"b\"") "]"), ids_null, TRG_PARTIAL_MALFORMED, "111",
     "\"b\" is not in the batch"},
};

static void mask(const bool *failed, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = failed[i] ? '1' : '0';
    out[n] = '\0';
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(cases); i++) {
        const struct ocase *c = &cases[i];
        /* failed[] is pre-set to the opposite of what is expected: every element must be written */
        bool failed[3];
        for (int k = 0; k < 3; k++)
            failed[k] = c->failed[k] == '0';
        char why[256] = "untouched";
        enum trg_partial res =
            trg_outcome_parse(c->body, c->body ? strlen(c->body) : 0, c->ids, 3, failed, why, sizeof why);
        char got[4];
        mask(failed, 3, got);
        if (res != c->want || strcmp(got, c->failed) != 0)
            fail_msg("%s: got %d/%s (why: %s), want %d/%s", c->name, res, got, why, c->want, c->failed);
        if (c->want == TRG_PARTIAL_MALFORMED) {
            if (!c->why || !strstr(why, c->why))
                fail_msg("%s: why is \"%s\", want it to contain \"%s\"", c->name, why, c->why ? c->why : "");
        } else {
            assert_string_equal(why, "untouched"); /* why is only written for MALFORMED */
        }
    }
}

/* The body need not be NUL-terminated: only len bytes are read. */
static void test_length_respected(void **state)
{
    (void)state;
    const char *body = BIF("[" ID("\"b\"") "]") "GARBAGE";
    size_t len = strlen(body) - strlen("GARBAGE");
    char *copy = malloc(len);
    memcpy(copy, body, len); /* no NUL: ASan would catch a read past the end */
    bool failed[3];
    assert_int_equal(trg_outcome_parse(copy, len, ids_abc, 3, failed, NULL, 0), TRG_PARTIAL_SOME);
    assert_false(failed[0]);
    assert_true(failed[1]);
    assert_false(failed[2]);
    /* whitespace only within len */
    memcpy(copy, "   x", 4);
    assert_int_equal(trg_outcome_parse(copy, 3, ids_abc, 3, failed, NULL, 0), TRG_PARTIAL_NONE);
    free(copy);
}

/* Was a bug (fixed): src/outcome.c:50 — when the body is not JSON, trg_outcome_parse() returns MALFORMED straight
 * away, before the `out:` label that sets every failed[i]: failed[] is left all false, unlike every other
 * MALFORMED path (outcome.h: MALFORMED = "treat the whole batch as failed"; failed: "n booleans, all
 * written"). The engine (dispatch.c:356) ignores failed[] for MALFORMED today, so the batch still fails
 * as a whole, but the function's contract is broken. */
static void test_not_json(void **state)
{
    (void)state;
    const char *bodies[] = {"Internal Server Error", "{\"batchItemFailures\":[", "{'a':1}", "<html>"};
    bool failed[TRG_ARRAY_SIZE(bodies)][3];
    for (size_t i = 0; i < TRG_ARRAY_SIZE(bodies); i++) {
        char why[128] = "";
        enum trg_partial res =
            trg_outcome_parse(bodies[i], strlen(bodies[i]), ids_abc, 3, failed[i], why, sizeof why);
        assert_int_equal(res, TRG_PARTIAL_MALFORMED);
        assert_string_equal(why, "the response is not valid JSON");
    }
    /* fixed: the test runs */
    for (size_t i = 0; i < TRG_ARRAY_SIZE(bodies); i++)
        assert_true(failed[i][0] && failed[i][1] && failed[i][2]);
}

/* Was a bug (fixed): src/outcome.c:49 — cJSON_ParseWithLength() accepts trailing text after the first JSON value, so
 * a body that is not valid JSON as a whole (`{"batchItemFailures":[]} oops`) counts as success instead of
 * MALFORMED (lambda.md: "an invalid JSON response" = the whole batch failed). */
static void test_trailing_garbage(void **state)
{
    (void)state;
    /* fixed: the test runs */
    const char *bodies[] = {
        BIF("[]") " oops",
        BIF("[" ID("\"b\"") "]") "}",
        "{} {}",
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(bodies); i++) {
        bool failed[3];
        char why[128] = "";
        enum trg_partial res =
            trg_outcome_parse(bodies[i], strlen(bodies[i]), ids_abc, 3, failed, why, sizeof why);
        if (res != TRG_PARTIAL_MALFORMED)
            fail_msg("\"%s\": got %d, want MALFORMED", bodies[i], res);
        assert_true(failed[0] && failed[1] && failed[2]);
    }
}

/* Was a bug (fixed): src/outcome.c:62 (and :28, :36) — identifiers are copied into a 512-byte buffer with snprintf,
 * so an id of 512 bytes or more is truncated and then not found: a response naming a real item of the
 * batch is MALFORMED (every item retried) instead of SOME. */
static void test_long_id(void **state)
{
    (void)state;
    /* fixed: the test runs */
    char id[700];
    memset(id, 'k', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    char *body = trg_asprintf(BIF("[" ID("\"%s\"") "]"), id);
    const char *ids[] = {"a", id};
    bool failed[2];
    char why[128] = "";
    enum trg_partial res = trg_outcome_parse(body, strlen(body), ids, 2, failed, why, sizeof why);
    trg_free(body);
    assert_int_equal(res, TRG_PARTIAL_SOME);
    assert_false(failed[0]);
    assert_true(failed[1]);
}

static void test_empty_batch_and_why(void **state)
{
    (void)state;
    bool failed[1] = {true};
    /* n == 0: success shapes are fine, any failure names an unknown id */
    assert_int_equal(trg_outcome_parse(BIF("[]"), strlen(BIF("[]")), NULL, 0, failed, NULL, 0),
                     TRG_PARTIAL_NONE);
    const char *one = BIF("[" ID("\"a\"") "]");
    assert_int_equal(trg_outcome_parse(one, strlen(one), NULL, 0, failed, NULL, 0), TRG_PARTIAL_MALFORMED);
    /* why may be NULL, or short: it is truncated, never overrun */
    bool f3[3];
    const char *bad = BIF("[" ID("\"zzzzzzzzzzzzzzzzzzzz\"") "]");
    assert_int_equal(trg_outcome_parse(bad, strlen(bad), ids_abc, 3, f3, NULL, 50), TRG_PARTIAL_MALFORMED);
    char why[8];
    memset(why, 'X', sizeof why);
    assert_int_equal(trg_outcome_parse(bad, strlen(bad), ids_abc, 3, f3, why, 5), TRG_PARTIAL_MALFORMED);
    assert_int_equal(why[4], '\0');
    assert_int_equal(why[5], 'X');
    memset(why, 'X', sizeof why);
    assert_int_equal(trg_outcome_parse(bad, strlen(bad), ids_abc, 3, f3, why, 0), TRG_PARTIAL_MALFORMED);
    assert_int_equal(why[0], 'X');
}

/* A large batch: 1000 ids, every third failed. */
static void test_large_batch(void **state)
{
    (void)state;
    enum {
        N = 1000
    };
    char *idv[N];
    struct trg_buf body = {0};
    trg_buf_adds(&body, "{\"batchItemFailures\":[");
    for (int i = 0; i < N; i++) {
        idv[i] = trg_asprintf("%d-%d", i, i * 7);
        if (i % 3 == 0)
            trg_buf_addf(&body, "%s{\"itemIdentifier\":\"%s\"}", i ? "," : "", idv[i]);
    }
    trg_buf_adds(&body, "]}");
    bool *failed = calloc(N, sizeof *failed);
    assert_int_equal(trg_outcome_parse(body.data, body.len, (const char *const *)idv, N, failed, NULL, 0),
                     TRG_PARTIAL_SOME);
    for (int i = 0; i < N; i++) {
        assert_int_equal(failed[i], i % 3 == 0);
        trg_free(idv[i]);
    }
    free(failed);
    trg_buf_free(&body);
}

/* A batchItemFailures entry with no itemIdentifier ({}, null, 1) once freed a pointer never set: whatever
 * the stack held. Fill the stack with a non-NULL pattern first, as a caller deep in the loop would leave it,
 * so that the old code frees garbage (ASan: attempting free on address which was not malloc()-ed). */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile unsigned char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0x41;
}

static void test_entry_without_identifier(void **state)
{
    (void)state;
    const char *bodies[] = {BIF("[{}]"), BIF("[null]"),  BIF("[1]"),
                            BIF("[[]]"), BIF("[\"a\"]"), BIF("[{\"itemIdentifier\":{}}]")};
    for (size_t i = 0; i < TRG_ARRAY_SIZE(bodies); i++) {
        bool failed[3] = {false, false, false};
        char why[256] = "";
        dirty_stack();
        enum trg_partial res =
            trg_outcome_parse(bodies[i], strlen(bodies[i]), ids_abc, 3, failed, why, sizeof why);
        assert_int_equal(res, TRG_PARTIAL_MALFORMED);
        assert_true(failed[0] && failed[1] && failed[2]);
        assert_non_null(strstr(why, "no valid itemIdentifier"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_length_respected),
        cmocka_unit_test(test_not_json),    cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_long_id),     cmocka_unit_test(test_empty_batch_and_why),
        cmocka_unit_test(test_large_batch), cmocka_unit_test(test_entry_without_identifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
