/* sigv4.c — verifying AWS Signature Version 4 (see sigv4.h), with OpenSSL's SHA-256 and HMAC. */
#define _DEFAULT_SOURCE
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "util.h"

#define MAX_SKEW_S 300
#define MAX_PAIRS 64

static const char hexd[] = "0123456789abcdef";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void trg_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof md, out);
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n);
}

/* Append s[0..n) URI-encoded as SigV4 wants: unreserved characters kept ('/' too when keep_slash). */
static int uri_encode(struct trg_buf *b, const char *s, size_t n, bool keep_slash)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
            rc = trg_buf_addc(b, (char)c);
        else
            rc = trg_buf_addf(b, "%%%c%c", "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]);
    }
    return rc;
}

/* Decode %XX (and '+' as a space, as query strings are read) of s[0..n) into b. */
static int uri_decode(struct trg_buf *b, const char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (s[i] == '%' && i + 2 < n && trg_hex_digit((unsigned char)s[i + 1]) >= 0 &&
            trg_hex_digit((unsigned char)s[i + 2]) >= 0) {
            rc = trg_buf_addc(b, (char)(trg_hex_digit((unsigned char)s[i + 1]) * 16 +
                                        trg_hex_digit((unsigned char)s[i + 2])));
            i += 2;
        } else {
            rc = trg_buf_addc(b, s[i] == '+' ? ' ' : s[i]);
        }
    }
    return rc;
}

struct pair {
    char *k, *v;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* The canonical query string: every parameter decoded, re-encoded, sorted. */
static int canonical_query(struct trg_buf *out, const char *query)
{
    struct pair pairs[MAX_PAIRS];
    size_t n = 0;
    int rc = 0;
    for (const char *p = query; p && *p && rc == 0;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (n == MAX_PAIRS) {
                rc = TRG_EINVAL;
                break;
            }
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            struct trg_buf k = {0}, v = {0}, ke = {0}, ve = {0};
            rc = uri_decode(&k, p, kl);
            rc |= eq ? uri_decode(&v, eq + 1, len - kl - 1) : 0;
            rc |= uri_encode(&ke, k.data ? k.data : "", k.len, false);
            rc |= uri_encode(&ve, v.data ? v.data : "", v.len, false);
            trg_buf_free(&k);
            trg_buf_free(&v);
            pairs[n].k = ke.data ? trg_buf_steal(&ke) : trg_strdup("");
            pairs[n].v = ve.data ? trg_buf_steal(&ve) : trg_strdup("");
            n++;
            if (!pairs[n - 1].k || !pairs[n - 1].v)
                rc = TRG_ENOMEM;
        }
        p = end ? end + 1 : NULL;
    }
    if (rc == 0)
        qsort(pairs, n, sizeof pairs[0], pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = trg_buf_addf(out, "%s%s=%s", i ? "&" : "", pairs[i].k, pairs[i].v);
        trg_free(pairs[i].k);
        trg_free(pairs[i].v);
    }
    return rc;
}

/* Append a header's value as SigV4 canonicalizes it: trimmed, inner runs of spaces as one. */
static int add_trimmed(struct trg_buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool sp = v[i] == ' ' || v[i] == '\t';
        if (sp && i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t'))
            continue;
        rc = trg_buf_addc(b, sp ? ' ' : v[i]);
    }
    return rc;
}

