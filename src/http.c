/* http.c — libmicrohttpd driven from the libev loop (external polling on MHD's epoll fd).
 *
 * Life of a request (struct trg_http_req, MHD's per-request closure):
 *   uri_log_cb      allocates it with the raw URI, before anything else, and leaves it with the
 *                   connection (struct http_conn) until access_cb sees it: a request that MHD refuses
 *                   before that (URI or headers beyond the connection's memory: 414/431) never reaches
 *                   access_cb nor completed_cb, and is freed when its connection closes (conn_cb);
 *   access_cb       first call: route lookup (404/405), Content-Length check (413);
 *                   body calls: accumulate up to max_body, discard beyond;
 *                   final call: copy headers/query, hand it to the handler, suspend the connection
 *                   unless the handler answered at once;
 *   trg_http_respond  builds the MHD response; when the connection is suspended, resumes it, and
 *                   access_cb is called once more and queues the response;
 *   completed_cb    MHD is done with the connection: free the request, unless a handler still
 *                   owns it (then it is marked closed and trg_http_respond frees it).
 * While suspended, MHD does not watch the socket, so we do (peer_cb) to notice a client that left.
 *
 * Slow callers (slowloris): MHD refuses connections beyond max_connections_per_address from one
 * address; a connection that has not delivered its whole request (headers and body) within
 * request_timeout_s of its start or of its previous request's end is shut down (http_sweep); and
 * when fewer than reserved_connections slots are free, a new connection shuts down the oldest one
 * still sending its request, so /healthz, the admin API and requests that arrive whole keep finding
 * a slot. A connection whose request is with its handler is never cut.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HTTP_CONN_LIMIT 1024
#define HTTP_CONN_PER_ADDRESS 64
#define HTTP_REQUEST_TIMEOUT_S 30
#define HTTP_CONN_RESERVED 16
#define HTTP_SWEEP_EVERY_S 0.25
#define HTTP_CONN_TIMEOUT_S 60
#define HTTP_CONN_MEMORY (64 * 1024)
#define HTTP_RUN_MAX_S 0.5
/* Beyond max_body, a chunked upload is discarded; past this much more, the connection is closed. */
#define HTTP_DISCARD_SLACK (1024 * 1024)

struct http_route {
    char *method; /* NULL = any */
    char *path;
    size_t path_len;
    bool prefix;
    size_t max_body;
    bool pass_oversize; /* the handler answers bodies beyond max_body itself */
    trg_http_handler fn;
    void *arg;
};

struct trg_http {
    struct ev_loop *loop;
    struct MHD_Daemon *daemon;
    char *listen;
    int port;
    bool accepting_closed;
    ev_io io;
    ev_timer timer;
    struct http_route *routes;
    size_t n_routes;
    struct trg_http_req *owned; /* requests handed to handlers and not answered yet */
    struct trg_http_opts lim; /* as created, defaults filled in */
    struct http_conn *conns, *conns_tail; /* open connections, oldest first */
    unsigned n_conns;
    double last_sweep;
    uint64_t cut_slow, cut_evicted; /* connections shut down: past the deadline; for a newcomer */
    bool closed;                    /* a connection closed during the last MHD_run: run once more */
};

/* One per TCP connection (MHD's socket context), from conn_cb STARTED to CLOSED. */
struct http_conn {
    struct trg_http_req *fresh;    /* made by uri_log_cb, not seen by access_cb yet */
    struct http_conn *prev, *next; /* in h->conns */
    int fd;
    double deadline; /* ev_now() by which the request must be in (while !busy) */
    bool busy;       /* a request is with its handler or being answered */
    bool cut;        /* shut down by us; MHD closes it on its next run */
};

enum req_state {
    REQ_RECEIVING, /* headers or body still arriving */
    REQ_HANDLER,   /* handed to the handler, not answered */
    REQ_ANSWERED,  /* answered; waits for MHD to finish with the connection */
};

