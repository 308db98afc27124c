/* http.h — trigd's HTTP server: libmicrohttpd with external polling on the libev loop.
 *
 * Handlers are registered by method and path (exact, or a prefix ending in '/'). A handler gets
 * the whole request (body read up to the registration's max_body; beyond it the server answers 413
 * itself) and answers with trg_http_respond(), at once or later from any loop callback: until then
 * the connection is suspended. Every request must be answered exactly once; if the client has gone
 * away meanwhile, the answer is dropped and the request freed all the same.
 */
#ifndef TRG_HTTP_H
#define TRG_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct trg_http;
struct trg_http_req;

typedef void (*trg_http_handler)(void *arg, struct trg_http_req *req);

/* Knobs of a listener; 0 (or false) is the default, in parentheses, except reserved_connections (0:
 * none; NULL opts: 16). The config's http options
 * (config.c) give trigd's main server its limits against callers that hold connections (slowloris); a
 * runtime instance's Runtime API listener (src/invoke/runtime_api.c) is small, quiet and never idles out. */
struct trg_http_opts {
    unsigned max_connections;             /* open connections in all (1024) */
    unsigned max_connections_per_address; /* from one client address (64) */
    unsigned request_timeout_s;  /* a request's headers and body must arrive within this long of the
                                  * connection's start or of its previous request's end (30) */
    unsigned reserved_connections; /* when fewer slots than this are free, each new connection closes
                                    * the oldest one still sending its request (kept below
                                    * max_connections, at most half of it) */
    size_t conn_memory;            /* libmicrohttpd's memory pool per connection (64 KB) */
    bool no_idle_timeout;          /* never close idle connections (else after 60 s) */
    bool quiet;                    /* "listening on port N" at debug instead of info */
};

/* Listen on "host:port" ("127.0.0.1:9070", "[::1]:9070", "0.0.0.0:0"). Port 0 picks a free port.
 * The default limits. */
int trg_http_create(struct ev_loop *loop, const char *listen, struct trg_http **out);
/* trg_http_create() with knobs; o NULL = the defaults. o is copied. */
int trg_http_create_with(struct ev_loop *loop, const char *listen, const struct trg_http_opts *o,
                         struct trg_http **out);
/* The port actually bound (useful with port 0). */
int trg_http_port(const struct trg_http *h);
/* Stop accepting connections; requests already in progress can still be answered. */
void trg_http_stop_accepting(struct trg_http *h);
/* Close everything. Unanswered requests are dropped. NULL is a no-op. */
void trg_http_destroy(struct trg_http *h);

/* Register a handler. method NULL = any method. path ending in '/' matches as a prefix, otherwise
 * exactly; the longest match wins. max_body is the largest body accepted, in bytes.
 * Returns TRG_EINVAL if the same method+path is registered already. */
int trg_http_route(struct trg_http *h, const char *method, const char *path, size_t max_body,
                   trg_http_handler fn, void *arg);
/* The same, and when pass_oversize is true a request whose body exceeds max_body still reaches the
 * handler (with an empty body and trg_http_req_too_large() true) instead of the server's own 413; when
 * Content-Length announces it, that happens at once, before the body is sent. */
int trg_http_route_oversize(struct trg_http *h, const char *method, const char *path, size_t max_body,
                            bool pass_oversize, trg_http_handler fn, void *arg);
/* Remove every handler registered with this arg (requests in progress are unaffected). */
void trg_http_unroute(struct trg_http *h, void *arg);

/* Request accessors; strings are borrowed until trg_http_respond(). */
const char *trg_http_req_method(const struct trg_http_req *r);
const char *trg_http_req_path(const struct trg_http_req *r);   /* decoded path, no query */
const char *trg_http_req_query(const struct trg_http_req *r);  /* raw query string, "" when none */
const char *trg_http_req_raw_path(const struct trg_http_req *r); /* path as sent (still %-encoded) */
const char *trg_http_req_header(const struct trg_http_req *r, const char *name); /* case-insensitive */
const char *trg_http_req_body(const struct trg_http_req *r, size_t *len);        /* NUL-terminated */
const char *trg_http_req_remote(const struct trg_http_req *r); /* peer address as text */
/* Call fn for each header / each query argument (decoded), in arrival order. */
void trg_http_req_each_header(const struct trg_http_req *r,
                              void (*fn)(void *arg, const char *name, const char *value), void *arg);
void trg_http_req_each_query(const struct trg_http_req *r,
                             void (*fn)(void *arg, const char *name, const char *value), void *arg);
/* Arbitrary per-request pointer for the handler. */
void trg_http_req_set_data(struct trg_http_req *r, void *data);
void *trg_http_req_data(const struct trg_http_req *r);
/* Does the request carry "Authorization: Bearer <token>"? The scheme is matched case-insensitively,
 * spaces after it are skipped, and the token is compared in constant time. true when token is NULL
 * or "" (no token configured). */
bool trg_http_req_bearer_ok(const struct trg_http_req *r, const char *token);
/* Has the client gone away? (then respond soon; the answer is dropped). A suspended request
 * notices a peer that closed its connection while it waits; the request stays valid all the same. */
bool trg_http_req_closed(const struct trg_http_req *r);

/* Did the body exceed the route's max_body (only seen by trg_http_route_oversize() handlers)? */
bool trg_http_req_too_large(const struct trg_http_req *r);

/* Answer the request and free it (r is invalid afterwards, even when called from inside the
 * handler). headers: name, value, name, value, ..., NULL (may be NULL); Content-Length,
 * Transfer-Encoding and Connection are set by the server and ignored here. body is copied. */
void trg_http_respond(struct trg_http_req *r, int status, const char *content_type,
                      const char *body, size_t len, const char *const *headers);
/* Answer {"error": msg} as application/json. */
void trg_http_respond_error(struct trg_http_req *r, int status, const char *msg);
/* Answer json (a NUL-terminated JSON text) as application/json; headers as for trg_http_respond(). */
void trg_http_respond_json(struct trg_http_req *r, int status, const char *json, const char *const *headers);
/* Refuse for now: {"error": why} as application/json with "Retry-After: 1" (status 503 or 429); when
 * that cannot be built (out of memory), {} with the same status and header. */
void trg_http_respond_retry(struct trg_http_req *r, int status, const char *why);

#endif
