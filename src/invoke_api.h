/* invoke_api.h — the Lambda Invoke API on trigd's HTTP server (docs/ADMIN.md):
 *   POST /2015-03-31/functions/{name}/invocations   RequestResponse, Event, DryRun
 * Registered by trg_admin_register(); the same bearer token as /admin/ applies.
 */
#ifndef TRG_INVOKE_API_H
#define TRG_INVOKE_API_H

#define INVOKE_PREFIX "/2015-03-31/functions/"
#define INVOKE_MAX_BODY 6291456u /* Lambda's synchronous payload limit */

struct trg_http_req;

/* The handler of INVOKE_PREFIX (arg: the engine). Answers now or once the invocation finished. */
void trg_invoke_api_request(void *arg, struct trg_http_req *req);

#endif
