/* fuzz_sigv4.c — libFuzzer entry for SigV4 `Authorization` verification (src/sigv4.c).
 *
 * Input: lines, "\n"-separated (missing ones are empty):
 *   0 control bytes: [0] which key signs (even: AKIDFUZZ, odd: AKIDOTHER), [1] the clock offset of
 *     X-Amz-Date (0..255 s, low bit picks before/after now), [2] the XOR mask of the flips (0 -> 0x01),
 *     [3] odd: X-Amz-Content-Sha256 is the body's hash, 'U': UNSIGNED-PAYLOAD, else absent
 *   1 method   2 raw path   3 query   4 region   5 Host   6 a raw Authorization header
 *   7 a raw X-Amz-Date     8.. the body (the rest, newlines included)
 * Each field is its own exact-size allocation, so reading past one is caught by ASan.
 *
 * Checked:
 *   1. the raw request (fields 6 and 7 as sent) verifies to a known result, with *why set unless OK;
 *   2. the request signed with the right key by an independent signer here (written from the SigV4
 *      spec, not from sigv4.c) verifies OK;
 *   3. flipping any one byte of the signature, of X-Amz-Date, or of the Credential makes it fail, as do
 *      signing with the wrong secret and (payload signed) flipping a byte of the body.
 */
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "sigv4.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1796271300LL /* 2026-12-03T04:15:00Z */

static char akid1[] = "AKIDFUZZ", secret1[] = "fuzz/secret+KEY", akid2[] = "AKIDOTHER",
            secret2[] = "other-secret";
static const struct trg_credential creds[] = {{akid1, secret1}, {akid2, secret2}};

struct hdrs {
    const char *auth, *date, *sha, *host;
};

static const char *header(void *arg, const char *name)
{
    const struct hdrs *h = arg;
    if (!strcasecmp(name, "Authorization"))
        return h->auth;
    if (!strcasecmp(name, "X-Amz-Date"))
        return h->date;
    if (!strcasecmp(name, "X-Amz-Content-Sha256"))
        return h->sha;
    if (!strcasecmp(name, "Host"))
        return h->host;
    return NULL;
}

/* An exact-size copy of data[0..n) with a terminating NUL, or abort. */
static char *field(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Keep only bytes for which keep() holds (the independent signer below is for well-formed parts). */
static void filter(char *s, int (*keep)(int))
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (keep((unsigned char)*r))
            *w++ = *r;
    *w = '\0';
}

