/* fate.c — the fate of a batch's events after an invocation (rules in fate.h). */
#include "fate.h"

static bool expired(const struct trg_fate_policy *p, const struct trg_fate_entry *e, int64_t now_ms)
{
    return p->max_record_age_s >= 0 && now_ms - e->created_ms > p->max_record_age_s * 1000;
}

static bool exhausted(const struct trg_fate_policy *p, const struct trg_fate_entry *e)
{
    return (p->max_retry_attempts >= 0 && e->attempts > p->max_retry_attempts) ||
           (e->max_receives > 0 && e->attempts >= e->max_receives);
}

static void to_dlq(struct trg_fate_entry *e, enum trg_dlq_condition cond)
{
    e->verdict = TRG_FATE_DLQ;
    e->cond = cond;
}

/* The highest attempt count among the first `first` retried events. */
static int max_attempts(const struct trg_fate_entry *en, size_t n, size_t first)
{
    int a = 0;
    for (size_t i = 0, k = 0; i < n && k < first; i++) {
        if (en[i].verdict != TRG_FATE_RETRY)
            continue;
        k++;
        if (en[i].attempts > a)
            a = en[i].attempts;
    }
    return a;
}

void trg_fate_decide(const struct trg_fate_policy *p, enum trg_fate_kind kind, const bool *failed, bool ordered,
                     int64_t retry_after_ms, int64_t now_ms, struct trg_fate_entry *en, size_t n,
                     struct trg_fate *out, trg_rand_fn rnd, void *rs)
{
    *out = (struct trg_fate){0};
    bool seen_failure = false;
    for (size_t i = 0; i < n; i++) {
        struct trg_fate_entry *e = &en[i];
        bool fails = kind == TRG_FATE_FAILED;
        if (kind == TRG_FATE_PARTIAL) {
            seen_failure |= failed[i];
            fails = ordered ? seen_failure : failed[i];
        }
        e->verdict = TRG_FATE_RETRY;
        if (kind == TRG_FATE_SUCCESS || (kind == TRG_FATE_PARTIAL && !fails)) {
            e->verdict = TRG_FATE_RELEASE;
        } else if (kind == TRG_FATE_REJECTED) {
            to_dlq(e, TRG_DLQ_REJECTED);
        } else if (fails) {
            e->attempts++;
            if (exhausted(p, e))
                to_dlq(e, TRG_DLQ_RETRIES_EXHAUSTED);
            else if (expired(p, e, now_ms))
                to_dlq(e, TRG_DLQ_AGE_EXCEEDED);
        } else if (expired(p, e, now_ms)) { /* throttled, or before an invocation */
            to_dlq(e, TRG_DLQ_AGE_EXCEEDED);
        }
        out->retried += e->verdict == TRG_FATE_RETRY;
    }
    if (out->retried == 0 || kind == TRG_FATE_BEFORE)
        return;
    if (kind == TRG_FATE_THROTTLED) {
        out->delay_ms = trg_throttle_delay_ms(max_attempts(en, n, out->retried), retry_after_ms, p->retry_base_ms,
                                              p->retry_max_ms, rnd, rs);
        return;
    }
    out->split = p->bisect_on_error && out->retried > 1;
    size_t first = out->split ? out->retried / 2 : out->retried;
    out->delay_ms = trg_backoff_ms(max_attempts(en, n, first) - 1, p->retry_base_ms, p->retry_max_ms, rnd, rs);
}
