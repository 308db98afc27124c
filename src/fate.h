/* fate.h — what becomes of a batch's events after an invocation, as a pure function.
 *
 * From the outcome (success, partial with the failed items, failure, throttle, rejection, or "about to be
 * invoked"), the route's policy, each event's attempts, receive limit and creation time, and the clock,
 * trg_fate_decide() says per event: released (done), retried, or sent to the DLQ and why; and for what is
 * retried, whether the batch is bisected and after what delay. dispatch.c applies the verdict; this file
 * reads no clock and no state, so every rule is unit-tested (tests/unit/test_fate.c), as retry.c is.
 *
 * The rules (docs/ARCHITECTURE.md, "Dispatch"):
 *   - success: every event is released. Rejected: every event to the DLQ (Rejected).
 *   - partial: the items that did not fail are released; on an ordered lane only those before the first
 *     failed item, so that order holds; the rest fail.
 *   - failure (and the failed items of a partial response): each event's attempts go up by one; past
 *     max_retry_attempts, or at its source's max_receives, it goes to the DLQ (RetryAttemptsExhausted);
 *     older than max_record_age_s, to the DLQ (EventAgeExceeded); the rest is retried after the backoff
 *     of the highest attempt count among what is retried first, bisected when bisect_on_error and more
 *     than one event is left (the first half of them retried as this batch, the rest apart).
 *   - throttled: attempts do not change; expired events go to the DLQ; the rest is retried after the
 *     larger of the backoff and Retry-After.
 *   - before an invocation: expired events go to the DLQ, the rest is invoked (delay 0).
 */
#ifndef TRG_FATE_H
#define TRG_FATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlq.h"
#include "retry.h"

enum trg_fate_kind {
    TRG_FATE_SUCCESS,
    TRG_FATE_PARTIAL,   /* success with failed items (failed[] names them) */
    TRG_FATE_FAILED,    /* function error, or a malformed partial response */
    TRG_FATE_THROTTLED,
    TRG_FATE_REJECTED,
    TRG_FATE_BEFORE,    /* the batch is about to be invoked (or invoked again) */
};

struct trg_fate_policy {
    int64_t max_retry_attempts; /* -1: no limit */
    int64_t max_record_age_s;   /* -1: no limit */
    int64_t retry_base_ms, retry_max_ms;
    bool bisect_on_error;
};

enum trg_fate_verdict { TRG_FATE_RELEASE, TRG_FATE_RETRY, TRG_FATE_DLQ };

/* One event of the batch, in batch order. */
struct trg_fate_entry {
    int attempts;        /* in: failed invocations so far; out: this one counted when it failed */
    int max_receives;    /* > 0: the source's receive limit (trg_event.max_receives) */
    int64_t created_ms;  /* wall clock */
    enum trg_fate_verdict verdict;   /* out */
    enum trg_dlq_condition cond;     /* out, when verdict is TRG_FATE_DLQ */
};

struct trg_fate {
    size_t retried;      /* events with verdict RETRY */
    bool split;          /* bisect: the first retried/2 retried events stay in the batch, the rest leave it */
    int64_t delay_ms;    /* before the retry (0 for TRG_FATE_BEFORE) */
};

/* Decide the fate of n events. failed: n flags for TRG_FATE_PARTIAL (else unused, may be NULL); ordered:
 * the batch is from an ordered lane; retry_after_ms: the function's Retry-After when throttled (< 0: none);
 * rnd/rs: the random source of the backoff's jitter. */
void trg_fate_decide(const struct trg_fate_policy *p, enum trg_fate_kind kind, const bool *failed, bool ordered,
                     int64_t retry_after_ms, int64_t now_ms, struct trg_fate_entry *en, size_t n,
                     struct trg_fate *out, trg_rand_fn rnd, void *rs);

#endif
