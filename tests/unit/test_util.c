/* test_util.c — buffers, object pools, packed events, JSON string escaping, base64 both ways, hex digits, UTF-8 sequences, time
 * formatting, decimal integers, request ids, constant-time comparison, asprintf, and allocation failure injection.
 * Tables first: one line per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "event.h"
#include "util.h"

static int teardown(void **state)
{
    (void)state;
    trg_alloc_fail_after(-1);
    return 0;
}

/* --- pools and packed events ------------------------------------------------------------------- */

struct pooled {
    int a;
    char s[20];
};

static void test_pool(void **state)
{
    (void)state;
    struct trg_pool pool = TRG_POOL_INIT(struct pooled, 2);
    struct pooled *v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = trg_pool_get(&pool);
        assert_non_null(v[i]);
        v[i]->a = i + 1;
        strcpy(v[i]->s, "dirty");
    }
    for (int i = 0; i < 3; i++)
        trg_pool_put(&pool, v[i]);
    assert_true(pool.n <= 2); /* beyond keep they are freed (and under ASan nothing is kept) */
    for (int i = 0; i < 3; i++) {
        v[i] = trg_pool_get(&pool);
        assert_non_null(v[i]);
        assert_int_equal(v[i]->a, 0); /* zeroed, reused or not */
        assert_string_equal(v[i]->s, "");
    }
    assert_int_equal(pool.n, 0);
    trg_pool_put(&pool, NULL);
    trg_alloc_fail_after(0); /* an empty pool allocates, and says so */
    assert_null(trg_pool_get(&pool));
    trg_alloc_fail_after(-1);
    for (int i = 0; i < 3; i++)
        trg_pool_put(&pool, v[i]);
    trg_pool_clear(&pool);
    assert_int_equal(pool.n, 0);
    assert_null(pool.free);
}

static void test_event_packed(void **state)
{
    (void)state;
    struct trg_event *ev = trg_event_new_packed("{\"a\":1}", 7, "t-0@5", "t-0", 24);
    assert_non_null(ev);
    assert_true(ev->packed);
    assert_int_equal(ev->len, 7);
    assert_string_equal(ev->json, "{\"a\":1}");
    assert_string_equal(ev->item_id, "t-0@5");
    assert_string_equal(ev->order_key, "t-0");
    assert_int_equal(ev->created_ms, 0);
    assert_non_null(ev->token);
    assert_int_equal((uintptr_t)ev->token % 16, 0);
    for (int i = 0; i < 24; i++)
        assert_int_equal(((unsigned char *)ev->token)[i], 0);
    memset(ev->token, 0xff, 24); /* the token's room is its own: the strings stay intact */
    assert_string_equal(ev->json, "{\"a\":1}");
    trg_event_free(ev);

    ev = trg_event_new_packed("", 0, NULL, NULL, 0); /* nothing optional */
    assert_non_null(ev);
    assert_string_equal(ev->json, "");
    assert_null(ev->item_id);
    assert_null(ev->order_key);
    assert_null(ev->token);
    trg_event_free(ev);

    trg_alloc_fail_after(0);
    assert_null(trg_event_new_packed("{}", 2, "x", "y", 8));
}

/* --- buffers ------------------------------------------------------------------------------------ */

