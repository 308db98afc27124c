/*
 * bootstrap.c — a Lambda custom runtime in plain C: no library beyond libc, a small HTTP/1.1 client
 * over one kept-alive socket to $AWS_LAMBDA_RUNTIME_API.
 *
 * The loop of every custom runtime: GET .../runtime/invocation/next (a long poll), run the handler on
 * the event, POST .../invocation/{id}/response with its result or .../invocation/{id}/error with an
 * error document, then ask for the next event. A handler name it does not know is an init error: it
 * POSTs .../runtime/init/error (Runtime.HandlerNotFound) and exits 1.
 *
 * Handlers ($_HANDLER, e.g. "handler.echo"; only the part after the last dot counts):
 *   echo    answers {"runtime":"c","pid":PID,"invocations":N,"requestId":ID,"event":EVENT}; EVENT is
 *           the event as received (JSON), so an invoker sees what the runtime saw and which process
 *           served it
 *   error   answers through /error: {"errorType":"HandlerError","errorMessage":"...","stackTrace":[]}
 *           with the header Lambda-Runtime-Function-Error-Type: Function.HandlerError
 *   exit    exits 3 in the middle of the invoke, without answering (a crashed runtime)
 * Every invoke logs one line to stderr (the host tags it with the request id).
 *
 * A 5xx answer to next means the host wants the runtime gone: it exits 1. A refused connection is
 * retried for a few seconds (a host that starts the runtime before it listens).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr */
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define API_PREFIX "/2018-06-01/runtime"
#define CONNECT_TRIES 50 /* 100 ms apart: 5 s */

/* One HTTP connection to the Runtime API and the last answer read from it. */
struct conn {
    char host[256];
    char port[16];
    int fd;
    char *in;        /* bytes read and not yet consumed */
    size_t in_len;
    size_t in_cap;
    int status;      /* last answer */
    char *body;      /* last answer's body, NUL-terminated; owned */
    size_t body_len;
    char request_id[128];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bootstrap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

/* --- the connection ----------------------------------------------------------------------------- */

static int conn_open(struct conn *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "bootstrap: %s:%s: %s\n", c->host, c->port, gai_strerror(rc));
        return -1;
    }
    for (int attempt = 0; attempt < CONNECT_TRIES; attempt++) {
        int refused = 0;
        for (ai = res; ai; ai = ai->ai_next) {
            int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0)
                continue;
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                freeaddrinfo(res);
                c->fd = fd;
                c->in_len = 0;
                return 0;
            }
            refused |= errno == ECONNREFUSED;
            close(fd);
        }
        if (!refused)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    freeaddrinfo(res);
    fprintf(stderr, "bootstrap: cannot connect to %s:%s: %s\n", c->host, c->port, strerror(errno));
    return -1;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* read_more: append what the socket has to c->in; 0 on data, -1 on EOF or error. */
