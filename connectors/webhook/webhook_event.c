/* webhook_event.c — build the payload-2.0 request event AWS sends for HTTP APIs and Function URLs. */
#include "webhook_event.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Name -> joined values, in first-arrival order. */
struct kv_join {
    char **names;
    struct trg_buf *values;
    size_t n;
    bool lower; /* lowercase the names (headers) */
    const struct trg_strlist *redact; /* names left out, compared case-insensitively; may be NULL */
    int err;
};

static bool redacted(const struct trg_strlist *redact, const char *name)
{
    for (size_t i = 0; redact && i < redact->n; i++)
        if (!strcasecmp(redact->v[i], name))
            return true;
    return false;
}

static void kv_join_free(struct kv_join *j)
{
    for (size_t i = 0; i < j->n; i++) {
        trg_free(j->names[i]);
        trg_buf_free(&j->values[i]);
    }
    trg_free(j->names);
    trg_free(j->values);
}

static void kv_join_add(void *arg, const char *name, const char *value)
{
    struct kv_join *j = arg;
    char **names;
    struct trg_buf *values;
    char *key;
    size_t i;

    if (j->err || redacted(j->redact, name))
        return;
    key = trg_strdup(name);
    if (!key)
        goto fail;
    if (j->lower)
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    for (i = 0; i < j->n; i++) {
        if (!strcmp(j->names[i], key)) {
            trg_free(key);
            if (trg_buf_addc(&j->values[i], ',') < 0 || trg_buf_adds(&j->values[i], value) < 0)
                goto fail;
            return;
        }
    }
    names = trg_realloc(j->names, (j->n + 1) * sizeof *names);
    if (!names)
        goto fail_key;
    j->names = names;
    values = trg_realloc(j->values, (j->n + 1) * sizeof *values);
    if (!values)
        goto fail_key;
    j->values = values;
    j->names[j->n] = key;
    j->values[j->n] = (struct trg_buf){0};
    j->n++;
    if (trg_buf_adds(&j->values[j->n - 1], value) < 0 || !j->values[j->n - 1].data)
        goto fail;
    return;
fail_key:
    trg_free(key);
fail:
    j->err = TRG_ENOMEM;
}

/* Cookies: every Cookie header, split on "; ". */
struct cookies {
    struct trg_buf json; /* "a=1","b=2" */
    size_t n;
    const struct trg_strlist *redact; /* "Cookie" on it: no cookies */
    int err;
};

static void cookie_collect(void *arg, const char *name, const char *value)
{
    struct cookies *c = arg;
    const char *p = value, *sep;

    if (c->err || strcasecmp(name, "cookie") || redacted(c->redact, name))
        return;
    while (*p) {
        sep = strstr(p, "; ");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        if (len > 0) {
            if ((c->n++ && trg_buf_addc(&c->json, ',') < 0) || trg_buf_add_json_str(&c->json, p, len) < 0) {
                c->err = TRG_ENOMEM;
                return;
            }
        }
        p = sep ? sep + 2 : p + len;
    }
}

/* Well-formed UTF-8 without NUL bytes. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = s[i] ? trg_utf8_seq(s + i, len - i) : 0;

        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static bool content_type_is_text(const char *ct)
{
    char t[128];
    size_t n = 0;

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    for (; ct[n] && ct[n] != ';' && n < sizeof t - 1; n++)
        t[n] = (char)tolower((unsigned char)ct[n]);
    t[n] = '\0';
    return !strncmp(t, "text/", 5) || strstr(t, "json") || strstr(t, "xml") || strstr(t, "javascript") ||
           strstr(t, "form") || strstr(t, "yaml") || strstr(t, "csv");
}

bool trg_webhook_body_is_text(const char *content_type, const char *body, size_t len)
{
    return content_type_is_text(content_type) && utf8_valid((const unsigned char *)body, len);
}

/* "14/Jun/2025:09:31:07 +0000" */
static void format_clf_time(int64_t ms, char out[32])
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 32, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ,"key":"value" (the JSON string of a C string) */
static int add_field(struct trg_buf *b, const char *key, const char *value, bool comma)
{
    int err = 0;

    if (comma)
        err = trg_buf_addc(b, ',');
    err = err ? err : trg_buf_add_json_str(b, key, strlen(key));
    err = err ? err : trg_buf_addc(b, ':');
    return err ? err : trg_buf_add_json_str(b, value ? value : "", value ? strlen(value) : 0);
}

static int add_object(struct trg_buf *b, const char *key, const struct kv_join *j)
{
    int err = trg_buf_addf(b, ",\"%s\":{", key);

    for (size_t i = 0; i < j->n && !err; i++)
        err = add_field(b, j->names[i], j->values[i].data, i > 0);
    return err ? err : trg_buf_addc(b, '}');
}