static void test_buf_growth(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    char expect[8192];
    size_t elen = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(trg_buf_addf(&b, "%d,", i), 0);
        elen += (size_t)snprintf(expect + elen, sizeof expect - elen, "%d,", i);
        assert_int_equal(b.len, elen);
        assert_true(b.cap > b.len); /* room for the NUL */
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_string_equal(b.data, expect);
    /* capacity grows by doubling from 64 */
    assert_int_equal(b.cap & (b.cap - 1), 0);
    assert_true(b.cap >= 64);
    trg_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_add_variants(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_buf_add(&b, "", 0), 0); /* empty add still gives a NUL-terminated buffer */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(trg_buf_adds(&b, "ab"), 0);
    assert_int_equal(trg_buf_addc(&b, 'c'), 0);
    assert_int_equal(trg_buf_add(&b, "d\0e", 3), 0); /* binary-safe */
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "abcd\0e", 7);
    assert_int_equal(trg_buf_addf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 6);

    size_t cap = b.cap;
    trg_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* memory kept */
    assert_string_equal(b.data, "");

    /* a large single add */
    char big[10000];
    memset(big, 'x', sizeof big);
    assert_int_equal(trg_buf_add(&b, big, sizeof big), 0);
    assert_int_equal(b.len, sizeof big);
    assert_true(b.cap >= sizeof big + 1);
    assert_memory_equal(b.data, big, sizeof big);
    assert_int_equal(b.data[sizeof big], '\0');

    char *s = trg_buf_steal(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(strlen(s), sizeof big);
    trg_free(s);

    /* reset of an empty buffer is harmless; steal of an empty buffer is NULL */
    trg_buf_reset(&b);
    assert_null(trg_buf_steal(&b));
    trg_buf_free(&b);
}

static void test_buf_addf_long(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(trg_buf_addf(&b, "<%s>%d", big, 42), 0);
    assert_int_equal(b.len, sizeof big - 1 + 4);
    assert_int_equal(b.data[0], '<');
    assert_string_equal(b.data + b.len - 3, ">42");
    trg_buf_free(&b);
}

/* addf prints into the spare room when the text fits, and grows otherwise: both give the same bytes. */
static void test_buf_addf_fit_and_grow(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_buf_reserve(&b, 100), 0);
    size_t cap = b.cap;
    assert_true(cap >= 101);
    assert_int_equal(trg_buf_addf(&b, "a%db", 1), 0); /* fits */
    assert_int_equal(b.cap, cap);
    assert_int_equal(trg_buf_addf(&b, "%0*d", 200, 7), 0); /* does not fit: grows once, prints again */
    assert_int_equal(b.len, 3 + 200);
    assert_string_equal(b.data + b.len - 2, "07");
    assert_int_equal(memcmp(b.data, "a1b000", 6), 0);
    assert_int_equal(trg_buf_addf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 203);
    trg_buf_free(&b);
}

static void test_buf_add_int(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {7, "7"},
        {-7, "-7"},
        {10, "10"},
        {99, "99"},
        {100, "100"},
        {101, "101"},
        {-1009, "-1009"},
        {1545084650987, "1545084650987"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
        {-1, "-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct trg_buf b = {0};
        assert_int_equal(trg_buf_adds(&b, "x="), 0);
        assert_int_equal(trg_buf_add_int(&b, cases[i].v), 0);
        assert_string_equal(b.data + 2, cases[i].text);
        trg_buf_free(&b);
    }
    struct trg_buf b = {0};
    trg_alloc_fail_after(0);
    assert_int_equal(trg_buf_add_int(&b, 12), TRG_ENOMEM);
    assert_int_equal(trg_buf_reserve(&b, 1), TRG_ENOMEM);
    trg_alloc_fail_after(-1);
    assert_null(b.data);
}

/* --- JSON strings ------------------------------------------------------------------------------- */

struct jcase {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *out;
};

static const struct jcase json_cases[] = {
    {"", 0, "\"\""},
    {"plain", 0, "\"plain\""},
    {"a\"b", 0, "\"a\\\"b\""},
    {"back\\slash", 0, "\"back\\\\slash\""},
    {"\"\\\"", 0, "\"\\\"\\\\\\\"\""},
    {"l1\nl2\r\tx", 0, "\"l1\\nl2\\r\\tx\""},
    {"\b\f", 0, "\"\\b\\f\""},
    {"\x01\x1f", 0, "\"\\u0001\\u001f\""},
    {"a\0b", 3, "\"a\\u0000b\""},
    {"\x7f", 0, "\"\x7f\""},                         /* DEL needs no escape in JSON */
    {"/slash/", 0, "\"/slash/\""},                   /* '/' is not escaped */
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, /* UTF-8 passes through untouched */
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
    {"\xff\xfe", 0, "\"\xff\xfe\""}, /* bytes are not validated */
    {"abc", 2, "\"ab\""},            /* only n bytes are read */
};

static void test_json_str_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(json_cases); i++) {
        const struct jcase *c = &json_cases[i];
        struct trg_buf b = {0};
        assert_int_equal(trg_buf_adds(&b, "x="), 0);
        size_t n = c->len ? c->len : strlen(c->in);
        assert_int_equal(trg_buf_add_json_str(&b, c->in, n), 0);
        if (strcmp(b.data + 2, c->out) != 0)
            fail_msg("case %zu: got %s, want %s", i, b.data + 2, c->out);
        assert_int_equal(b.len, 2 + strlen(c->out));
        trg_buf_free(&b);
    }
}

