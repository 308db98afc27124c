/* util.c — allocation wrappers, buffers, clocks, small encoders. */
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "retry.h"

static long alloc_budget = -1;

void trg_alloc_fail_after(long n) { alloc_budget = n; }

static bool alloc_allowed(void)
{
    if (alloc_budget < 0)
        return true;
    if (alloc_budget == 0)
        return false;
    alloc_budget--;
    return true;
}

void *trg_malloc(size_t n) { return alloc_allowed() ? malloc(n ? n : 1) : NULL; }

void *trg_calloc(size_t nmemb, size_t size)
{
    return alloc_allowed() ? calloc(nmemb ? nmemb : 1, size ? size : 1) : NULL;
}

void *trg_realloc(void *p, size_t n) { return alloc_allowed() ? realloc(p, n ? n : 1) : NULL; }

void trg_free(void *p) { free(p); }

#if defined(__SANITIZE_ADDRESS__)
#define POOL_KEEPS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_KEEPS 0
#endif
#endif
#ifndef POOL_KEEPS
#define POOL_KEEPS 1
#endif

void *trg_pool_get(struct trg_pool *p)
{
    void *obj = p->free;
    if (!obj)
        return trg_calloc(1, p->size);
    memcpy(&p->free, obj, sizeof p->free);
    p->n--;
    memset(obj, 0, p->size);
    return obj;
}

void trg_pool_put(struct trg_pool *p, void *obj)
{
    if (!obj)
        return;
    if (!POOL_KEEPS || p->n >= p->keep) {
        trg_free(obj);
        return;
    }
    memcpy(obj, &p->free, sizeof p->free);
    p->free = obj;
    p->n++;
}

void trg_pool_clear(struct trg_pool *p)
{
    while (p->free) {
        void *obj = p->free;
        memcpy(&p->free, obj, sizeof p->free);
        trg_free(obj);
    }
    p->n = 0;
}

char *trg_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = trg_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *trg_strdup(const char *s) { return s ? trg_strndup(s, strlen(s)) : NULL; }

char *trg_asprintf(const char *fmt, ...)
{
    struct trg_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = trg_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        trg_buf_free(&b);
        return NULL;
    }
    if (!b.data)
        return trg_strdup("");
    return trg_buf_steal(&b);
}

static void *json_malloc(size_t n) { return trg_malloc(n); }

void trg_json_init_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = trg_free};
    cJSON_InitHooks(&hooks);
}

struct cJSON *trg_json_parse(const char *s, size_t len, const char **error_at)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root && end) {
        const char *p = end;
        while (p < s + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p < s + len && *p != '\0') {
            cJSON_Delete(root);
            root = NULL;
            end = p;
        }
    }
    if (!root && error_at)
        *error_at = end ? end : s;
    return root;
}

struct cJSON *trg_json_parse_field(const char *s, size_t len, const char *field)
{
    cJSON *doc = trg_json_parse(s, len, NULL);
    cJSON *value = cJSON_GetObjectItemCaseSensitive(doc, field);
    if (!cJSON_IsString(value) || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "isBase64Encoded")))
        return doc;
    cJSON *parsed = trg_json_parse(value->valuestring, strlen(value->valuestring), NULL);
    if (parsed && !cJSON_ReplaceItemInObjectCaseSensitive(doc, field, parsed))
        cJSON_Delete(parsed);
    return doc;
}

const char *trg_strerror(int err)
{
    switch (err) {
    case TRG_OK: return "ok";
    case TRG_ENOMEM: return "out of memory";
    case TRG_EINVAL: return "invalid argument";
    case TRG_EIO: return "I/O error";
    case TRG_EFULL: return "queue full";
    case TRG_ENOTFOUND: return "not found";
    case TRG_ESTATE: return "not possible in the current state";
    }
    return "unknown error";
}

/* --- buffers --- */

static int buf_reserve(struct trg_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return TRG_ENOMEM;
        cap *= 2;
    }
    char *d = trg_realloc(b->data, cap);
    if (!d)
        return TRG_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int trg_buf_vaddf(struct trg_buf *b, const char *fmt, va_list ap)
{
    /* print into the spare room first: a second pass only when it did not fit */
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return TRG_ENOMEM;
    if ((size_t)n >= room) {
        if (buf_reserve(b, (size_t)n) != 0) {
            if (b->data)
                b->data[b->len] = '\0';
            return TRG_ENOMEM;
        }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
    return 0;
}

int trg_buf_add_int(struct trg_buf *b, int64_t v)
{
    /* two digits a step (a Kafka record's JSON has four 1- to 13-digit numbers: perf showed this) */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    return trg_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

int trg_buf_reserve(struct trg_buf *b, size_t extra) { return buf_reserve(b, extra); }

int trg_buf_addf(struct trg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = trg_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int trg_buf_add_json_str(struct trg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2) != 0)
        return TRG_ENOMEM;
    if (trg_buf_addc(b, '"') != 0)
        return TRG_ENOMEM;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
                u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = '\0';
                esc = u;
            }
        }
        if (!esc)
            continue;
        if (trg_buf_add(b, s + start, i - start) != 0 || trg_buf_adds(b, esc) != 0)
            return TRG_ENOMEM;
        start = i + 1;
    }
    if (trg_buf_add(b, s + start, n - start) != 0 || trg_buf_addc(b, '"') != 0)
        return TRG_ENOMEM;
    return 0;
}

