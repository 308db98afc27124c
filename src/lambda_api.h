/* lambda_api.h — Lambda's own APIs on trigd's HTTP server, for the AWS CLI and SDKs (docs/ADMIN.md):
 *   Invoke and InvokeAsync (invoke_api.c, Event invocations through async.c), and read-only management from
 *   the running config: ListFunctions, GetFunction, GetFunctionConfiguration, GetFunctionConcurrency,
 *   ListEventSourceMappings, GetEventSourceMapping (one mapping per route). Every other Lambda operation
 *   answers AWS's error shape saying it is not supported.
 * Every answer carries x-amzn-RequestId. With http.invoke_credentials every request must be signed with SigV4
 * (403 InvalidSignatureException / UnrecognizedClientException); without them but with http.admin_token, the
 * bearer token is required, as before.
 */
#ifndef TRG_LAMBDA_API_H
#define TRG_LAMBDA_API_H

struct trg_engine;
struct trg_http;
struct trg_lambda_api;

/* Register the handlers on h. e is borrowed; destroy the API after trg_engine_destroy(). */
int trg_lambda_api_register(struct trg_engine *e, struct trg_http *h, struct trg_lambda_api **out);
/* Let go of what the API holds on the engine's Redis connection (the Event queue's reader; its events stay
 * queued in Redis) and answer Event invocations still waiting to be queued. Call before trg_engine_destroy(). */
void trg_lambda_api_stop(struct trg_lambda_api *api);
/* Free the API and its queue of Event invocations. NULL is a no-op. */
void trg_lambda_api_destroy(struct trg_lambda_api *api);

#endif