/* Every byte 1..255 round-trips through cJSON. */
static void test_json_str_roundtrip(void **state)
{
    (void)state;
    char in[255];
    for (int i = 0; i < 255; i++)
        in[i] = (char)(i + 1);
    struct trg_buf b = {0};
    assert_int_equal(trg_buf_add_json_str(&b, in, sizeof in), 0);
    cJSON *v = cJSON_Parse(b.data);
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    assert_int_equal(strlen(v->valuestring), sizeof in);
    assert_memory_equal(v->valuestring, in, sizeof in);
    cJSON_Delete(v);
    /* no raw control character is left in the output */
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20);
    trg_buf_free(&b);
}

/* --- base64 ------------------------------------------------------------------------------------- */

struct b64case {
    const char *in;
    size_t len;
    const char *out;
};

static const struct b64case b64_cases[] = {
    /* RFC 4648 §10 */
    {"", 0, ""},
    {"f", 1, "Zg=="},
    {"fo", 2, "Zm8="},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg=="},
    {"fooba", 5, "Zm9vYmE="},
    {"foobar", 6, "Zm9vYmFy"},
    /* binary, high bits, the last two alphabet characters */
    {"\0", 1, "AA=="},
    {"\0\0", 2, "AAA="},
    {"\0\0\0", 3, "AAAA"},
    {"\xff", 1, "/w=="},
    {"\xff\xff", 2, "//8="},
    {"\xff\xfe\xfd", 3, "//79"},
    {"\xfb\xff", 2, "+/8="},
    {"recordKey", 9, "cmVjb3JkS2V5"},
    {"{\"key\":\"value\"}", 15, "eyJrZXkiOiJ2YWx1ZSJ9"}, /* lambda.md's Kafka example */
};

static void test_base64_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(b64_cases); i++) {
        const struct b64case *c = &b64_cases[i];
        struct trg_buf b = {0};
        assert_int_equal(trg_buf_adds(&b, "p:"), 0); /* appends after existing data */
        assert_int_equal(trg_buf_add_base64(&b, c->in, c->len), 0);
        if (strcmp(b.data + 2, c->out) != 0)
            fail_msg("case %zu: got %s, want %s", i, b.data + 2, c->out);
        assert_int_equal(b.len, 2 + strlen(c->out));
        trg_buf_free(&b);
    }
}

static int b64val(char c)
{
    const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(tbl, c);
    return c && p ? (int)(p - tbl) : -1;
}