struct trg_http_req {
    struct trg_http *h;               /* NULL once the server is destroyed */
    struct MHD_Connection *conn;      /* NULL once MHD completed the request */
    struct http_conn *cx;             /* while it is cx->fresh */
    struct trg_http_req *prev, *next; /* in h->owned while REQ_HANDLER */
    enum req_state state;
    bool started, suspended, in_handler, closed, too_big, failed, pass_oversize;
    char *uri; /* raw request target */
    char *raw_path;
    const char *query; /* into uri, "" when none */
    char *method;
    char *path;
    struct trg_buf body;
    size_t max_body;
    size_t discarded;
    struct trg_kvlist headers;
    struct trg_kvlist args;
    char remote[INET6_ADDRSTRLEN + 8];
    void *data;
    struct MHD_Response *resp; /* answered but not queued yet */
    unsigned status;
    ev_io peer;
};

/* ---- the loop glue --------------------------------------------------------------------------- */

static void http_schedule(struct trg_http *h, double after)
{
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_set(&h->timer, after, 0.);
    ev_timer_start(h->loop, &h->timer);
}

/* libmicrohttpd 0.9.75 in external epoll mode can leave a connection it refused (414/431) waiting for
 * one more MHD_run that no socket event brings, and its timeout is the idle timeout (60 s): while any
 * connection is open, run it at least every HTTP_RUN_MAX_S. */
static void http_rearm(struct trg_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    bool open = !di || di->num_connections > 0;

    if (h->closed) {
        h->closed = false;
        http_schedule(h, 0.);
    } else if (MHD_get_timeout(h->daemon, &ms) == MHD_YES)
        http_schedule(h, open && (double)ms / 1000. > HTTP_RUN_MAX_S ? HTTP_RUN_MAX_S : (double)ms / 1000.);
    else if (open)
        http_schedule(h, HTTP_RUN_MAX_S);
    else
        ev_timer_stop(h->loop, &h->timer);
}

static void conn_cut(struct trg_http *h, struct http_conn *cx)
{
    (void)h;
    cx->cut = true;
    if (cx->fd >= 0)
        shutdown(cx->fd, SHUT_RDWR); /* MHD reads EOF and closes it (conn_cb CLOSED) */
}

/* Shut down the connections whose request did not arrive in time. */
static void http_sweep(struct trg_http *h)
{
    double now = ev_now(h->loop);
    unsigned cut = 0;

    if (now - h->last_sweep < HTTP_SWEEP_EVERY_S)
        return;
    h->last_sweep = now;
    for (struct http_conn *cx = h->conns; cx; cx = cx->next) {
        if (cx->busy || cx->cut || now < cx->deadline)
            continue;
        conn_cut(h, cx);
        cut++;
    }
    if (cut) {
        h->cut_slow += cut;
        trg_info("http", h->listen,
                 "closed %u connection(s) whose request did not arrive within %u s (http.request_timeout_s)",
                 cut, h->lim.request_timeout_s);
    }
}