static int path_char(int c) { return c > 0x20 && c < 0x7f && c != '?' && c != '#'; }
static int query_char(int c) { return c > 0x20 && c < 0x7f && c != '#'; }
static int region_char(int c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
static int host_char(int c) { return c >= 0x20 && c < 0x7f; }
static int method_char(int c) { return c >= 'A' && c <= 'Z'; }

/* ---- the independent signer: AWS SigV4 as documented ---- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    SHA256(p, n, md);
    hex(md, 32, out);
}

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void enc(struct trg_buf *b, const char *s, size_t n, int slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (slash && c == '/')) {
            if (trg_buf_addc(b, (char)c) != 0)
                abort();
        } else if (trg_buf_addf(b, "%%%02X", c) != 0)
            abort();
    }
}

static int xval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
}

/* Query component s[0..n): %-decoded ('+' is a space), then encoded. */
static char *recode(const char *s, size_t n)
{
    struct trg_buf d = {0}, e = {0};
    for (size_t i = 0; i < n; i++) {
        char c = s[i] == '+' ? ' ' : s[i];
        if (s[i] == '%' && i + 2 < n && xval(s[i + 1]) >= 0 && xval(s[i + 2]) >= 0) {
            c = (char)(xval(s[i + 1]) * 16 + xval(s[i + 2]));
            i += 2;
        }
        if (trg_buf_addc(&d, c) != 0)
            abort();
    }
    enc(&e, d.data ? d.data : "", d.len, 0);
    trg_buf_free(&d);
    if (trg_buf_addc(&e, '\0') != 0)
        abort();
    return trg_buf_steal(&e);
}

struct kv {
    char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* The canonical query, or -1 with more than 64 parameters (sigv4.c refuses those: MALFORMED). */
static int canon_query(struct trg_buf *b, const char *q)
{
    struct kv kv[65];
    size_t n = 0;
    for (const char *p = q; *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len && n == 64) {
            for (size_t i = 0; i < n; i++)
                free(kv[i].k), free(kv[i].v);
            return -1;
        }
        if (len) {
            const char *eq = memchr(p, '=', len);
            kv[n].k = recode(p, eq ? (size_t)(eq - p) : len);
            kv[n].v = eq ? recode(eq + 1, len - (size_t)(eq - p) - 1) : recode("", 0);
            n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    qsort(kv, n, sizeof kv[0], kv_cmp);
    for (size_t i = 0; i < n; i++) {
        if (trg_buf_addf(b, "%s%s=%s", i ? "&" : "", kv[i].k, kv[i].v) != 0)
            abort();
        free(kv[i].k), free(kv[i].v);
    }
    return 0;
}

/* Host's value as canonicalized: trimmed, inner runs of blanks as one space. */
static void canon_value(struct trg_buf *b, const char *v)
{
    size_t n = strlen(v), i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    while (n > i && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    for (int blank = 0; i < n; i++) {
        int sp = v[i] == ' ' || v[i] == '\t';
        if (!(sp && blank) && trg_buf_addc(b, sp ? ' ' : v[i]) != 0)
            abort();
        blank = sp;
    }
}

static void mac(const void *k, size_t kn, const char *m, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), k, (int)kn, (const unsigned char *)m, strlen(m), out, &n);
}

/* The Authorization header for req signed with akid/secret, or NULL when sigv4.c must refuse it anyway. */
static char *sign(const struct trg_sigv4_req *req, const struct hdrs *h, const char *region, const char *akid,
                  const char *secret)
{
    struct trg_buf c = {0};
    char body_hash[65], canon_hash[65], date[9];
    const char *signed_headers = h->sha ? "host;x-amz-content-sha256;x-amz-date" : "host;x-amz-date";
    sha_hex(req->body, req->body_len, body_hash);
    if (trg_buf_addf(&c, "%s\n", req->method) != 0)
        abort();
    enc(&c, req->raw_path, strlen(req->raw_path), 1);
    if (trg_buf_addc(&c, '\n') != 0)
        abort();
    if (canon_query(&c, req->query) != 0) {
        trg_buf_free(&c);
        return NULL;
    }
    if (trg_buf_adds(&c, "\nhost:") != 0)
        abort();
    canon_value(&c, h->host);
    if ((h->sha && trg_buf_addf(&c, "\nx-amz-content-sha256:%s", h->sha) != 0) ||
        trg_buf_addf(&c, "\nx-amz-date:%s\n\n%s\n%s", h->date, signed_headers, h->sha ? h->sha : body_hash) !=
            0)
        abort();
    sha_hex(c.data, c.len, canon_hash);
    trg_buf_free(&c);
    memcpy(date, h->date, 8);
    date[8] = '\0';
    char *scope = trg_asprintf("%s/%s/lambda/aws4_request", date, region);
    char *sts = trg_asprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", h->date, scope, canon_hash);
    char *k0 = trg_asprintf("AWS4%s", secret);
    if (!scope || !sts || !k0)
        abort();
    unsigned char k[32], sig[32];
    char sig_hex[65];
    mac(k0, strlen(k0), date, k);
    mac(k, 32, region, k);
    mac(k, 32, "lambda", k);
    mac(k, 32, "aws4_request", k);
    mac(k, 32, sts, sig);
    hex(sig, 32, sig_hex);
    char *auth = trg_asprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", akid,
                              scope, signed_headers, sig_hex);
    if (!auth)
        abort();
    free(scope), free(sts), free(k0);
    return auth;
}

static enum trg_sigv4_result check(const struct trg_sigv4_req *req)
{
    const char *why = "unset";
    enum trg_sigv4_result r = trg_sigv4_verify(req, creds, 2, NOW, &why);
    if (r > TRG_SIGV4_NOMEM || (r == TRG_SIGV4_OK) != (why == NULL))
        abort();
    return r;
}

/* Flip each byte of s[from..to) in turn (XOR mask): verification must fail every time. */
static void flips(struct trg_sigv4_req *req, char *s, size_t from, size_t to, unsigned char mask,
                  const char *what)
{
    for (size_t i = from; i < to; i++) {
        char was = s[i];
        s[i] = (char)(s[i] ^ mask);
        if (s[i] != '\0' && check(req) == TRG_SIGV4_OK) {
            fprintf(stderr, "fuzz_sigv4: flipping byte %zu of the %s (%s) still verifies\n", i, what, s);
            abort();
        }
        s[i] = was;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[8];
    size_t off = 0, len0 = 0;
    for (int i = 0; i < 8; i++) {
        const uint8_t *nl = off < size ? memchr(data + off, '\n', size - off) : NULL;
        size_t n = nl ? (size_t)(nl - (data + off)) : size - (off < size ? off : size);
        f[i] = field(off < size ? data + off : data, off < size ? n : 0);
        if (i == 0)
            len0 = off < size ? n : 0;
        off = nl ? off + n + 1 : size;
    }
    size_t body_len = size - off;
    char *body = field(data + off, body_len);
    unsigned char ctl[4] = {0};
    memcpy(ctl, f[0], len0 < 4 ? len0 : 4);

    /* 1. the request as sent */
    struct hdrs h = {.auth = f[6], .date = f[7], .sha = NULL, .host = f[5]};
    struct trg_sigv4_req req = {.method = f[1],
                                .raw_path = f[2],
                                .query = f[3],
                                .body = body,
                                .body_len = body_len,
                                .header = header,
                                .arg = &h};
    check(&req);
    h.auth = NULL;
    if (check(&req) != TRG_SIGV4_MISSING)
        abort();

    /* 2. signed here, with well-formed parts */
    filter(f[1], method_char);
    filter(f[2], path_char);
    filter(f[3], query_char);
    filter(f[4], region_char);
    filter(f[5], host_char);
    if (!f[1][0] || !f[4][0] || strlen(f[4]) > 40)
        goto out;
    char date[17], body_hash[65];
    time_t t = (time_t)(NOW + (ctl[1] & 1 ? 1 : -1) * (ctl[1] >> 1));
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    sha_hex(body, body_len, body_hash);
    h.date = date;
    h.sha = ctl[3] == 'U' ? "UNSIGNED-PAYLOAD" : ctl[3] & 1 ? body_hash : NULL;
    const char *akid = ctl[0] & 1 ? akid2 : akid1, *secret = ctl[0] & 1 ? secret2 : secret1;
    char *auth = sign(&req, &h, f[4], akid, secret);
    if (!auth) /* more than 64 query parameters: refused whatever the signature */
        goto out;
    h.auth = auth;
    enum trg_sigv4_result r = check(&req);
    if (r != TRG_SIGV4_OK) {
        fprintf(stderr, "fuzz_sigv4: a correctly signed request is refused (%d): %s %s?%s host=%s\n%s\n",
                (int)r, req.method, req.raw_path, req.query, h.host, auth);
        abort();
    }

    /* 3. any flip fails */
    unsigned char mask = ctl[2] ? ctl[2] : 1;
    char *sig = strstr(auth, "Signature=") + 10;
    flips(&req, auth, (size_t)(sig - auth), (size_t)(sig - auth) + 64, mask, "signature");
    char *cred = strstr(auth, "Credential=") + 11;
    flips(&req, auth, (size_t)(cred - auth), (size_t)(strchr(cred, ',') - auth), mask, "credential");
    flips(&req, date, 0, 16, mask, "X-Amz-Date");
    if (h.sha != NULL && strcmp(h.sha, "UNSIGNED-PAYLOAD") != 0)
        flips(&req, body, 0, body_len < 64 ? body_len : 64, mask, "body");
    free(auth);
    if (!(auth = sign(&req, &h, f[4], akid, ctl[0] & 1 ? secret1 : secret2)))
        abort();
    h.auth = auth;
    if (check(&req) == TRG_SIGV4_OK)
        abort(); /* the other key's secret */
    free(auth);
out:
    for (int i = 0; i < 8; i++)
        free(f[i]);
    free(body);
    return 0;
}