static int read_more(struct conn *c)
{
    if (c->in_cap - c->in_len < 65536) {
        c->in_cap = c->in_cap * 2 + 65536;
        c->in = xrealloc(c->in, c->in_cap);
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        return 0;
    }
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* need: wait until c->in holds at least n bytes. */
static int need(struct conn *c, size_t n)
{
    while (c->in_len < n)
        if (read_more(c) < 0)
            return -1;
    return 0;
}

/* line_end: the offset just past the next CRLF in c->in, reading more as needed; 0 on EOF. */
static size_t line_end(struct conn *c, size_t from)
{
    for (;;) {
        char *p = c->in_len > from ? memmem(c->in + from, c->in_len - from, "\r\n", 2) : NULL;
        if (p)
            return (size_t)(p - c->in) + 2;
        if (read_more(c) < 0)
            return 0;
    }
}

static void body_append(struct conn *c, const char *p, size_t n)
{
    c->body = xrealloc(c->body, c->body_len + n + 1);
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
}

/* read_answer: one HTTP response (status, headers, a Content-Length, chunked or until-close body). */
static int read_answer(struct conn *c)
{
    size_t end = line_end(c, 0);
    if (!end || sscanf(c->in, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    long long length = -1;
    int chunked = 0, close_after = 0;
    c->request_id[0] = '\0';
    consume(c, end);
    for (;;) { /* headers */
        end = line_end(c, 0);
        if (!end)
            return -1;
        if (end == 2) {
            consume(c, 2);
            break;
        }
        c->in[end - 2] = '\0';
        char *colon = strchr(c->in, ':');
        if (colon) {
            char *v = colon + 1;
            *colon = '\0';
            v += strspn(v, " \t");
            if (!strcasecmp(c->in, "Content-Length"))
                length = atoll(v);
            else if (!strcasecmp(c->in, "Transfer-Encoding") && strcasestr(v, "chunked"))
                chunked = 1;
            else if (!strcasecmp(c->in, "Connection") && strcasestr(v, "close"))
                close_after = 1;
            else if (!strcasecmp(c->in, "Lambda-Runtime-Aws-Request-Id"))
                snprintf(c->request_id, sizeof c->request_id, "%s", v);
        }
        consume(c, end);
    }
    c->body_len = 0;
    body_append(c, "", 0);
    if (chunked) {
        for (;;) {
            end = line_end(c, 0);
            if (!end)
                return -1;
            size_t n = strtoul(c->in, NULL, 16);
            consume(c, end);
            if (n == 0) { /* trailers, then an empty line */
                while ((end = line_end(c, 0)) > 2)
                    consume(c, end);
                if (!end)
                    return -1;
                consume(c, 2);
                break;
            }
            if (need(c, n + 2) < 0)
                return -1;
            body_append(c, c->in, n);
            consume(c, n + 2);
        }
    } else if (length >= 0) {
        if (need(c, (size_t)length) < 0)
            return -1;
        body_append(c, c->in, (size_t)length);
        consume(c, (size_t)length);
    } else {
        while (read_more(c) == 0)
            ;
        body_append(c, c->in, c->in_len);
        consume(c, c->in_len);
        close_after = 1;
    }
    if (close_after)
        conn_close(c);
    return 0;
}

/*
 * request: send METHOD PATH with BODY (may be NULL) and EXTRA header lines ("Name: value\r\n...", may
 * be NULL), read the answer into c->status and c->body. A kept-alive connection the host closed is
 * reopened once; -1 when the host cannot be reached.
 */
static int request(struct conn *c, const char *method, const char *path, const char *body, size_t body_len,
                   const char *extra)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: trigd-example-c-runtime\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, c->host, c->port, extra ? extra : "", body ? body_len : 0);
    if (n < 0 || (size_t)n >= sizeof head)
        die("request head too long for %s", path);
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (!reused && conn_open(c) < 0)
            return -1;
        if (write_all(c->fd, head, (size_t)n) == 0 && (!body || write_all(c->fd, body, body_len) == 0) &&
            read_answer(c) == 0)
            return 0;
        conn_close(c);
        if (!reused)
            break;
    }
    return -1;
}

/* --- JSON output ------------------------------------------------------------------------------ */

