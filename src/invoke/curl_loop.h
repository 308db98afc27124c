/* curl_loop.h — one libcurl multi handle per libev loop, driven through the multi-socket API.
 *
 * Private to src/invoke/. Every http and lambda invoker on a loop shares one multi handle, so
 * keep-alive connections are pooled across instances (the multi's connection cache). The curl
 * loop is created lazily, keyed by the ev loop: trg_curl_loop_acquire() returns the loop's curl
 * loop (creating it, and calling curl_global_init() for the first one) and takes a reference;
 * trg_curl_loop_release() drops it, and the last release frees the multi handle (deferred to the
 * end of the current curl callback when called from inside one). Single-threaded, like the rest
 * of trigd: all calls happen on the loop's thread.
 *
 * On top of it, trg_curl_post is the one POST request the http and lambda invokers make: it
 * collects the body (bounded), Content-Type, Retry-After and X-Amz-Function-Error, and times it.
 */
#ifndef TRG_CURL_LOOP_H
#define TRG_CURL_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

struct ev_loop;
struct trg_curl_loop;

/* Get the curl loop of loop, creating it on first use; takes a reference. Returns 0, TRG_ENOMEM or
 * TRG_EIO (libcurl failed to initialise). Release with trg_curl_loop_release(). */
int trg_curl_loop_acquire(struct ev_loop *loop, struct trg_curl_loop **out);
/* Drop a reference. The caller must have removed its transfers first. NULL is a no-op. */
void trg_curl_loop_release(struct trg_curl_loop *cl);

/* Called once when a transfer finished (code is CURLE_OK or the transfer's error). The easy
 * handle has already been removed from the multi handle; the callback owns it again. */
typedef void (*trg_curl_done_cb)(void *arg, CURL *easy, CURLcode code);

/* Start a transfer. The easy handle is borrowed until done_cb is called or
 * trg_curl_loop_remove() returns; its CURLOPT_PRIVATE belongs to the curl loop meanwhile.
 * done_cb is never called from inside this function. Called from inside a libcurl callback (a
 * write callback of another transfer), where libcurl refuses new transfers, the transfer is
 * queued and started on the next loop turn. Returns 0, TRG_ENOMEM or TRG_EIO. */
int trg_curl_loop_add(struct trg_curl_loop *cl, CURL *easy, trg_curl_done_cb cb, void *arg);
/* Cancel a transfer started with trg_curl_loop_add(): its callback is not called. */
void trg_curl_loop_remove(struct trg_curl_loop *cl, CURL *easy);
/* Transfers in progress (for tests and status). */
size_t trg_curl_loop_active(const struct trg_curl_loop *cl);

/* ---- one POST request ------------------------------------------------------------------- */

struct trg_curl_post_req {
    const char *url;
    struct curl_slist *headers; /* extra request headers; trg_curl_post_start() takes ownership
                                 * (also when it fails) */
    const char *payload;        /* borrowed until the callback returns */
    size_t len;
    int64_t timeout_ms;         /* whole-transfer deadline; <= 0 = none */
    size_t max_body;            /* a longer response body aborts the transfer (body_too_large) */
    const char *userpwd;        /* "key:secret" for CURLOPT_USERPWD, or NULL; copied */
    const char *aws_sigv4;      /* CURLOPT_AWS_SIGV4 ("aws:amz:us-east-1:lambda"), or NULL; copied */
};

struct trg_curl_resp {
    CURLcode code;            /* CURLE_OK, or what went wrong with the transfer */
    const char *error;        /* curl's detailed error text ("" when none) */
    long status;              /* HTTP status of the last response, 0 when there was none */
    struct trg_buf body;      /* response body (may be empty); the callback may trg_buf_steal() it */
    bool body_too_large;      /* the body exceeded max_body (code is then CURLE_WRITE_ERROR) */
    bool nomem;               /* an allocation failed while receiving */
    char *content_type;       /* or NULL; the callback may take it (set the field to NULL) */
    char *function_error;     /* X-Amz-Function-Error, or NULL; the callback may take it */
    bool executed_version;    /* the response carried X-Amz-Executed-Version (AWS Lambda always sends it) */
    int64_t retry_after_ms;   /* from Retry-After (delta-seconds or HTTP date), -1 when absent */
    double duration_ms;       /* from start to completion */
};

struct trg_curl_post;
/* resp is borrowed until the callback returns; the post is freed right after it. */
typedef void (*trg_curl_post_cb)(void *arg, struct trg_curl_resp *resp);

/* Start a POST on cl. On success *out is the request handle, valid until the callback is
 * called or trg_curl_post_cancel(). The callback is never called from inside this function.
 * Returns 0, TRG_ENOMEM or TRG_EIO. */
int trg_curl_post_start(struct trg_curl_loop *cl, const struct trg_curl_post_req *req, trg_curl_post_cb cb,
                        void *arg, struct trg_curl_post **out);
/* Cancel a POST in progress and free it; the callback is not called. NULL is a no-op. */
void trg_curl_post_cancel(struct trg_curl_post *p);

/* Parse a Retry-After value (delta-seconds or an HTTP date) into milliseconds from now_wall_ms;
 * -1 when it is neither. A date in the past gives 0. */
int64_t trg_curl_parse_retry_after(const char *value, int64_t now_wall_ms);

#endif