static void http_run(struct trg_http *h)
{
    http_sweep(h);
    if (MHD_run(h->daemon) != MHD_YES)
        trg_warn("http", h->listen, "MHD_run failed; requests may stall");
    http_rearm(h);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents) { http_run(w->data); }

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) { http_run(w->data); }

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct trg_http *h = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    trg_warn("http", h->listen, "libmicrohttpd: %s", msg);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void req_unlink(struct trg_http_req *r)
{
    if (r->h && (r->prev || r->next || r->h->owned == r)) {
        if (r->prev)
            r->prev->next = r->next;
        else
            r->h->owned = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

static void req_link(struct trg_http_req *r)
{
    r->prev = NULL;
    r->next = r->h->owned;
    if (r->next)
        r->next->prev = r;
    r->h->owned = r;
}

static void req_unfresh(struct trg_http_req *r);

static void req_free(struct trg_http_req *r)
{
    if (!r)
        return;
    req_unfresh(r);
    req_unlink(r);
    if (r->h)
        ev_io_stop(r->h->loop, &r->peer);
    if (r->resp)
        MHD_destroy_response(r->resp);
    trg_free(r->uri);
    trg_free(r->raw_path);
    trg_free(r->method);
    trg_free(r->path);
    trg_buf_free(&r->body);
    trg_kvlist_free(&r->headers);
    trg_kvlist_free(&r->args);
    trg_free(r);
}

/* The request is no longer only its connection's (access_cb saw it, or it is freed). */
static void req_unfresh(struct trg_http_req *r)
{
    if (r->cx && r->cx->fresh == r)
        r->cx->fresh = NULL;
    r->cx = NULL;
}

/* A new connection in the reserve: shut down the oldest one still sending its request. */
static void conn_evict(struct trg_http *h, struct http_conn *newcomer)
{
    for (struct http_conn *cx = h->conns; cx; cx = cx->next) {
        if (cx == newcomer || cx->busy || cx->cut)
            continue;
        conn_cut(h, cx);
        h->cut_evicted++;
        trg_info("http", h->listen,
                 "%u of %u connections open: closed the oldest one still sending its request to keep a slot "
                 "free (http.reserved_connections)",
                 h->n_conns, h->lim.max_connections);
        return;
    }
}

static void conn_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe)
{
    struct trg_http *h = cls;
    struct http_conn *cx = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        /* without it (out of memory) requests are served all the same, without the limits */
        cx = trg_calloc(1, sizeof *cx);
        *socket_context = cx;
        if (!cx)
            return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        cx->fd = ci ? ci->connect_fd : -1;
        cx->deadline = ev_now(h->loop) + h->lim.request_timeout_s;
        cx->prev = h->conns_tail;
        if (h->conns_tail)
            h->conns_tail->next = cx;
        else
            h->conns = cx;
        h->conns_tail = cx;
        h->n_conns++;
        if (h->n_conns + h->lim.reserved_connections > h->lim.max_connections)
            conn_evict(h, cx);
        return;
    }
    /* libmicrohttpd (0.9.75, epoll) takes the listening socket out of its epoll set while at the
     * connection limit and puts it back only at the start of a later MHD_run: after a close, run once
     * more, or a listener with no connection left would never accept again */
    h->closed = true;
    if (!cx)
        return;
    if (cx->prev)
        cx->prev->next = cx->next;
    else
        h->conns = cx->next;
    if (cx->next)
        cx->next->prev = cx->prev;
    else
        h->conns_tail = cx->prev;
    h->n_conns--;
    if (cx->fresh) {
        struct trg_http_req *r = cx->fresh;
        req_unfresh(r);
        req_free(r);
    }
    trg_free(cx);
    *socket_context = NULL;
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct trg_http_req *r = trg_calloc(1, sizeof *r);
    const union MHD_ConnectionInfo *ci;
    const char *q;

    if (!r)
        return NULL;
    r->h = cls;
    r->conn = conn;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        r->cx = ci->socket_context;
        if (r->cx->fresh) { /* the previous request never reached access_cb */
            struct trg_http_req *old = r->cx->fresh;
            req_unfresh(old);
            req_free(old);
        }
        r->cx->fresh = r;
    }
    r->uri = trg_strdup(uri ? uri : "/");
    if (!r->uri)
        goto fail;
    q = strchr(r->uri, '?');
    r->raw_path = q ? trg_strndup(r->uri, (size_t)(q - r->uri)) : trg_strdup(r->uri);
    if (!r->raw_path)
        goto fail;
    r->query = q ? q + 1 : "";
    return r;
fail:
    req_free(r);
    return NULL;
}

