/* post.h — what the http and lambda invokers share: POSTing one invocation and classifying it.
 *
 * Private to src/invoke/. A struct trg_post sits inside an invoker instance and keeps the list of
 * its calls in flight: each call copies the request id, builds its headers through the kind's
 * headers hook, POSTs the payload with trg_curl_post, and calls the invoker callback exactly once,
 * later from the loop. trg_post_close() cancels whatever is still in flight without calling back.
 *
 * Classification of a finished POST, in this order:
 *   the deadline                            -> error "Timeout"
 *   a body longer than max_body             -> error "ResponseSizeTooLarge"
 *   out of memory while receiving           -> error "OutOfMemory"
 *   any other transport error               -> error named after curl's error (curl_easy_strerror)
 *   otherwise (a response arrived)          -> the kind's classify hook (status codes, headers)
 * The log lines are the kind's: its component, and its hints where the two types word them apart.
 */
#ifndef TRG_POST_H
#define TRG_POST_H

#include <stdbool.h>
#include <stddef.h>

#include "curl_loop.h"
#include "invoke.h"

struct ev_loop;
struct trg_post_call;

/* What differs between the invoker types that POST; one static const per type. */
struct trg_post_kind {
    const char *component;    /* log component: "http", "lambda" */
    const char *timeout_hint; /* ends "<id> timed out after N ms; <timeout_hint>" */
    const char *failed_hint;  /* ends "<id> POST <url> failed: <curl's error>; <failed_hint>" */
    bool log_max_body;        /* the too-large line names the limit: "max_response_bytes (N)" */
    /* Request headers for one call, or NULL when out of memory. ctx is trg_post.ctx; request_id
     * is the call's copy. The caller of the hook takes ownership of the list. */
    struct curl_slist *(*headers)(const void *ctx, const char *request_id);
    /* Classify a response that arrived (the transport went well): set res->outcome, and for
     * errors res->function_error (owned by res). res already holds status, body, content type,
     * duration and retry_after_ms = -1; resp's remaining fields may be taken (set to NULL). name
     * and request_id are for logs. */
    void (*classify)(const char *name, const char *request_id, struct trg_curl_resp *resp,
                     struct trg_invoke_result *res);
};

/* The POST calls of one invoker instance. The caller fills the first fields, which are all
 * borrowed for the instance's lifetime, then calls trg_post_open(). */
struct trg_post {
    const struct trg_post_kind *kind;
    const void *ctx;       /* passed to kind->headers (the invoker's options or instance) */
    const char *name;      /* instance name, for logs */
    const char *url;       /* where every call POSTs to */
    size_t max_body;       /* longest response body accepted */
    const char *userpwd;   /* "key:secret", or NULL */
    const char *aws_sigv4; /* CURLOPT_AWS_SIGV4 value, or NULL (unsigned) */
    /* set by trg_post_open(), private */
    struct trg_curl_loop *cl;
    struct trg_post_call *calls;
};

/* Acquire the curl loop of loop. Returns 0, TRG_ENOMEM or TRG_EIO. */
int trg_post_open(struct trg_post *post, struct ev_loop *loop);
/* Cancel the calls in flight (their callbacks are NOT called) and release the curl loop. Safe on
 * a zeroed or never opened post. */
void trg_post_close(struct trg_post *post);
/* Start one invocation (see invoke.h's invoke()): req->payload is borrowed until cb is called.
 * Returns 0, or TRG_ENOMEM / TRG_EIO and then cb is never called. cb may trg_post_close() the
 * post (destroy the instance). */
int trg_post_invoke(struct trg_post *post, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg);

/* For headers hooks: append the line "name: value" (or line as is) to *list. On failure (out of
 * memory) the whole list is freed, *list set to NULL, and false returned. */
bool trg_post_header(struct curl_slist **list, const char *name, const char *value);
bool trg_post_header_line(struct curl_slist **list, const char *line);

/* For classify hooks: res is an error named function_error (copied). */
void trg_post_error(struct trg_invoke_result *res, const char *function_error);
/* For classify hooks: HTTP 413, the payload is too large: rejected "RequestTooLarge", logged. */
void trg_post_reject_too_large(const char *component, const char *name, const char *request_id,
                               struct trg_invoke_result *res);

#endif