/* domainPrefix: the first label of the host name; the whole host for addresses. */
static int add_domain(struct trg_buf *b, const char *host)
{
    const char *dot = host ? strchr(host, '.') : NULL;
    bool address = host && (isdigit((unsigned char)host[0]) || host[0] == '[');
    int err = add_field(b, "domainName", host, true);

    err = err ? err : trg_buf_adds(b, ",\"domainPrefix\":");
    if (!dot || address)
        return err ? err : trg_buf_add_json_str(b, host ? host : "", host ? strlen(host) : 0);
    return err ? err : trg_buf_add_json_str(b, host, (size_t)(dot - host));
}

int trg_webhook_event_build(const struct trg_http_req *req, const char *request_id, int64_t now_ms,
                            const struct trg_strlist *redact, struct trg_buf *out)
{
    struct kv_join headers = {.lower = true, .redact = redact}, query = {0};
    struct cookies cookies = {.redact = redact};
    const char *body, *ct, *ua;
    size_t body_len;
    bool text;
    char when[32];
    int err;

    trg_http_req_each_header(req, kv_join_add, &headers);
    trg_http_req_each_query(req, kv_join_add, &query);
    trg_http_req_each_header(req, cookie_collect, &cookies);
    err = headers.err ? headers.err : query.err ? query.err : cookies.err;
    if (err)
        goto done;
    /* API Gateway moves the Cookie header into "cookies". */
    for (size_t i = 0; i < headers.n; i++) {
        if (!strcmp(headers.names[i], "cookie")) {
            trg_free(headers.names[i]);
            trg_buf_free(&headers.values[i]);
            memmove(&headers.names[i], &headers.names[i + 1], (headers.n - i - 1) * sizeof *headers.names);
            memmove(&headers.values[i], &headers.values[i + 1], (headers.n - i - 1) * sizeof *headers.values);
            headers.n--;
            break;
        }
    }
    body = trg_http_req_body(req, &body_len);
    ct = trg_http_req_header(req, "Content-Type");
    ua = trg_http_req_header(req, "User-Agent");
    text = trg_webhook_body_is_text(ct, body, body_len);
    format_clf_time(now_ms, when);

    err = trg_buf_adds(out, "{\"version\":\"2.0\",\"routeKey\":\"$default\"");
    err = err ? err : add_field(out, "rawPath", trg_http_req_raw_path(req), true);
    err = err ? err : add_field(out, "rawQueryString", trg_http_req_query(req), true);
    if (cookies.n) {
        err = err ? err : trg_buf_adds(out, ",\"cookies\":[");
        err = err ? err : trg_buf_add(out, cookies.json.data, cookies.json.len);
        err = err ? err : trg_buf_addc(out, ']');
    }
    err = err ? err : add_object(out, "headers", &headers);
    if (query.n)
        err = err ? err : add_object(out, "queryStringParameters", &query);
    err =
        err ? err : trg_buf_adds(out, ",\"requestContext\":{\"accountId\":\"anonymous\",\"apiId\":\"trigd\"");
    err = err ? err : add_domain(out, trg_http_req_header(req, "Host"));
    err = err ? err : trg_buf_adds(out, ",\"http\":{");
    err = err ? err : add_field(out, "method", trg_http_req_method(req), false);
    err = err ? err : add_field(out, "path", trg_http_req_path(req), true);
    err = err ? err : add_field(out, "protocol", "HTTP/1.1", true);
    err = err ? err : add_field(out, "sourceIp", trg_http_req_remote(req), true);
    err = err ? err : add_field(out, "userAgent", ua, true);
    err = err ? err : trg_buf_addc(out, '}');
    err = err ? err : add_field(out, "requestId", request_id, true);
    err = err ? err : trg_buf_adds(out, ",\"routeKey\":\"$default\",\"stage\":\"$default\"");
    err = err ? err : add_field(out, "time", when, true);
    err = err ? err : trg_buf_addf(out, ",\"timeEpoch\":%lld}", (long long)now_ms);
    if (body_len > 0) {
        err = err ? err : trg_buf_adds(out, ",\"body\":");
        if (text)
            err = err ? err : trg_buf_add_json_str(out, body, body_len);
        else {
            err = err ? err : trg_buf_addc(out, '"');
            err = err ? err : trg_buf_add_base64(out, body, body_len);
            err = err ? err : trg_buf_addc(out, '"');
        }
    }
    err = err ? err : trg_buf_addf(out, ",\"isBase64Encoded\":%s}", body_len > 0 && !text ? "true" : "false");
done:
    kv_join_free(&headers);
    kv_join_free(&query);
    trg_buf_free(&cookies.json);
    return err ? TRG_ENOMEM : 0;
}