/* A response built from our own arguments; NULL on ENOMEM. */
static struct MHD_Response *make_response(const char *content_type, const char *body, size_t len,
                                          const char *const *headers)
{
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return NULL;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        if (!strcasecmp(headers[i], MHD_HTTP_HEADER_CONTENT_LENGTH) ||
            !strcasecmp(headers[i], MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
            !strcasecmp(headers[i], MHD_HTTP_HEADER_CONNECTION))
            continue;
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    return resp;
}

static struct MHD_Response *make_error(const char *msg, const char *const *headers)
{
    struct trg_buf b = {0};
    struct MHD_Response *resp = NULL;

    if (trg_buf_adds(&b, "{\"error\":") == 0 && trg_buf_add_json_str(&b, msg, strlen(msg)) == 0 &&
        trg_buf_adds(&b, "}") == 0)
        resp = make_response("application/json", b.data, b.len, headers);
    trg_buf_free(&b);
    return resp;
}

/* Answer from inside access_cb (the server's own answers: 404, 405, 413, 500). */
static enum MHD_Result queue_now(struct MHD_Connection *conn, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result queue_error(struct trg_http_req *r, unsigned status, const char *msg,
                                   const char *const *headers)
{
    r->state = REQ_ANSWERED;
    return queue_now(r->conn, status, make_error(msg, headers));
}

static bool route_path_matches(const struct http_route *rt, const char *path)
{
    if (rt->prefix)
        return strncmp(path, rt->path, rt->path_len) == 0;
    return strcmp(path, rt->path) == 0;
}

static bool route_method_matches(const struct http_route *rt, const char *method)
{
    return !rt->method || strcmp(rt->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

/* Longest path match; among routes with that path, the one for the method. Returns NULL with
 * *path_found true when the path is known but not for this method (allow gets the methods). */
static const struct http_route *route_find(const struct trg_http *h, const char *method, const char *path,
                                           bool *path_found, struct trg_buf *allow)
{
    const struct http_route *best = NULL;
    size_t best_len = 0;
    bool found = false;

    for (size_t i = 0; i < h->n_routes; i++) {
        const struct http_route *rt = &h->routes[i];
        if (!route_path_matches(rt, path) || (found && rt->path_len < best_len))
            continue;
        if (!found || rt->path_len > best_len) {
            best = NULL;
            best_len = rt->path_len;
            found = true;
        }
        if (!best && route_method_matches(rt, method))
            best = rt;
    }
    *path_found = found;
    if (!best && found && allow) {
        for (size_t i = 0; i < h->n_routes; i++) {
            const struct http_route *rt = &h->routes[i];
            if (rt->path_len == best_len && route_path_matches(rt, path) && rt->method)
                trg_buf_addf(allow, "%s%s", allow->len ? ", " : "", rt->method);
        }
    }
    return best;
}

/* 404 or 405 for a request without a route; MHD_NO on ENOMEM. */
static enum MHD_Result queue_no_route(struct trg_http_req *r, bool path_found, struct trg_buf *allow)
{
    enum MHD_Result ret;

    if (!path_found)
        return queue_error(r, MHD_HTTP_NOT_FOUND, "no such path", NULL);
    const char *hdrs[] = {MHD_HTTP_HEADER_ALLOW, allow->data ? allow->data : "", NULL};
    ret = queue_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed on this path", hdrs);
    return ret;
}

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct trg_http_req *r = cls;
    struct trg_kvlist *l = kind == MHD_HEADER_KIND ? &r->headers : &r->args;
    char **k, **v;

    k = trg_realloc(l->k, (l->n + 1) * sizeof *k);
    if (!k)
        goto fail;
    l->k = k;
    v = trg_realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        goto fail;
    l->v = v;
    l->k[l->n] = trg_strdup(key ? key : "");
    l->v[l->n] = trg_strdup(value ? value : "");
    if (!l->k[l->n] || !l->v[l->n]) {
        trg_free(l->k[l->n]);
        trg_free(l->v[l->n]);
        goto fail;
    }
    l->n++;
    return MHD_YES;
fail:
    r->failed = true;
    return MHD_NO;
}

static void fill_remote(struct trg_http_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    r->remote[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote, sizeof r->remote);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote, sizeof r->remote);
}

static void peer_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct trg_http_req *r = w->data;
    char c;
    ssize_t n = recv(w->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    ev_io_stop(loop, w);
    if (n > 0)
        return; /* pipelined data: nothing to learn until the answer */
    /* The peer closed (or reset) the connection: let MHD close it now; the request stays valid. */
    r->closed = true;
    trg_debug("http", r->h->listen, "client %s went away before %s %s was answered", r->remote, r->method,
              r->path);
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        http_schedule(r->h, 0.);
    }
}

static void watch_peer(struct trg_http_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    if (!ci)
        return;
    ev_io_init(&r->peer, peer_cb, ci->connect_fd, EV_READ);
    r->peer.data = r;
    ev_io_start(r->h->loop, &r->peer);
}

/* The whole request is in: hand it to its handler. */
static enum MHD_Result dispatch(struct trg_http_req *r)
{
    struct trg_http *h = r->h;
    struct trg_buf allow = {0};
    const struct http_route *rt;
    bool path_found;
    enum MHD_Result ret;

    if (r->too_big && !r->pass_oversize)
        return queue_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    rt = route_find(h, r->method, r->path, &path_found, &allow);
    if (!rt) {
        /* The route went away while the body arrived. */
        ret = queue_no_route(r, path_found, &allow);
        trg_buf_free(&allow);
        return ret;
    }
    if (!r->body.data && trg_buf_add(&r->body, "", 0) < 0)
        r->failed = true;
    if (!r->failed) {
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_kv, r);
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_kv, r);
    }
    if (r->failed) {
        trg_error("http", h->listen, "out of memory reading %s %s; answered 500", r->method, r->path);
        return queue_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    }
    fill_remote(r);
    const union MHD_ConnectionInfo *sci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (sci && sci->socket_context)
        ((struct http_conn *)sci->socket_context)->busy = true;
    r->state = REQ_HANDLER;
    req_link(r);
    r->in_handler = true;
    rt->fn(rt->arg, r);
    r->in_handler = false;
    if (r->resp) {
        ret = MHD_queue_response(r->conn, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    }
    if (r->state == REQ_HANDLER) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
        watch_peer(r);
    }
    return MHD_YES;
}