/* Find "key=" in the Authorization header's comma-separated list; its value in v and n. */
static bool auth_field(const char *auth, const char *key, const char **v, size_t *n)
{
    size_t kl = strlen(key);
    for (const char *p = auth; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            *v = p + kl + 1;
            *n = len - kl - 1;
            while (*n > 0 && (*v)[*n - 1] == ' ')
                (*n)--;
            return true;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* "20261203T041500Z" as epoch seconds; -1 when malformed. */
static int64_t parse_amz_date(const char *s)
{
    struct tm tm = {0};
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || *end)
        return -1;
    return (int64_t)timegm(&tm);
}

#define FAIL(code, msg)                                                                                      \
    do {                                                                                                     \
        res = (code);                                                                                        \
        *why = (msg);                                                                                        \
        goto out;                                                                                            \
    } while (0)

enum trg_sigv4_result trg_sigv4_verify(const struct trg_sigv4_req *req, const struct trg_credential *creds,
                                       size_t n, int64_t now_s, const char **why)
{
    const char *unused;
    if (!why)
        why = &unused;
    *why = NULL;
    enum trg_sigv4_result res = TRG_SIGV4_OK;
    struct trg_buf canon = {0}, sts = {0}, key = {0};
    char *scope = NULL, *signed_headers = NULL;
    const char *auth = req->header(req->arg, "Authorization");
    static const char algo[] = "AWS4-HMAC-SHA256";
    if (!auth || strncmp(auth, algo, sizeof algo - 1) != 0 || auth[sizeof algo - 1] != ' ')
        FAIL(TRG_SIGV4_MISSING, "no AWS4-HMAC-SHA256 Authorization header");
    const char *cred, *sh, *sig;
    size_t cred_n, sh_n, sig_n;
    const char *fields = auth + sizeof algo;
    if (!auth_field(fields, "Credential", &cred, &cred_n) ||
        !auth_field(fields, "SignedHeaders", &sh, &sh_n) || !auth_field(fields, "Signature", &sig, &sig_n) ||
        sig_n != 64)
        FAIL(TRG_SIGV4_MALFORMED, "the Authorization header lacks Credential, SignedHeaders or Signature");
    /* Credential=AKID/DATE/REGION/SERVICE/aws4_request */
    const char *slash = memchr(cred, '/', cred_n);
    if (!slash)
        FAIL(TRG_SIGV4_MALFORMED, "the Credential has no scope");
    size_t akid_n = (size_t)(slash - cred);
    const struct trg_credential *c = NULL;
    for (size_t i = 0; i < n; i++)
        if (strlen(creds[i].access_key_id) == akid_n && memcmp(creds[i].access_key_id, cred, akid_n) == 0)
            c = &creds[i];
    if (!c || !c->secret_key)
        FAIL(TRG_SIGV4_UNKNOWN_KEY, "unknown access key id");
    if (!(scope = trg_strndup(slash + 1, cred_n - akid_n - 1)) || !(signed_headers = trg_strndup(sh, sh_n)))
        FAIL(TRG_SIGV4_NOMEM, "out of memory");
    char *parts[4] = {0}, *save = NULL;
    char *scope_copy = trg_strdup(scope);
    if (!scope_copy)
        FAIL(TRG_SIGV4_NOMEM, "out of memory");
    size_t np = 0;
    for (char *t = strtok_r(scope_copy, "/", &save); t && np < 4; t = strtok_r(NULL, "/", &save))
        parts[np++] = t;
    bool scope_ok = np == 4 && strlen(parts[0]) == 8 && strcmp(parts[2], "lambda") == 0 &&
                    strcmp(parts[3], "aws4_request") == 0 && !strtok_r(NULL, "/", &save);
    char date[9] = {0}, region[64] = {0};
    if (scope_ok) {
        memcpy(date, parts[0], 8);
        snprintf(region, sizeof region, "%s", parts[1]);
    }
    trg_free(scope_copy);
    const char *amz_date = req->header(req->arg, "X-Amz-Date");
    int64_t t = parse_amz_date(amz_date);
    if (t < 0)
        FAIL(TRG_SIGV4_MALFORMED, "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ");
    if (!scope_ok || strncmp(amz_date, date, 8) != 0)
        FAIL(TRG_SIGV4_BAD_SCOPE,
             "the credential scope is not DATE/REGION/lambda/aws4_request of X-Amz-Date");
    if (t > now_s + MAX_SKEW_S || t < now_s - MAX_SKEW_S)
        FAIL(TRG_SIGV4_EXPIRED,
             "Signature expired: X-Amz-Date is more than 5 minutes from the server's clock");
    /* the canonical request */
    char body_hash[65];
    trg_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, body_hash);
    const char *content_sha = req->header(req->arg, "X-Amz-Content-Sha256");
    if (content_sha && strcmp(content_sha, "UNSIGNED-PAYLOAD") != 0 &&
        strcasecmp(content_sha, body_hash) != 0)
        FAIL(TRG_SIGV4_MISMATCH, "X-Amz-Content-Sha256 does not match the body");
    int rc = trg_buf_adds(&canon, req->method);
    rc |= trg_buf_addc(&canon, '\n');
    rc |= uri_encode(&canon, req->raw_path, strlen(req->raw_path), true);
    rc |= trg_buf_addc(&canon, '\n');
    if (canonical_query(&canon, req->query) != 0)
        FAIL(TRG_SIGV4_MALFORMED, "the query string cannot be canonicalized");
    rc |= trg_buf_addc(&canon, '\n');
    bool has_host = false;
    for (char *p = signed_headers; *p && rc == 0;) {
        char *end = strchr(p, ';');
        if (end)
            *end = '\0';
        const char *v = req->header(req->arg, p);
        if (!v)
            FAIL(TRG_SIGV4_MISMATCH, "a signed header is missing");
        if (strcmp(p, "host") == 0)
            has_host = true;
        for (const char *q = p; *q; q++)
            rc |= trg_buf_addc(&canon, (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q));
        rc |= trg_buf_addc(&canon, ':');
        rc |= add_trimmed(&canon, v);
        rc |= trg_buf_addc(&canon, '\n');
        if (!end)
            break;
        *end = ';';
        p = end + 1;
    }
    if (!has_host)
        FAIL(TRG_SIGV4_MALFORMED, "SignedHeaders must include host");
    rc |= trg_buf_addf(&canon, "\n%s\n%s", signed_headers, content_sha ? content_sha : body_hash);
    if (rc != 0)
        FAIL(TRG_SIGV4_NOMEM, "out of memory");
    char canon_hash[65];
    trg_sha256_hex(canon.data, canon.len, canon_hash);
    if (trg_buf_addf(&sts, "%s\n%s\n%s\n%s", algo, amz_date, scope, canon_hash) != 0 ||
        trg_buf_addf(&key, "AWS4%s", c->secret_key) != 0)
        FAIL(TRG_SIGV4_NOMEM, "out of memory");
    unsigned char k[32];
    hmac(key.data, key.len, date, 8, k);
    hmac(k, 32, region, strlen(region), k);
    hmac(k, 32, "lambda", 6, k);
    hmac(k, 32, "aws4_request", 12, k);
    unsigned char mac[32];
    hmac(k, 32, sts.data, sts.len, mac);
    OPENSSL_cleanse(k, sizeof k);
    char expect[65];
    to_hex(mac, sizeof mac, expect);
    /* exactly as signed (lowercase hex): "ABCD..." for "abcd..." would be a second valid signature */
    if (CRYPTO_memcmp(expect, sig, 64) != 0)
        FAIL(TRG_SIGV4_MISMATCH, "the signature does not match");
out:
    if (key.data)
        OPENSSL_cleanse(key.data, key.len);
    trg_buf_free(&key);
    trg_buf_free(&canon);
    trg_buf_free(&sts);
    trg_free(scope);
    trg_free(signed_headers);
    return res;
}
