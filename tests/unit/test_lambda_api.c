/* test_lambda_api.c — the pure parts of the Lambda APIs: SigV4 verification (against a request signed by
 * botocore, the AWS CLI's signer, recorded once) and the parsing of Invoke requests (names, ARNs,
 * qualifiers, invocation and log types). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <strings.h>

#include "config.h"
#include "invoke_api.h"
#include "sigv4.h"
#include "util.h"

/* --- SigV4 ---------------------------------------------------------------------------------------- */

/* POST http://127.0.0.1:9070/2015-03-31/functions/echo%3A%24LATEST/invocations?Qualifier=%24LATEST&b=2, body
 * {"a":1}, signed by botocore's SigV4Auth for AKIDTEST / "secret", region eu-west-1, service lambda. */
#define SIGNED_AT 1796269898 /* 20261203T035138Z */
static const char *const vector_headers[] = {
    "Host",
    "127.0.0.1:9070",
    "Content-Type",
    "application/json",
    "X-Amz-Invocation-Type",
    "Event",
    "X-Amz-Date",
    "20261203T035138Z",
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/lambda/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, "
    "Signature=2053139b857caa2a7c9c2e2db81867a17cec35488aafd3b9b590218ebf956b10",
    NULL,
};

struct fake {
    const char *const *headers;
    const char *override_name, *override_value; /* replaces (or adds) one header */
};

static const char *fake_header(void *arg, const char *name)
{
    struct fake *f = arg;
    if (f->override_name && strcasecmp(name, f->override_name) == 0)
        return f->override_value;
    for (size_t i = 0; f->headers[i]; i += 2)
        if (strcasecmp(f->headers[i], name) == 0)
            return f->headers[i + 1];
    return NULL;
}

static struct trg_credential creds[] = {
    {"AKIDOTHER", "other"},
    {"AKIDTEST", "secret"},
};

static enum trg_sigv4_result verify(struct fake *f, const char *body, const char *query, const char *secret,
                                    int64_t now)
{
    struct trg_credential c[2] = {creds[0], {"AKIDTEST", (char *)secret}};
    struct trg_sigv4_req r = {
        "POST", "/2015-03-31/functions/echo%3A%24LATEST/invocations", query, body, strlen(body), fake_header,
        f};
    const char *why = NULL;
    enum trg_sigv4_result res = trg_sigv4_verify(&r, c, 2, now, &why);
    if (res != TRG_SIGV4_OK)
        assert_non_null(why);
    return res;
}

static void test_sigv4_botocore_vector(void **state)
{
    (void)state;
    struct fake f = {vector_headers, NULL, NULL};
    const char *q = "Qualifier=%24LATEST&b=2";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_OK);
    /* within the 5 minutes either way, and not beyond */
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT + 300), TRG_SIGV4_OK);
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT - 300), TRG_SIGV4_OK);
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT + 301), TRG_SIGV4_EXPIRED);
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT - 301), TRG_SIGV4_EXPIRED);
    /* the query's order does not matter; its content, the body, the secret and signed headers do */
    assert_int_equal(verify(&f, "{\"a\":1}", "b=2&Qualifier=%24LATEST", "secret", SIGNED_AT), TRG_SIGV4_OK);
    assert_int_equal(verify(&f, "{\"a\":1}", "Qualifier=%24LATEST&b=3", "secret", SIGNED_AT),
                     TRG_SIGV4_MISMATCH);
    assert_int_equal(verify(&f, "{\"a\":2}", q, "secret", SIGNED_AT), TRG_SIGV4_MISMATCH);
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secreT", SIGNED_AT), TRG_SIGV4_MISMATCH);
    f.override_name = "X-Amz-Invocation-Type";
    f.override_value = "RequestResponse";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MISMATCH);
}

static void test_sigv4_refusals(void **state)
{
    (void)state;
    const char *q = "Qualifier=%24LATEST&b=2";
    struct fake f = {vector_headers, "Authorization", NULL};
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MISSING);
    f.override_value = "Bearer abc";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MISSING);
    f.override_value = "AWS4-HMAC-SHA256 Credential=AKIDNOPE/20261203/eu-west-1/lambda/aws4_request, "
                       "SignedHeaders=host;x-amz-date, Signature="
                       "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_UNKNOWN_KEY);
    f.override_value = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/s3/aws4_request, "
                       "SignedHeaders=host;x-amz-date, Signature="
                       "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_BAD_SCOPE);
    f.override_value = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/lambda/aws4_request, "
                       "SignedHeaders=x-amz-date, Signature="
                       "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MALFORMED);
    f.override_value =
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/lambda/aws4_request, Signature=ab";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MALFORMED);
    /* the right signature with its hex digits in uppercase is a second signature: refused (fuzz_sigv4) */
    f.override_value = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261203/eu-west-1/lambda/aws4_request, "
                       "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, "
                       "Signature=2053139B857CAA2A7C9C2E2DB81867A17CEC35488AAFD3B9B590218EBF956B10";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MISMATCH);
    f.override_name = "X-Amz-Date";
    f.override_value = "yesterday";
    assert_int_equal(verify(&f, "{\"a\":1}", q, "secret", SIGNED_AT), TRG_SIGV4_MALFORMED);
}

