/* invoke_api.h — the Lambda Invoke API on trigd's HTTP server (docs/ADMIN.md):
 *   POST /2015-03-31/functions/{name}/invocations[?Qualifier=Q]   RequestResponse, Event, DryRun
 *   POST /2014-11-13/functions/{name}/invoke-async/               the legacy InvokeAsync (Event, 256 KB)
 * Served through lambda_api.c, which checks the credentials first. The parsing of a request is a pure
 * function (trg_invoke_api_parse) so that it can be fuzzed and unit-tested without a server.
 */
#ifndef TRG_INVOKE_API_H
#define TRG_INVOKE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INVOKE_PREFIX "/2015-03-31/functions/"
#define INVOKE_ASYNC_PREFIX "/2014-11-13/functions/"
#define INVOKE_MAX_BODY 6291456u       /* Lambda's synchronous payload limit */
#define INVOKE_EVENT_MAX_BODY 1048576u /* Lambda's asynchronous payload limit */
#define INVOKE_ASYNC_MAX_BODY 262144u  /* InvokeAsync's limit */

struct trg_async;
struct trg_engine;
struct trg_http_req;

enum trg_invoke_type {
    TRG_INVOKE_SYNC = 0,
    TRG_INVOKE_EVENT = 1,
    TRG_INVOKE_DRYRUN = 2
};

/* One parsed Invoke request. */
struct trg_invoke_call {
    char *name;      /* the function name alone (from a name, name:qualifier or ARN) */
    char *qualifier; /* the qualifier (from the name or ?Qualifier=), or NULL for none */
    enum trg_invoke_type type;
    bool tail;         /* X-Amz-Log-Type: Tail */
    bool legacy_async; /* the 2014-11-13 InvokeAsync path */
    /* When parsing fails: the HTTP status, the AWS error type and a message (static strings). */
    int err_status;
    const char *err_type;
    const char *err_msg;
};

/* Parse an Invoke request. path: the decoded path (INVOKE_PREFIX NAME "/invocations" or INVOKE_ASYNC_PREFIX
 * NAME "/invoke-async/"); query: the raw query string ("" or NULL for none); invocation_type and log_type: the
 * X-Amz-Invocation-Type and X-Amz-Log-Type headers (NULL when absent). Any bytes are accepted. Returns 0 with
 * out filled (caller frees with trg_invoke_call_clear()), TRG_EINVAL with err_status/err_type/err_msg set
 * and no strings allocated, or TRG_ENOMEM. */
int trg_invoke_api_parse(const char *path, const char *query, const char *invocation_type,
                         const char *log_type, struct trg_invoke_call *out);
/* Free the strings of a parsed call (not the struct). */
void trg_invoke_call_clear(struct trg_invoke_call *c);
/* Is this qualifier one trigd serves? (NULL, "" and "$LATEST": trigd has no versions or aliases.) */
bool trg_invoke_qualifier_ok(const char *qualifier);

struct trg_buf;
struct trg_invoke_result;
/* Append to b the error object Lambda gives for a failed invocation ({"errorMessage","errorType"}): exec's exit
 * status as Runtime.ExitError, a timeout as Sandbox.Timedout after timeout_ms, a too-large response as
 * Function.ResponseSizeTooLarge, a Lambda error object from the function as it is. 0 or TRG_ENOMEM. */
int trg_invoke_api_error_body(const char *request_id, int64_t timeout_ms, const struct trg_invoke_result *res,
                              struct trg_buf *b);

/* Handle an Invoke or InvokeAsync request whose caller is authorized already: answers now, or once the
 * invocation finished (RequestResponse) or was queued (Event, through async). e and async are borrowed
 * and must outlive every request. */
void trg_invoke_api_handle(struct trg_engine *e, struct trg_async *async, struct trg_http_req *req);

#endif
