/* async.h — Lambda's asynchronous invocation model for the Invoke API's Event invocations: each event is
 * queued, invoked, retried after a function error per the function's `async` settings (max_retry_attempts
 * 0-2, the wait doubling from retry_delay_ms), dropped once older than max_event_age_s, and what finally
 * fails goes to the function's async on_failure target (the DLQ under the name "async.FUNCTION", or another
 * function invoked with the record) as Lambda's asynchronous invocation record: version, timestamp,
 * requestContext (requestId, functionArn, condition RetriesExhausted | EventAgeExceeded,
 * approximateInvokeCount), requestPayload, responseContext (statusCode, executedVersion, functionError),
 * responsePayload.
 *
 * The queue lives in memory: events still queued when trigd stops are logged and lost (docs/ADMIN.md).
 * Counted in trigd_async_events_total{function,event} (queued, retried, succeeded, failed, expired).
 */
#ifndef TRG_ASYNC_H
#define TRG_ASYNC_H

#include <stddef.h>

struct trg_async;
struct trg_engine;

/* Create the queue over e (borrowed; it must outlive the queue: destroy the queue after the engine). */
int trg_async_create(struct trg_engine *e, struct trg_async **out);
/* Free everything still queued (each logged as lost). Call after trg_engine_destroy(). NULL is a no-op. */
void trg_async_destroy(struct trg_async *a);
/* Queue one event for function (payload and request_id copied). 0 once queued; TRG_ENOTFOUND (no such
 * function), TRG_ESTATE (stopping) or TRG_ENOMEM, and then nothing was queued. */
int trg_async_submit(struct trg_async *a, const char *function, const char *payload, size_t len,
                     const char *request_id);

#endif