/* First call: the headers are in. Refuse what has no route or announces too big a body. */
static enum MHD_Result on_headers(struct trg_http_req *r, const char *method, const char *url)
{
    struct trg_buf allow = {0};
    const struct http_route *rt;
    const char *cl;
    bool path_found;
    enum MHD_Result ret;

    r->started = true;
    r->method = trg_strdup(method);
    r->path = trg_strdup(url);
    if (!r->method || !r->path)
        return queue_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
    rt = route_find(r->h, method, url, &path_found, &allow);
    if (!rt) {
        ret = queue_no_route(r, path_found, &allow);
        trg_buf_free(&allow);
        return ret;
    }
    r->max_body = rt->max_body;
    r->pass_oversize = rt->pass_oversize;
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && n > r->max_body) {
            trg_debug("http", r->h->listen, "%s %s: body of %llu bytes refused (max %zu)", method, url, n,
                      r->max_body);
            if (r->pass_oversize) { /* the handler says why, at once, without the body */
                r->too_big = true;
                return dispatch(r);
            }
            return queue_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_body(struct trg_http_req *r, const char *data, size_t n)
{
    if (!r->too_big && !r->failed && r->body.len + n > r->max_body) {
        r->too_big = true;
        trg_buf_free(&r->body);
        trg_debug("http", r->h->listen, "%s %s: body beyond %zu bytes, discarding it", r->method, r->path,
                  r->max_body);
    }
    if (r->too_big || r->failed) {
        r->discarded += n;
        return r->discarded > r->max_body + HTTP_DISCARD_SLACK ? MHD_NO : MHD_YES;
    }
    if (trg_buf_add(&r->body, data, n) < 0) {
        trg_buf_free(&r->body);
        r->failed = true;
    }
    return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct trg_http_req *r = *con_cls;
    enum MHD_Result ret;

    if (!r) {
        trg_error("http", ((struct trg_http *)cls)->listen, "out of memory accepting a request; closing it");
        return MHD_NO;
    }
    req_unfresh(r); /* MHD calls completed_cb for it from now on */
    r->conn = conn;
    if (!r->started)
        return on_headers(r, method, url);
    if (*upload_data_size > 0) {
        ret = on_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    switch (r->state) {
    case REQ_RECEIVING:
        return dispatch(r);
    case REQ_ANSWERED:
        if (!r->resp)
            return MHD_NO;
        ret = MHD_queue_response(conn, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    case REQ_HANDLER:
        if (r->closed)
            return MHD_NO; /* resumed because the peer left: close */
        MHD_suspend_connection(conn);
        r->suspended = true;
        return MHD_YES;
    }
    return MHD_NO;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct trg_http_req *r = *con_cls;
    struct trg_http *h = cls;
    const union MHD_ConnectionInfo *sci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    if (sci && sci->socket_context) {
        /* the next request on this connection has its own request_timeout_s */
        struct http_conn *cx = sci->socket_context;
        cx->busy = false;
        cx->deadline = ev_now(h->loop) + h->lim.request_timeout_s;
    }
    if (!r)
        return;
    *con_cls = NULL;
    if (r->h)
        ev_io_stop(r->h->loop, &r->peer);
    r->conn = NULL;
    r->suspended = false;
    if (r->state == REQ_HANDLER) {
        /* The handler still holds it: trg_http_respond() frees it. */
        r->closed = true;
        return;
    }
    req_free(r);
}

/* ---- public ---------------------------------------------------------------------------------- */

/* Split "host:port" / "[v6]:port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[256];
    const char *port, *colon;
    size_t hl;
    struct addrinfo hints = {0}, *ai = NULL;

    if (!listen || !*listen)
        return TRG_EINVAL;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return TRG_EINVAL;
        hl = (size_t)(close - listen - 1);
        if (hl >= sizeof host)
            return TRG_EINVAL;
        memcpy(host, listen + 1, hl);
        port = close + 2;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || strchr(listen, ':') != colon)
            return TRG_EINVAL;
        hl = (size_t)(colon - listen);
        if (hl >= sizeof host)
            return TRG_EINVAL;
        memcpy(host, listen, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atoi(port) > 65535)
        return TRG_EINVAL;
    hints.ai_family = listen[0] == '[' ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(hl ? host : NULL, port, &hints, &ai) != 0 || !ai)
        return TRG_EINVAL;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int trg_http_create(struct ev_loop *loop, const char *listen, struct trg_http **out)
{
    return trg_http_create_with(loop, listen, NULL, out);
}

int trg_http_create_with(struct ev_loop *loop, const char *listen, const struct trg_http_opts *o,
                         struct trg_http **out)
{
    struct trg_http *h = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *di;
    int err;

    *out = NULL;
    err = parse_listen(listen, &ss, &sslen);
    if (err < 0) {
        trg_error("http", listen, "cannot use listen address '%s': expected host:port or [v6]:port",
                  listen ? listen : "");
        return err;
    }
    h = trg_calloc(1, sizeof *h);
    if (!h)
        return TRG_ENOMEM;
    h->loop = loop;
    h->lim = o ? *o : (struct trg_http_opts){.reserved_connections = HTTP_CONN_RESERVED};
    if (!h->lim.max_connections)
        h->lim.max_connections = HTTP_CONN_LIMIT;
    if (!h->lim.max_connections_per_address)
        h->lim.max_connections_per_address = HTTP_CONN_PER_ADDRESS;
    if (!h->lim.request_timeout_s)
        h->lim.request_timeout_s = HTTP_REQUEST_TIMEOUT_S;
    if (!h->lim.conn_memory)
        h->lim.conn_memory = HTTP_CONN_MEMORY;
    if (h->lim.max_connections < 2)
        h->lim.max_connections = 2;
    if (h->lim.reserved_connections >= h->lim.max_connections)
        h->lim.reserved_connections = h->lim.max_connections / 2;
    h->listen = trg_strdup(listen);
    if (!h->listen) {
        err = TRG_ENOMEM;
        goto fail;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, h, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, h, MHD_OPTION_NOTIFY_CONNECTION, conn_cb, h, MHD_OPTION_CONNECTION_LIMIT,
        h->lim.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->lim.max_connections_per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, h->lim.no_idle_timeout ? 0u : (unsigned)HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->lim.conn_memory, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!h->daemon) {
        trg_error("http", listen,
                  "cannot listen on %s (address in use or not local?); "
                  "change http.listen",
                  listen);
        err = TRG_EIO;
        goto fail;
    }
    di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) {
        trg_error("http", listen, "libmicrohttpd has no epoll fd; it must be built with epoll support");
        err = TRG_EIO;
        goto fail;
    }
    ev_io_init(&h->io, io_cb, di->epoll_fd, EV_READ);
    h->io.data = h;
    ev_io_start(loop, &h->io);
    ev_timer_init(&h->timer, timer_cb, 0., 0.);
    h->timer.data = h;
    http_rearm(h);
    if (h->lim.quiet)
        trg_debug("http", listen, "listening on port %d", h->port);
    else
        trg_info("http", listen, "listening on port %d", h->port);
    *out = h;
    return 0;
fail:
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    trg_free(h->listen);
    trg_free(h);
    return err;
}

int trg_http_port(const struct trg_http *h) { return h ? h->port : 0; }

void trg_http_stop_accepting(struct trg_http *h)
{
    if (!h || h->accepting_closed)
        return;
    /* Without internal threads the socket can be closed at once: new clients are refused rather
     * than left in the backlog. */
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    h->accepting_closed = true;
    trg_info("http", h->listen, "no longer accepting connections");
}

void trg_http_destroy(struct trg_http *h)
{
    struct trg_http_req *r, *next;

    if (!h)
        return;
    /* MHD must not be stopped with suspended connections: resume them, and detach every request a
     * handler still holds (they are answered into the void and freed by trg_http_respond). */
    for (r = h->owned; r; r = next) {
        next = r->next;
        ev_io_stop(h->loop, &r->peer);
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
        r->prev = r->next = NULL;
        r->h = NULL;
    }
    h->owned = NULL;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    MHD_stop_daemon(h->daemon);
    for (size_t i = 0; i < h->n_routes; i++) {
        trg_free(h->routes[i].method);
        trg_free(h->routes[i].path);
    }
    trg_free(h->routes);
    trg_free(h->listen);
    trg_free(h);
}

int trg_http_route(struct trg_http *h, const char *method, const char *path, size_t max_body,
                   trg_http_handler fn, void *arg)
{
    return trg_http_route_oversize(h, method, path, max_body, false, fn, arg);
}

int trg_http_route_oversize(struct trg_http *h, const char *method, const char *path, size_t max_body,
                            bool pass_oversize, trg_http_handler fn, void *arg)
{
    struct http_route rt = {0}, *routes;

    if (!h || !path || path[0] != '/' || !fn)
        return TRG_EINVAL;
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct http_route *o = &h->routes[i];
        bool same_method = (!o->method && !method) || (o->method && method && !strcmp(o->method, method));
        if (same_method && !strcmp(o->path, path))
            return TRG_EINVAL;
    }
    rt.method = method ? trg_strdup(method) : NULL;
    rt.path = trg_strdup(path);
    if ((method && !rt.method) || !rt.path)
        goto fail;
    rt.path_len = strlen(path);
    rt.prefix = path[rt.path_len - 1] == '/';
    rt.max_body = max_body;
    rt.pass_oversize = pass_oversize;
    rt.fn = fn;
    rt.arg = arg;
    routes = trg_realloc(h->routes, (h->n_routes + 1) * sizeof *routes);
    if (!routes)
        goto fail;
    h->routes = routes;
    h->routes[h->n_routes++] = rt;
    return 0;
fail:
    trg_free(rt.method);
    trg_free(rt.path);
    return TRG_ENOMEM;
}

void trg_http_unroute(struct trg_http *h, void *arg)
{
    size_t j = 0;

    if (!h)
        return;
    for (size_t i = 0; i < h->n_routes; i++) {
        if (h->routes[i].arg == arg) {
            trg_free(h->routes[i].method);
            trg_free(h->routes[i].path);
        } else {
            h->routes[j++] = h->routes[i];
        }
    }
    h->n_routes = j;
}

const char *trg_http_req_method(const struct trg_http_req *r) { return r->method; }

const char *trg_http_req_path(const struct trg_http_req *r) { return r->path; }

const char *trg_http_req_query(const struct trg_http_req *r) { return r->query; }

const char *trg_http_req_raw_path(const struct trg_http_req *r) { return r->raw_path; }

const char *trg_http_req_header(const struct trg_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->headers.n; i++)
        if (!strcasecmp(r->headers.k[i], name))
            return r->headers.v[i];
    return NULL;
}

