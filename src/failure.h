/* failure.h — delivering a route's finally failed events (retries exhausted, too old, too large, rejected):
 * to the DLQ as a Lambda on-failure record (src/dlq.c), or, when the route's on_failure names one, to the
 * source's own target (ops->on_failure: kafka://TOPIC). The events are released once the record is
 * durable; while a write fails the route is blocked (its source paused, nothing dropped) and the writes
 * are retried every second. Engine-internal.
 *
 * failure.c owns struct trg_failure, embedded in each route (route.c only reads `blocked`).
 */
#ifndef TRG_FAILURE_H
#define TRG_FAILURE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlq.h"
#include "list.h"

struct trg_batch;
struct trg_route;

struct trg_failure {
    struct trg_list jobs;     /* writes in progress or waiting to be retried */
    ev_timer retry;
    bool blocked;             /* a write failed: the route's source is paused until the writes succeed */
    uint64_t failures;        /* failed writes since it was last blocked */
    double logged_at;         /* ev_now() of the last "cannot write" line (one a minute while blocked) */
};

/* Set up r->failure (route creation). */
void trg_failure_init(struct trg_route *r);
/* Stop retrying (route destruction; nothing may be in flight). */
void trg_failure_stop(struct trg_route *r);
/* Deliver n entries (unlinked from anything, in list) with condition cond; they are released once durable.
 * b (may be NULL) gives the last attempt's details (status, error, response, request id). */
void trg_failure_send(struct trg_route *r, struct trg_list *list, size_t n, enum trg_dlq_condition cond,
                      const struct trg_batch *b);
/* Abandon every delivery (shutdown): its entries are released as abandoned; a write in flight finishes
 * unseen. */
void trg_failure_abandon(struct trg_route *r);

#endif