/* A reference decoder: every size 0..300 and a large input decode back to the input. */
static void check_b64_roundtrip(const unsigned char *in, size_t n)
{
    struct trg_buf b = {0};
    assert_int_equal(trg_buf_add_base64(&b, in, n), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, (n + 2) / 3 * 4);
    assert_int_equal(b.data[b.len], '\0');
    unsigned char *out = malloc(n + 3);
    size_t o = 0;
    for (size_t i = 0; i < b.len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = b.data[i + k] == '=' ? 0 : b64val(b.data[i + k]);
        for (int k = 0; k < 4; k++)
            assert_true(v[k] >= 0);
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (b.data[i + 2] != '=')
            out[o++] = (unsigned char)(w >> 8);
        if (b.data[i + 3] != '=')
            out[o++] = (unsigned char)w;
    }
    assert_int_equal(o, n);
    if (n)
        assert_memory_equal(out, in, n);
    free(out);
    trg_buf_free(&b);
}

static void test_base64_roundtrip(void **state)
{
    (void)state;
    enum {
        BIG = 1 << 20
    };
    unsigned char *in = malloc(BIG + 1);
    assert_non_null(in);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG + 1; i++) {
        x = x * 1103515245u + 12345u;
        in[i] = (unsigned char)(x >> 16);
    }
    for (size_t n = 0; n <= 300; n++)
        check_b64_roundtrip(in, n);
    check_b64_roundtrip(in, BIG);
    check_b64_roundtrip(in, BIG + 1);
    free(in);
}

/* Decoding: every vector above, padded and not, appended to what the buffer holds. */
static void test_base64_decode_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(b64_cases); i++) {
        const struct b64case *c = &b64_cases[i];
        size_t elen = strlen(c->out), plain = elen;
        while (plain > 0 && c->out[plain - 1] == '=')
            plain--;
        for (int pad = 0; pad < 2; pad++) {
            struct trg_buf b = {0};
            assert_int_equal(trg_buf_adds(&b, "p:"), 0);
            if (trg_base64_decode(c->out, pad ? elen : plain, &b) != 0)
                fail_msg("case %zu (%s): decoding failed", i, pad ? "padded" : "unpadded");
            assert_int_equal(b.len, 2 + c->len);
            if (c->len)
                assert_memory_equal(b.data + 2, c->in, c->len);
            assert_int_equal(b.data[b.len], '\0');
            trg_buf_free(&b);
        }
    }
}

struct b64bad {
    const char *in;
    int rc;
};

static const struct b64bad b64_bad_cases[] = {
    {"aGk=", 0},  /* "hi" */
    {"aGk", 0},   /* padding is optional */
    {"aGk==", 0}, /* extra trailing '=' are dropped */
    {"a$", TRG_EINVAL},
    {"a!==", TRG_EINVAL},
    {"a*==", TRG_EINVAL},
    {"a", TRG_EINVAL}, /* 4k+1 characters cannot be base64 */
    {"aGVsbA", 0},
    {"aGVsbAx", 0},
    {"aGVsbAxyz", TRG_EINVAL}, /* 9 = 4*2+1 */
    {"aG=k", TRG_EINVAL},      /* padding inside */
    {"aG k", TRG_EINVAL},      /* white space is refused */
    {"aGk\n", TRG_EINVAL},
    {"\xc3\xa9\x41\x41", TRG_EINVAL}, /* high bytes, then "AA" */
    {"=", 0},                         /* only padding: empty */
};

static void test_base64_decode_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(b64_bad_cases); i++) {
        const struct b64bad *c = &b64_bad_cases[i];
        struct trg_buf b = {0};
        int rc = trg_base64_decode(c->in, strlen(c->in), &b);
        if (rc != c->rc)
            fail_msg("case %zu \"%s\": got %d, want %d", i, c->in, rc, c->rc);
        trg_buf_free(&b);
    }
    /* an empty result is still a NUL-terminated string; 4k+1 leaves the buffer untouched */
    struct trg_buf b = {0};
    assert_int_equal(trg_base64_decode("", 0, &b), 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(trg_base64_decode("aGVsbG8hx", 9, &b), TRG_EINVAL);
    assert_int_equal(b.len, 0);
    /* the decoded bytes follow the encoder's */
    assert_int_equal(trg_base64_decode("aGVsbG8", 7, &b), 0);
    assert_string_equal(b.data, "hello");
    trg_buf_free(&b);
    /* allocation failure is TRG_ENOMEM */
    trg_alloc_fail_after(0);
    assert_int_equal(trg_base64_decode("aGVsbG8=", 8, &b), TRG_ENOMEM);
    trg_alloc_fail_after(-1);
    trg_buf_free(&b);
}

