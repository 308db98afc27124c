/* metrics.h — the Prometheus metrics of DESIGN.md §3, rendered as text for GET /metrics.
 *
 * Families are fixed (enum trg_metric); a sample is identified by its family and up to two label
 * values, in the order the family declares its labels. Lookups are by hash; no locks (one loop).
 */
#ifndef TRG_METRICS_H
#define TRG_METRICS_H

#include "util.h"

enum trg_metric {
    TRG_M_EVENTS_RECEIVED,      /* counter   {source} */
    TRG_M_EVENTS_FILTERED,      /* counter   {route} */
    TRG_M_INVOCATIONS,          /* counter   {function,outcome} */
    TRG_M_INVOCATION_DURATION,  /* histogram {function}, seconds */
    TRG_M_BATCH_SIZE,           /* histogram {route}, events */
    TRG_M_RETRIES,              /* counter   {route} */
    TRG_M_DLQ_EVENTS,           /* counter   {route,condition} */
    TRG_M_INFLIGHT,             /* gauge     {function} */
    TRG_M_SOURCE_LAG,           /* gauge     {source} */
    TRG_M_QUEUED,               /* gauge     {route}: events in the route (waiting, batched or invoked) */
    TRG_M_REJECTED,             /* counter   {source}: events refused (full, stopping) */
    TRG_M_INTAKE_DEPTH,         /* gauge     {route}: entries in the route's durable intake stream */
    TRG_M_SOURCE_EVENTS,        /* counter   {source,event}: what a source counted (skipped fires, ...) */
    TRG_M_PARTITION_LAG,        /* gauge     {source,partition}: records not read yet, per partition (kafka) */
    TRG_M_PAUSED_PARTITIONS,    /* gauge     {source}: partitions paused right now (backpressure) */
    TRG_M_BILLED_MS,            /* counter   {function}: billed milliseconds (runtime functions) */
    TRG_M_GB_SECONDS,           /* counter   {function}: memory_mb / 1024 x billed seconds */
    TRG_M_COLD_STARTS,          /* counter   {function}: instances started for an invoke or provisioned */
    TRG_M_INIT_DURATION,        /* histogram {function}, seconds: spawn to the first `next` */
    TRG_M_INSTANCES,            /* gauge     {function,state}: initializing, idle, busy */
    TRG_M_ASYNC_EVENTS,         /* counter   {function,event}: Invoke API Event invocations (async.c) */
    TRG_M_DLQ_WRITE_FAILURES,   /* counter   {route}: DLQ writes that failed (each is retried) */
    TRG_M_DLQ_BLOCKED,          /* gauge     {route}: 1 while the route waits for the DLQ to take a write */
    TRG_M_SOURCE_HELD,          /* gauge     {source}: events the engine holds for the source (hold.h) */
    TRG_M__COUNT
};

struct trg_metrics;

int trg_metrics_create(struct trg_metrics **out);
void trg_metrics_destroy(struct trg_metrics *m);  /* NULL is a no-op */

/* l2 is NULL for one-label families. Allocation failures are ignored (a metric is not worth a crash). */
void trg_metrics_add(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2, double v);
void trg_metrics_set(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2, double v);
void trg_metrics_observe(struct trg_metrics *m, enum trg_metric f, const char *l1, double v);
/* Remove a sample (a gauge of something that is gone, e.g. a revoked partition); absent is a no-op. */
void trg_metrics_remove(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2);
/* Current value of a counter or gauge sample (0 when absent); for tests and trigctl status. */
double trg_metrics_get(const struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2);

/* Append the Prometheus text exposition (version 0.0.4) of every family to out. */
int trg_metrics_render(const struct trg_metrics *m, struct trg_buf *out);

#endif