const char *trg_http_req_body(const struct trg_http_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *trg_http_req_remote(const struct trg_http_req *r) { return r->remote; }

void trg_http_req_each_header(const struct trg_http_req *r,
                              void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    for (size_t i = 0; i < r->headers.n; i++)
        fn(arg, r->headers.k[i], r->headers.v[i]);
}

void trg_http_req_each_query(const struct trg_http_req *r,
                             void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    for (size_t i = 0; i < r->args.n; i++)
        fn(arg, r->args.k[i], r->args.v[i]);
}

void trg_http_req_set_data(struct trg_http_req *r, void *data) { r->data = data; }

void *trg_http_req_data(const struct trg_http_req *r) { return r->data; }

bool trg_http_req_closed(const struct trg_http_req *r) { return r->closed || !r->conn; }

bool trg_http_req_too_large(const struct trg_http_req *r) { return r->too_big; }

void trg_http_respond(struct trg_http_req *r, int status, const char *content_type, const char *body,
                      size_t len, const char *const *headers)
{
    if (!r || r->state != REQ_HANDLER)
        return;
    req_unlink(r);
    r->state = REQ_ANSWERED;
    if (!r->conn) {
        /* The client is gone and MHD is done with it: nothing to send. */
        req_free(r);
        return;
    }
    r->status = status >= 100 && status <= 999 ? (unsigned)status : 500;
    r->resp = make_response(content_type, body, len, headers);
    if (!r->resp && r->h)
        trg_error("http", r->h->listen, "out of memory answering %s %s; closing the connection", r->method,
                  r->path);
    if (r->in_handler || !r->h)
        return; /* dispatch() queues it when the handler returns */
    ev_io_stop(r->h->loop, &r->peer);
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
    http_schedule(r->h, 0.);
}

void trg_http_respond_error(struct trg_http_req *r, int status, const char *msg)
{
    struct trg_buf b = {0};

    if (!r)
        return;
    if (trg_buf_adds(&b, "{\"error\":") == 0 && trg_buf_add_json_str(&b, msg, strlen(msg)) == 0 &&
        trg_buf_adds(&b, "}") == 0)
        trg_http_respond(r, status, "application/json", b.data, b.len, NULL);
    else
        trg_http_respond(r, status, "application/json", "{\"error\":\"out of memory\"}", 25, NULL);
    trg_buf_free(&b);
}

void trg_http_respond_json(struct trg_http_req *r, int status, const char *json, const char *const *headers)
{
    trg_http_respond(r, status, "application/json", json, strlen(json), headers);
}

void trg_http_respond_retry(struct trg_http_req *r, int status, const char *why)
{
    const char *retry[] = {"Retry-After", "1", NULL};
    struct trg_buf b = {0};

    if (trg_buf_adds(&b, "{\"error\":") == 0 && trg_buf_add_json_str(&b, why, strlen(why)) == 0 &&
        trg_buf_addc(&b, '}') == 0)
        trg_http_respond(r, status, "application/json", b.data, b.len, retry);
    else
        trg_http_respond_json(r, status, "{}", retry);
    trg_buf_free(&b);
}

bool trg_http_req_bearer_ok(const struct trg_http_req *r, const char *token)
{
    const char *auth;

    if (!token || !*token)
        return true;
    auth = trg_http_req_header(r, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return false;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return trg_secure_streq(auth, token);
}
