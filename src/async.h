/* async.h — Lambda's asynchronous invocation model for the Invoke API's Event invocations: each event is
 * queued, invoked, retried after a function error per the function's `async` settings (max_retry_attempts
 * 0-2, the wait doubling from retry_delay_ms), dropped once older than max_event_age_s, and what finally
 * fails goes to the function's async on_failure target (the DLQ under the name "async.FUNCTION", or another
 * function, which gets the record as an Event invocation of its own) as Lambda's asynchronous invocation record: version, timestamp,
 * requestContext (requestId, functionArn, condition RetriesExhausted | EventAgeExceeded,
 * approximateInvokeCount), requestPayload, responseContext (statusCode, executedVersion, functionError),
 * responsePayload.
 *
 * Without Redis the queue lives in memory: events still queued when trigd stops are logged and lost. With
 * Redis (the config's "redis"), an event is XADDed to the stream <prefix>async before it counts as queued, read
 * back through the consumer group "trigd-async" by whichever replica, and deleted once it ended (succeeded,
 * or its record was handed to on_failure); a replica that stops or crashes leaves its events pending, to be
 * reclaimed after redis.intake_visibility_timeout_ms (at least once, as the webhook intake).
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
/* Release the Redis reader (its events stay pending in Redis). Call before trg_engine_destroy(), which
 * frees the shared connection; no-op without Redis and for NULL. */
void trg_async_stop(struct trg_async *a);

/* err 0: the event is queued (durably in Redis when configured); else it is not (TRG_EIO: Redis failed). */
typedef void (*trg_async_queued_cb)(void *arg, int err);
/* Queue one event for function (payload and request_id copied). 0: cb is called once, when the event is
 * queued or could not be (at once without Redis, from the loop with). TRG_ENOTFOUND (no such function),
 * TRG_ESTATE (stopping) or a Redis or memory error: nothing was queued and cb is never called. */
int trg_async_submit(struct trg_async *a, const char *function, const char *payload, size_t len,
                     const char *request_id, trg_async_queued_cb cb, void *arg);

#endif