/* json_string: S as a quoted JSON string into BUF (size N). */
static void json_string(char *buf, size_t n, const char *s)
{
    size_t o = 0;
    if (n < 3)
        return;
    buf[o++] = '"';
    for (; *s && o + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(buf + o, n - o, "\\u%04x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

static void post_error(struct conn *c, const char *path, const char *type, const char *message)
{
    char m[512], t[128], body[1024], hdr[256];
    json_string(m, sizeof m, message);
    json_string(t, sizeof t, type);
    int n = snprintf(body, sizeof body, "{\"errorMessage\":%s,\"errorType\":%s,\"stackTrace\":[]}", m, t);
    snprintf(hdr, sizeof hdr, "Lambda-Runtime-Function-Error-Type: %s\r\n",
             strchr(type, '.') ? type : "Function.HandlerError");
    if (request(c, "POST", path, body, (size_t)n, hdr) < 0)
        die("POST %s failed: the host is gone", path);
    if (c->status != 202)
        fprintf(stderr, "bootstrap: POST %s answered %d: %s\n", path, c->status, c->body);
}

/* --- the handlers ----------------------------------------------------------------------------- */

enum handler { H_ECHO, H_ERROR, H_EXIT };

static int pick_handler(const char *name, enum handler *h)
{
    const char *dot = strrchr(name, '.');
    const char *fn = dot ? dot + 1 : name;
    if (!strcmp(fn, "echo"))
        *h = H_ECHO;
    else if (!strcmp(fn, "error"))
        *h = H_ERROR;
    else if (!strcmp(fn, "exit"))
        *h = H_EXIT;
    else
        return -1;
    return 0;
}

static void invoke(struct conn *c, enum handler h, unsigned long n_invokes)
{
    char path[256], rid[160];
    const char *id = c->request_id;
    snprintf(path, sizeof path, API_PREFIX "/invocation/%s/%s", id, h == H_ERROR ? "error" : "response");
    fprintf(stderr, "c runtime: invoke %lu in pid %ld (%zu bytes of event)\n", n_invokes, (long)getpid(),
            c->body_len);
    if (h == H_EXIT) {
        fprintf(stderr, "c runtime: exiting in the middle of an invoke, as asked\n");
        exit(3);
    }
    if (h == H_ERROR) {
        post_error(c, path, "HandlerError", "the error handler failed, as asked");
        return;
    }
    json_string(rid, sizeof rid, id);
    char head[512];
    int hn = snprintf(head, sizeof head, "{\"runtime\":\"c\",\"pid\":%ld,\"invocations\":%lu,\"requestId\":%s,\"event\":",
                      (long)getpid(), n_invokes, rid);
    const char *event = c->body_len ? c->body : "null";
    size_t ev_len = c->body_len ? c->body_len : 4;
    size_t len = (size_t)hn + ev_len + 1;
    char *out = xrealloc(NULL, len + 1);
    memcpy(out, head, (size_t)hn);
    memcpy(out + hn, event, ev_len);
    out[len - 1] = '}';
    out[len] = '\0';
    if (request(c, "POST", path, out, len, NULL) < 0)
        die("POST %s failed: the host is gone", path);
    if (c->status != 202)
        fprintf(stderr, "bootstrap: POST %s answered %d: %s\n", path, c->status, c->body);
    free(out);
}

int main(void)
{
    static struct conn c = {.fd = -1}; /* static: its buffers stay reachable until exit */
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    const char *handler = getenv("_HANDLER");
    enum handler h;

    setvbuf(stderr, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (!api || !*api)
        die("AWS_LAMBDA_RUNTIME_API is not set: start this from a Lambda host (trigd's runtime functions)");
    const char *colon = strrchr(api, ':');
    if (!colon || (size_t)(colon - api) >= sizeof c.host || strlen(colon + 1) >= sizeof c.port)
        die("AWS_LAMBDA_RUNTIME_API must be HOST:PORT, not '%s'", api);
    memcpy(c.host, api, (size_t)(colon - api));
    c.host[colon - api] = '\0';
    snprintf(c.port, sizeof c.port, "%s", colon + 1);

    if (!handler || pick_handler(handler, &h) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "no handler '%s' in the C runtime (it has echo, error and exit)",
                 handler ? handler : "");
        post_error(&c, API_PREFIX "/init/error", "Runtime.HandlerNotFound", msg);
        return 1;
    }

    for (unsigned long n = 1;; n++) {
        if (request(&c, "GET", API_PREFIX "/invocation/next", NULL, 0, NULL) < 0)
            die("GET next failed: the host is gone");
        if (c.status >= 500)
            die("GET next answered %d (%s): exiting, as a runtime must", c.status, c.body);
        if (c.status != 200 || !c.request_id[0]) {
            fprintf(stderr, "bootstrap: GET next answered %d without a request id: %s\n", c.status, c.body);
            return 1;
        }
        invoke(&c, h, n);
    }
}