/* --- hex digits, UTF-8 -------------------------------------------------------------------------- */

static void test_hex_digit(void **state)
{
    (void)state;
    for (int c = -1; c < 256; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        if (trg_hex_digit(c) != want)
            fail_msg("%d: got %d, want %d", c, trg_hex_digit(c), want);
    }
    assert_int_equal(trg_hex_digit((char)0xe9), -1); /* a negative char */
}

struct u8case {
    const char *s;
    size_t n;
    size_t want;
};

static const struct u8case utf8_cases[] = {
    {"a", 1, 1},
    {"\0", 1, 1},
    {"\x7f", 1, 1},
    {"\xc3\xa9", 2, 2},         /* é */
    {"\xe2\x82\xac", 3, 3},     /* € */
    {"\xf0\x9f\x98\x80", 4, 4}, /* U+1F600 */
    {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
    {"\xc3\xa9x", 3, 2},        /* only the first sequence */
    {"\xc3", 1, 0},             /* truncated */
    {"\xe2\x82", 2, 0},
    {"\xf0\x9f\x98", 3, 0},
    {"\x80", 1, 0}, /* stray continuation */
    {"\xbf", 1, 0},
    {"\xc0\x80", 2, 0}, /* overlong */
    {"\xc1\xbf", 2, 0},
    {"\xe0\x9f\xbf", 3, 0},
    {"\xf0\x8f\xbf\xbf", 4, 0},
    {"\xed\xa0\x80", 3, 0}, /* surrogate */
    {"\xed\xbf\xbf", 3, 0},
    {"\xed\x9f\xbf", 3, 3},     /* U+D7FF */
    {"\xf4\x90\x80\x80", 4, 0}, /* beyond U+10FFFF */
    {"\xf5\x80\x80\x80", 4, 0},
    {"\xf8\x88\x80\x80", 4, 0},
    {"\xff", 1, 0},
    {"\xc3x", 2, 0}, /* not a continuation */
    {"\xe2\x82x", 3, 0},
};

static void test_utf8_seq(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(utf8_cases); i++) {
        const struct u8case *c = &utf8_cases[i];
        size_t got = trg_utf8_seq(c->s, c->n);
        if (got != c->want)
            fail_msg("case %zu: got %zu, want %zu", i, got, c->want);
    }
}

/* --- time --------------------------------------------------------------------------------------- */

struct tcase {
    int64_t ms;
    const char *out;
};

static const struct tcase time_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {999, "1970-01-01T00:00:00.999Z"}, /* milliseconds are truncated, never rounded up */
    {1001, "1970-01-01T00:00:01.001Z"},
    {1749893467563, "2025-06-14T09:31:07.563Z"},
    {951782400000, "2000-02-29T00:00:00.000Z"},
    {253402300799999, "9999-12-31T23:59:59.999Z"},
    {-1, "1969-12-31T23:59:59.999Z"}, /* negative: floor, not truncation toward zero */
    {-999, "1969-12-31T23:59:59.001Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {-1001, "1969-12-31T23:59:58.999Z"},
};

static void test_format_time(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(time_cases); i++) {
        char out[32];
        memset(out, 'Z', sizeof out);
        trg_format_time_ms(time_cases[i].ms, out);
        if (strcmp(out, time_cases[i].out) != 0)
            fail_msg("case %zu (%lld): got %s, want %s", i, (long long)time_cases[i].ms, out,
                     time_cases[i].out);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t w = trg_wall_ms();
    assert_true(w > 1600000000000LL); /* after 2020 */
    int64_t m1 = trg_mono_ms(), m2 = trg_mono_ms();
    assert_true(m2 >= m1);
    char out[32];
    trg_format_time_ms(w, out);
    assert_int_equal(strlen(out), 24);
}