static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    trg_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* --- Invoke requests --------------------------------------------------------------------------------- */

static void parse_ok(const char *path, const char *query, const char *type, const char *log, const char *name,
                     const char *qualifier, enum trg_invoke_type want_type, bool tail)
{
    struct trg_invoke_call c;
    assert_int_equal(trg_invoke_api_parse(path, query, type, log, &c), 0);
    assert_string_equal(c.name, name);
    if (qualifier)
        assert_string_equal(c.qualifier, qualifier);
    else
        assert_null(c.qualifier);
    assert_int_equal(c.type, want_type);
    assert_int_equal(c.tail, tail);
    trg_invoke_call_clear(&c);
}

static void parse_err(const char *path, const char *query, const char *type, const char *log, int status,
                      const char *err_type)
{
    struct trg_invoke_call c;
    assert_int_equal(trg_invoke_api_parse(path, query, type, log, &c), TRG_EINVAL);
    assert_int_equal(c.err_status, status);
    assert_string_equal(c.err_type, err_type);
    assert_non_null(c.err_msg);
    assert_null(c.name);
    assert_null(c.qualifier);
}

static void test_parse_names(void **state)
{
    (void)state;
    parse_ok("/2015-03-31/functions/echo/invocations", "", NULL, NULL, "echo", NULL, TRG_INVOKE_SYNC, false);
    parse_ok("/2015-03-31/functions/echo:$LATEST/invocations", "", "RequestResponse", "Tail", "echo",
             "$LATEST", TRG_INVOKE_SYNC, true);
    parse_ok("/2015-03-31/functions/123456789012:function:echo/invocations", NULL, "Event", "Tail", "echo",
             NULL, TRG_INVOKE_EVENT, false);
    parse_ok("/2015-03-31/functions/123456789012:function:echo:7/invocations", "", "DryRun", "None", "echo",
             "7", TRG_INVOKE_DRYRUN, false);
    parse_ok("/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:echo/invocations", "",
             NULL, NULL, "echo", NULL, TRG_INVOKE_SYNC, false);
    parse_ok("/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:echo:prod/invocations",
             "x=1&Qualifier=prod", NULL, NULL, "echo", "prod", TRG_INVOKE_SYNC, false);
    parse_ok("/2015-03-31/functions/echo/invocations", "Qualifier=%24LATEST", NULL, NULL, "echo", "$LATEST",
             TRG_INVOKE_SYNC, false);
    parse_ok("/2014-11-13/functions/echo/invoke-async/", "", NULL, NULL, "echo", NULL, TRG_INVOKE_EVENT,
             false);
    parse_ok("/2014-11-13/functions/echo/invoke-async", "", NULL, NULL, "echo", NULL, TRG_INVOKE_EVENT,
             false);
    assert_true(trg_invoke_qualifier_ok(NULL));
    assert_true(trg_invoke_qualifier_ok("$LATEST"));
    assert_false(trg_invoke_qualifier_ok("7"));
    assert_false(trg_invoke_qualifier_ok("$latest"));
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad = "InvalidParameterValueException";
    parse_err("/2015-03-31/functions/echo/invocations", "", "Sometimes", NULL, 400, bad);
    parse_err("/2015-03-31/functions/echo/invocations", "", NULL, "Head", 400, bad);
    parse_err("/2015-03-31/functions/echo:7/invocations", "Qualifier=8", NULL, NULL, 400, bad);
    parse_err("/2015-03-31/functions/echo:/invocations", "", NULL, NULL, 400, bad);
    parse_err("/2015-03-31/functions/:echo/invocations", "", NULL, NULL, 400, bad);
    parse_err("/2015-03-31/functions/a:b:c:d:e/invocations", "", NULL, NULL, 400, bad);
    parse_err("/2015-03-31/functions/arn:aws:s3:eu-west-1:1:function:echo/invocations", "", NULL, NULL, 400,
              bad);
    parse_err("/2015-03-31/functions/a:b:c:d:e:f:g:h:i/invocations", "", NULL, NULL, 400, bad);
    parse_err("/2015-03-31/functions/echo/invocation", "", NULL, NULL, 404, "ResourceNotFoundException");
    parse_err("/2015-03-31/functions/a/b/invocations", "", NULL, NULL, 404, "ResourceNotFoundException");
    parse_err("/2015-03-31/functions//invocations", "", NULL, NULL, 404, "ResourceNotFoundException");
    parse_err("/other", "", NULL, NULL, 404, "ResourceNotFoundException");
    parse_err(NULL, NULL, NULL, NULL, 404, "ResourceNotFoundException");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_botocore_vector),
        cmocka_unit_test(test_sigv4_refusals),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
