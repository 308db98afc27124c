/* intake.h — the durable intake: with `redis`, the events of push sources (webhook, MinIO, MQTT, schedule:
 * durable_intake in their ops) are appended to a stream per route, {prefix}intake:{route}, and read back
 * through the consumer group "trigd" by every replica; an entry is XACKed and XDELed once its events
 * reached their final outcome, so the stream holds only unfinished work. Engine-internal.
 *
 * intake.c owns its readers and the appends in flight. The engine owns the routes: it says which active
 * route has a name, numbers and pushes what a reader took, and hears when a retired source is idle.
 */
#ifndef TRG_INTAKE_H
#define TRG_INTAKE_H

#include <stdbool.h>

struct trg_core;
struct trg_event;
struct trg_list;
struct trg_redis;
struct trg_redis_conf;
struct trg_route;
struct trg_source;

struct trg_intake;

/* What the intake asks of its owner (all from the loop). */
struct trg_intake_owner {
    /* The active route named name, or NULL. */
    struct trg_route *(*route)(void *arg, const char *name);
    /* An event read from r's stream (its refs and status set): number it and push it to r. */
    void (*push)(void *arg, struct trg_route *r, struct trg_event *ev);
    /* A retired source let go of its last event: it can be freed. */
    void (*source_idle)(void *arg);
    /* ev could not be stored: true when the engine kept it to store again (its source holds), false when
     * the source is to hear accepted(ev, err) and ev is dropped. */
    bool (*requeue)(void *arg, struct trg_event *ev);
    void *arg;
};

/* core, redis, conf and owner are borrowed and must outlive the intake. */
int trg_intake_create(struct trg_core *core, struct trg_redis *redis, const struct trg_redis_conf *conf,
                      const struct trg_intake_owner *owner, struct trg_intake **out);
/* Appends still unanswered are given up (their sources hear nothing: outstanding goes down), readers
 * stop. NULL is a no-op. */
void trg_intake_destroy(struct trg_intake *in);

/* Append ev (its src and seq set; counted by trg_source_took) to the stream of every route of
 * its source. 0: the source hears accepted (and done, when stored) later, and the event is the intake's
 * (or, when it could not be stored, the engine's again: owner->requeue); else nothing was sent, the
 * caller still owns ev, and the error says why (TRG_EFULL: refuse it upstream). */
int trg_intake_append(struct trg_intake *in, struct trg_source *src, struct trg_event *ev);
/* Give every active route in routes (struct trg_route.link) fed by a durable source a reader of its
 * stream; readers of routes that went away stay, paused, so a route coming back resumes its backlog.
 * Readers made after trg_intake_start() start at once. */
void trg_intake_sync(struct trg_intake *in, struct trg_list *routes);
/* Start reading, and the stream depth metrics. */
void trg_intake_start(struct trg_intake *in);
/* A route filled or drained (name), or trigd began to stop (NULL: every reader): readers read while their
 * route has room. */
void trg_intake_update(struct trg_intake *in, const char *route);
/* An event the intake pushed reached its end (ev->intake set): XACK and XDEL its entry when it is done,
 * else leave it pending to be reclaimed; frees ev. */
void trg_intake_done(struct trg_event *ev);
/* Appends whose replies have not come yet (shutdown waits for them). */
bool trg_intake_busy(const struct trg_intake *in);

#endif