/* --- ids, comparisons --------------------------------------------------------------------------- */

static void check_uuid_v4(const char *s)
{
    assert_int_equal(strlen(s), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(s[i], '-');
            continue;
        }
        assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
    }
    assert_int_equal(s[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", s[19])); /* RFC 4122 variant */
}

static void test_request_id(void **state)
{
    (void)state;
    char prev[40] = "";
    for (int i = 0; i < 200; i++) {
        char id[40];
        memset(id, 'X', sizeof id);
        trg_request_id(id);
        check_uuid_v4(id);
        assert_string_not_equal(id, prev);
        memcpy(prev, id, sizeof id);
    }
}

static uint64_t constant_random(void *arg)
{
    (void)arg;
    return 7;
}

/* The core's request ids: UUID v4 shaped and distinct, also when an injected random source repeats itself;
 * trg_request_id_from is the bits given. */
static void test_core_request_id(void **state)
{
    (void)state;
    struct trg_core core = {0};
    trg_core_init(&core, NULL, &(struct trg_core_hooks){.random = constant_random}, 1);
    char a[40], b[40];
    trg_core_request_id(&core, a);
    trg_core_request_id(&core, b);
    check_uuid_v4(a);
    check_uuid_v4(b);
    assert_string_not_equal(a, b);
    trg_request_id_from(0x0123456789abcdefULL, 0xfedcba9876543210ULL, a);
    assert_string_equal(a, "01234567-89ab-4def-bedc-ba9876543210");
    trg_core_init(&core, NULL, NULL, 1); /* the real source */
    trg_core_request_id(&core, a);
    trg_core_request_id(&core, b);
    check_uuid_v4(a);
    assert_string_not_equal(a, b);
}

struct scase {
    const char *a, *b;
    bool eq;
};

static const struct scase streq_cases[] = {
    {"token", "token", true},
    {"", "", true},
    {"token", "tokeN", false},
    {"token", "toke", false}, /* a prefix of the other */
    {"toke", "token", false},
    {"", "x", false},
    {"x", "", false},
    {"abc", "abd", false},
    {"abc\xff", "abc\xff", true},
    {NULL, "x", false},
    {"x", NULL, false},
    {NULL, NULL, false},
};

static void test_secure_streq(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(streq_cases); i++) {
        const struct scase *c = &streq_cases[i];
        if (trg_secure_streq(c->a, c->b) != c->eq)
            fail_msg("case %zu: \"%s\" vs \"%s\" should be %s", i, c->a ? c->a : "(null)",
                     c->b ? c->b : "(null)", c->eq ? "equal" : "different");
    }
}

/* --- strings, asprintf, lists ------------------------------------------------------------------- */