int trg_buf_add_base64(struct trg_buf *b, const void *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    if (buf_reserve(b, (n + 2) / 3 * 4) != 0)
        return TRG_ENOMEM;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        *o++ = tbl[s[i] >> 2];
        *o++ = tbl[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *o++ = tbl[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *o++ = tbl[s[i + 2] & 63];
    }
    if (i < n) {
        *o++ = tbl[s[i] >> 2];
        if (i + 1 < n) {
            *o++ = tbl[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *o++ = tbl[(s[i + 1] & 15) << 2];
        } else {
            *o++ = tbl[(s[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int trg_base64_decode(const char *s, size_t len, struct trg_buf *out)
{
    uint32_t acc = 0;
    int bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return TRG_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value((unsigned char)s[i]);
        if (v < 0)
            return TRG_EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (trg_buf_addc(out, (char)((acc >> bits) & 0xff)) != 0)
                return TRG_ENOMEM;
        }
    }
    /* an empty result still leaves a NUL-terminated buffer */
    return trg_buf_add(out, "", 0);
}

void trg_buf_reset(struct trg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void trg_buf_free(struct trg_buf *b)
{
    trg_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *trg_buf_steal(struct trg_buf *b)
{
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* --- time, ids, comparisons --- */

int64_t trg_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t trg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void trg_format_time_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", milli);
}

void trg_random_bytes(void *p, size_t n)
{
    unsigned char *out = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, GRND_NONBLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return;
    static uint64_t fallback; /* getrandom unavailable (before the pool is ready, or seccomp) */
    if (!fallback)
        fallback = ((uint64_t)trg_wall_ms() << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
    for (; got < n; got++)
        out[got] = (unsigned char)(trg_rand_xorshift(&fallback) >> 56);
}

void trg_request_id_from(uint64_t hi, uint64_t lo, char out[40])
{
    unsigned char r[16];
    for (int i = 0; i < 8; i++) {
        r[i] = (unsigned char)(hi >> (56 - 8 * i));
        r[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

void trg_request_id(char out[40])
{
    uint64_t r[2];
    trg_random_bytes(r, sizeof r);
    trg_request_id_from(r[0], r[1], out);
}

int trg_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t trg_utf8_seq(const void *p, size_t n)
{
    const unsigned char *s = p;
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool trg_secure_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return diff == 0;
}

void trg_strlist_free(struct trg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        trg_free(l->v[i]);
    trg_free(l->v);
    l->v = NULL;
    l->n = 0;
}

void trg_kvlist_free(struct trg_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        trg_free(l->k[i]);
        trg_free(l->v[i]);
    }
    trg_free(l->k);
    trg_free(l->v);
    l->k = l->v = NULL;
    l->n = 0;
}

/* ---- secrets out of log lines ------------------------------------------------------------------ */

struct redact_out {
    char *buf;
    size_t len, at;
};

static void redact_put(struct redact_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->at + 1 < o->len; i++)
        o->buf[o->at++] = s[i];
    o->buf[o->at] = '\0';
}

static bool redact_param(const char *name, size_t n)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "key", "sig", "credential",
                                        "auth"};
    for (size_t w = 0; w < TRG_ARRAY_SIZE(words); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= n; i++)
            if (strncasecmp(name + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

bool trg_secret_name(const char *name) { return name && redact_param(name, strlen(name)); }

const char *trg_url_redact(const char *url, char *buf, size_t len)
{
    struct redact_out o = {buf, len, 0};
    const char *p, *auth_end, *at, *colon, *q;

    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!url)
        return buf;
    p = strstr(url, "://");
    p = p ? p + 3 : url;
    redact_put(&o, url, (size_t)(p - url));
    auth_end = p + strcspn(p, "/?#");
    at = NULL;
    for (const char *c = p; c < auth_end; c++)
        if (*c == '@')
            at = c;
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (colon && colon > p)
            redact_put(&o, p, (size_t)(colon - p) + 1);
        redact_put(&o, "***", 3);
        p = at;
    }
    q = strchr(p, '?');
    if (!q) {
        redact_put(&o, p, strlen(p));
        return buf;
    }
    redact_put(&o, p, (size_t)(q - p) + 1);
    p = q + 1;
    while (*p && *p != '#') {
        size_t plen = strcspn(p, "&#");
        const char *eq = memchr(p, '=', plen);
        if (eq && redact_param(p, (size_t)(eq - p))) {
            redact_put(&o, p, (size_t)(eq - p) + 1);
            redact_put(&o, "***", 3);
        } else {
            redact_put(&o, p, plen);
        }
        p += plen;
        if (*p == '&') {
            redact_put(&o, "&", 1);
            p++;
        }
    }
    redact_put(&o, p, strlen(p));
    return buf;
}

/* ---- JSON that cJSON accepts and JSON does not ------------------------------------------------ */

/* One number token at s[0..n) as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number_strict(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return false;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

bool trg_json_strict(const char *s, size_t n, bool ctrl_in_strings)
{
    bool in_str = false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = trg_utf8_seq(s + i, n - i);
            if (k == 0)
                return false;
            i += k;
            continue;
        }
        if (c == 0)
            return false;
        if (in_str) {
            if (c < 0x20 && !ctrl_in_strings)
                return false;
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            i++;
            continue;
        }
        if (c == '"') {
            in_str = true;
            i++;
            continue;
        }
        if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return false; /* a NUL (cJSON stops there) or another control byte outside strings */
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && strchr("0123456789+-.eE", s[j]) && s[j])
                j++;
            if (!json_number_strict(s + i, j - i))
                return false;
            i = j;
            continue;
        }
        i++;
    }
    return true;
}