static void test_asprintf_strdup(void **state)
{
    (void)state;
    char *s = trg_asprintf("%s-%d-%05.1f", "a", 7, 2.5);
    assert_string_equal(s, "a-7-002.5");
    trg_free(s);
    s = trg_asprintf("%s", "");
    assert_non_null(s);
    assert_string_equal(s, "");
    trg_free(s);

    assert_null(trg_strdup(NULL));
    assert_null(trg_strndup(NULL, 3));
    s = trg_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    trg_free(s);
    s = trg_strdup("");
    assert_string_equal(s, "");
    trg_free(s);
    trg_free(NULL);

    assert_string_equal(trg_strerror(TRG_OK), "ok");
    assert_string_equal(trg_strerror(TRG_ENOMEM), "out of memory");
    assert_string_equal(trg_strerror(TRG_EINVAL), "invalid argument");
    assert_string_equal(trg_strerror(-99), "unknown error");

    struct trg_strlist l = {0};
    trg_strlist_free(&l); /* empty list: no-op */
    l.v = trg_calloc(2, sizeof *l.v);
    l.v[0] = trg_strdup("a");
    l.v[1] = trg_strdup("b");
    l.n = 2;
    trg_strlist_free(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    struct trg_kvlist kv = {0};
    kv.k = trg_calloc(1, sizeof *kv.k);
    kv.v = trg_calloc(1, sizeof *kv.v);
    kv.k[0] = trg_strdup("k");
    kv.v[0] = trg_strdup("v");
    kv.n = 1;
    trg_kvlist_free(&kv);
    assert_null(kv.k);
    assert_null(kv.v);
    assert_int_equal(kv.n, 0);
}

/* --- allocation failures ------------------------------------------------------------------------ */

static void test_alloc_fail_basic(void **state)
{
    (void)state;
    trg_alloc_fail_after(0);
    assert_null(trg_malloc(1));
    assert_null(trg_calloc(1, 1));
    assert_null(trg_realloc(NULL, 1));
    assert_null(trg_strdup("x"));
    assert_null(trg_strndup("x", 1));
    assert_null(trg_asprintf("%d", 1));

    struct trg_buf b = {0};
    assert_int_equal(trg_buf_adds(&b, "x"), TRG_ENOMEM);
    assert_int_equal(trg_buf_addc(&b, 'x'), TRG_ENOMEM);
    assert_int_equal(trg_buf_addf(&b, "%d", 1), TRG_ENOMEM);
    assert_int_equal(trg_buf_add_json_str(&b, "x", 1), TRG_ENOMEM);
    assert_int_equal(trg_buf_add_base64(&b, "x", 1), TRG_ENOMEM);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    /* the budget counts successes: two allocations pass, the third fails */
    trg_alloc_fail_after(2);
    void *p1 = trg_malloc(8), *p2 = trg_malloc(8), *p3 = trg_malloc(8);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_null(p3);
    trg_free(p1);
    trg_free(p2);
    trg_alloc_fail_after(-1);
    p1 = trg_malloc(8);
    assert_non_null(p1);
    trg_free(p1);
}

/* A failed growth leaves the old contents intact and usable. */
static void test_alloc_fail_growth(void **state)
{
    (void)state;
    struct trg_buf b = {0};
    assert_int_equal(trg_buf_adds(&b, "keep"), 0);
    size_t cap = b.cap;
    char big[1000];
    memset(big, 'z', sizeof big);
    trg_alloc_fail_after(0);
    assert_int_equal(trg_buf_add(&b, big, sizeof big), TRG_ENOMEM);
    assert_int_equal(trg_buf_addf(&b, "%.*s", (int)sizeof big, big), TRG_ENOMEM);
    assert_int_equal(trg_buf_add_base64(&b, big, sizeof big), TRG_ENOMEM);
    assert_int_equal(trg_buf_add_json_str(&b, big, sizeof big), TRG_ENOMEM);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    assert_int_equal(b.cap, cap);
    /* small additions that fit need no allocation */
    assert_int_equal(trg_buf_adds(&b, "!"), 0);
    assert_string_equal(b.data, "keep!");
    trg_alloc_fail_after(-1);
    trg_buf_free(&b);
}

/* Every budget for an escaping that needs several reallocations: never a crash; each result is either
 * ENOMEM or the complete, correct string. Leaks show under ASan/valgrind. */
static void test_alloc_fail_sweep(void **state)
{
    (void)state;
    char in[3000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (i % 7 == 0) ? '\x01' : (char)('a' + i % 26);
    struct trg_buf ref = {0};
    assert_int_equal(trg_buf_add_json_str(&ref, in, sizeof in), 0);
    int ok = 0;
    for (long budget = 0; budget < 20; budget++) {
        struct trg_buf b = {0};
        trg_alloc_fail_after(budget);
        int rc = trg_buf_add_json_str(&b, in, sizeof in);
        char *s = trg_asprintf("%s", b.data ? b.data : "");
        trg_alloc_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(b.data, ref.data);
            ok++;
        } else {
            assert_int_equal(rc, TRG_ENOMEM);
        }
        trg_free(s);
        trg_buf_free(&b);
    }
    assert_true(ok > 0);
    trg_buf_free(&ref);
}

/* Secrets out of log lines: userinfo passwords and secret-looking query values become ***. */
static void test_url_redact(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"redis://:s3cret@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"},
        {"redis://alice:s3cret@h:6379", "redis://alice:***@h:6379"},
        {"redis://alice@h", "redis://***@h"},
        {"redis://h:6379/2", "redis://h:6379/2"},
        {"redis://:p@ss@word@h/1", "redis://***@h/1"},
        {"unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"},
        {"http://u:pw@fn.local/x?a=1&token=abc&X-Amz-Signature=f00&api_key=k#frag",
         "http://u:***@fn.local/x?a=1&token=***&X-Amz-Signature=***&api_key=***#frag"},
        {"https://h/p?password=x", "https://h/p?password=***"},
        {"https://h/p@q", "https://h/p@q"}, /* an @ in the path is not userinfo */
        {"h:1?secret=2", "h:1?secret=***"},
        {"", ""},
    };
    char buf[256];

    for (size_t i = 0; i < TRG_ARRAY_SIZE(cases); i++)
        assert_string_equal(trg_url_redact(cases[i].in, buf, sizeof buf), cases[i].want);
    assert_string_equal(trg_url_redact(NULL, buf, sizeof buf), "");
    /* truncated, never overflowing, never ending inside the secret */
    char small[12];
    assert_string_equal(trg_url_redact("redis://:topsecret@host", small, sizeof small), "redis://***");
    assert_true(trg_secret_name("sasl.password"));
    assert_true(trg_secret_name("ssl.key.password"));
    assert_true(trg_secret_name("sasl.oauthbearer.client.secret"));
    assert_false(trg_secret_name("bootstrap.servers"));
    assert_false(trg_secret_name(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pool, teardown),
        cmocka_unit_test_teardown(test_event_packed, teardown),
        cmocka_unit_test_teardown(test_buf_growth, teardown),
        cmocka_unit_test_teardown(test_buf_add_variants, teardown),
        cmocka_unit_test_teardown(test_buf_addf_long, teardown),
        cmocka_unit_test_teardown(test_buf_addf_fit_and_grow, teardown),
        cmocka_unit_test_teardown(test_buf_add_int, teardown),
        cmocka_unit_test_teardown(test_json_str_table, teardown),
        cmocka_unit_test_teardown(test_json_str_roundtrip, teardown),
        cmocka_unit_test_teardown(test_base64_vectors, teardown),
        cmocka_unit_test_teardown(test_base64_roundtrip, teardown),
        cmocka_unit_test_teardown(test_base64_decode_vectors, teardown),
        cmocka_unit_test_teardown(test_base64_decode_errors, teardown),
        cmocka_unit_test_teardown(test_hex_digit, teardown),
        cmocka_unit_test_teardown(test_utf8_seq, teardown),
        cmocka_unit_test_teardown(test_format_time, teardown),
        cmocka_unit_test_teardown(test_clocks, teardown),
        cmocka_unit_test_teardown(test_request_id, teardown),
        cmocka_unit_test(test_core_request_id),
        cmocka_unit_test_teardown(test_secure_streq, teardown),
        cmocka_unit_test_teardown(test_asprintf_strdup, teardown),
        cmocka_unit_test_teardown(test_alloc_fail_basic, teardown),
        cmocka_unit_test_teardown(test_alloc_fail_growth, teardown),
        cmocka_unit_test_teardown(test_alloc_fail_sweep, teardown),
        cmocka_unit_test(test_url_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
