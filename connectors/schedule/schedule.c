/* schedule.c — the "schedule" source: cron, rate and at expressions in a time zone fire EventBridge
 * Scheduled Events.
 *
 * Each schedule keeps one ev_timer (libev's monotonic clock) armed for its next fire; the next fire
 * is computed from the wall clock after each fire, so a clock step neither doubles a fire (the next
 * tick is always after the last one) nor loses the armed one (a timer that wakes before its wall
 * time is re-armed; one that wakes late fires at once). With `redis`, every tick is claimed with
 * SET {prefix}sched:{name}:{epoch} <id> NX PX <ttl> (and {prefix}sched:{name}:last raised to it)
 * in one script before it fires, so among replicas exactly one fires it. docs/SCHEDULES.md.
 */
#include <cjson/cJSON.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "../connector.h"
#include "cron.h"
#include "tz.h"

#define CATCH_UP_SCAN_MAX 100000 /* ticks looked at when catching up */
#define TTL_MIN_MS 60000
#define TTL_MAX_MS 86400000
#define ERR_LEN 512
#define SCHED_HOLD 1000 /* fires that may wait for a full route (the engine's hold); later ones are skipped */

enum sched_overlap { OVERLAP_ALLOW, OVERLAP_SKIP };

struct sched_opts {
    char *expression;
    char *timezone;
    char *start;
    char *end;
    int64_t flexible_window_minutes;
    cJSON *input;
    int overlap;
    bool catch_up;
    int64_t catch_up_max;
    bool seconds;
};

static const char *const sched_overlaps[] = {"allow", "skip", NULL};

static const struct trg_opt sched_options[] = {
    {"expression", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct sched_opts, expression),
     "When to fire: cron(min hour dom month dow year), a 5-field crontab line, @daily..., "
     "rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss) (docs/SCHEDULES.md).",
     NULL, TRG_OPT_REQUIRED},
    {"timezone", TRG_OPT_STRING, "\"UTC\"", 0, 0, NULL, offsetof(struct sched_opts, timezone),
     "IANA time zone of cron and at expressions, start and end, from the system's zoneinfo.", NULL, 0},
    {"start", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct sched_opts, start),
     "No fire before this time (yyyy-mm-ddThh:mm:ss in the zone, or with Z or +hh:mm); rate() counts from it.",
     NULL, 0},
    {"end", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct sched_opts, end),
     "No fire after this time (same format as start).", NULL, 0},
    {"flexible_window_minutes", TRG_OPT_INT, "0", 0, 1440, "minutes",
     offsetof(struct sched_opts, flexible_window_minutes),
     "Fire at a uniformly random moment this long after each scheduled time (0 = on time).", NULL, 0},
    {"input", TRG_OPT_JSON, NULL, 0, 0, NULL, offsetof(struct sched_opts, input),
     "JSON sent instead of the Scheduled Event; <aws.scheduler.scheduled-time> and "
     "<aws.scheduler.execution-id> in it are replaced.",
     NULL, 0},
    {"overlap", TRG_OPT_ENUM, "\"allow\"", 0, 0, NULL, offsetof(struct sched_opts, overlap),
     "allow: fire even while the previous fire is unfinished; skip: skip (and count) such fires.",
     sched_overlaps, 0},
    {"catch_up", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct sched_opts, catch_up),
     "On start, fire the ticks missed since the last fire stored in Redis (needs `redis`).", NULL, 0},
    {"catch_up_max", TRG_OPT_INT, "10", 1, 1000, "fires", offsetof(struct sched_opts, catch_up_max),
     "Most missed ticks fired by catch_up (the latest ones; older ones are logged and dropped).", NULL, 0},
    {"seconds", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct sched_opts, seconds),
     "Test-only: the expression is 6 crontab fields starting with seconds (second minute hour dom month dow).",
     NULL, 0},
};

struct sched;

/* A tick being claimed in Redis; outlives the schedule when its reply is still pending. */
struct claim {
    struct sched *s; /* NULL once the schedule is gone */
    struct claim *next;
    int64_t tick;
    bool catch_up;
    char id[40];
};

struct sched {
    struct trg_source *src;
    const struct sched_opts *opts;
    const char *name;
    struct ev_loop *loop;
    struct trg_redis *redis;
    struct trg_cron cron;
    struct trg_tz *tz;
    char *input;         /* opts->input printed, NULL = the Scheduled Event */
    ev_timer timer;
    bool armed, started, caught_up, catch_up_pending;
    bool waiting_full;   /* SCHED_HOLD fires wait for a full route (pause): the next ones are skipped */
    int64_t tick;        /* the armed scheduled time, UTC seconds */
    int64_t fire_ms;     /* when it fires (tick + flexible delay), wall ms */
    int64_t last_tick;   /* the last tick fired here, or -1 */
    size_t inflight;     /* fires emitted (or being claimed) and not done */
    uint64_t fires, skipped_overlap, claims_lost, failed;
    struct claim *claims;
};

/* ---- configuration ---------------------------------------------------------------------------- */

static void add_err(struct trg_errs *errs, const char *path, const char *key, const char *msg)
{
    char *p = trg_asprintf("%s.%s", path ? path : "$", key);
    trg_errs_add(errs, p ? p : path, "%s", msg);
    trg_free(p);
}

/* Everything the options mean, for check and create. On error writes into err and names the key. */
static int build(const struct sched_opts *o, struct trg_cron *cron, struct trg_tz **tz, const char **key,
                 char *err, size_t errlen)
{
    char why[256];
    int64_t t;
    bool zoned;

    *tz = NULL;
    *key = "expression";
    if (trg_cron_parse(o->expression, o->seconds ? TRG_CRON_SECONDS : 0, cron, why, sizeof why) < 0) {
        snprintf(err, errlen, "%.*s: %s", 100, o->expression, why);
        return TRG_EINVAL;
    }
    *key = "timezone";
    if (strcmp(o->timezone, "UTC") != 0 && strcmp(o->timezone, "Etc/UTC") != 0) {
        int rc = trg_tz_load(o->timezone, tz, err, errlen);
        if (rc < 0)
            return rc;
    }
    const char *keys[] = {"start", "end"};
    const char *vals[] = {o->start, o->end};
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        *key = keys[i];
        if (trg_cron_parse_time(vals[i], &t, &zoned) < 0) {
            snprintf(err, errlen, "\"%s\" is not yyyy-mm-ddThh:mm:ss (optionally with Z or +hh:mm)", vals[i]);
            goto fail;
        }
        if (!zoned && trg_tz_to_utc(*tz, t, &t) == 0) {
            snprintf(err, errlen, "%s does not exist in %s (a daylight-saving gap)", vals[i], o->timezone);
            goto fail;
        }
        if (i == 0)
            cron->has_not_before = true, cron->not_before = cron->anchor = t;
        else
            cron->has_not_after = true, cron->not_after = t;
    }
    if (cron->has_not_before && cron->has_not_after && cron->not_after < cron->not_before) {
        *key = "end";
        snprintf(err, errlen, "end is before start");
        goto fail;
    }
    return 0;
fail:
    trg_tz_free(*tz);
    *tz = NULL;
    return TRG_EINVAL;
}

static void sched_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct sched_opts *o = opts;
    struct trg_cron cron;
    struct trg_tz *tz;
    const char *key;
    char err[ERR_LEN];

    if (!o->expression || !o->timezone)
        return; /* already reported */
    if (build(o, &cron, &tz, &key, err, sizeof err) < 0) {
        add_err(errs, path, key, err);
        return;
    }
    trg_tz_free(tz);
    if (o->seconds && o->flexible_window_minutes)
        add_err(errs, path, "flexible_window_minutes", "cannot be used with the test-only seconds form");
}

static int sched_create(struct trg_source *src, const void *opts, void **out)
{
    struct sched *s = trg_calloc(1, sizeof *s);
    const char *key;
    char err[ERR_LEN];
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!s)
        return TRG_ENOMEM;
    s->src = src;
    s->opts = opts;
    s->name = trg_source_name(src);
    s->loop = trg_source_loop(src);
    s->last_tick = -1;
    /* the zoneinfo file is read here, once, when the config is loaded */
    if ((rc = build(s->opts, &s->cron, &s->tz, &key, err, sizeof err)) < 0) {
        trg_error("schedule", s->name, "%s: %s", key, err);
        goto fail;
    }
    if (s->opts->input && !(s->input = cJSON_PrintUnformatted(s->opts->input))) {
        rc = TRG_ENOMEM;
        goto fail;
    }
    ev_timer_init(&s->timer, NULL, 0., 0.);
    /* a fire the route cannot take yet waits in the engine's hold, in order, as EventBridge Scheduler
     * retries a throttled target */
    trg_source_set_hold(src, SCHED_HOLD, SCHED_HOLD * 4096);
    *out = s;
    return 0;
fail:
    trg_tz_free(s->tz);
    if (s->input)
        cJSON_free(s->input);
    trg_free(s);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------------------------- */


/* "2025-06-14T09:00:00Z", or with offset != INT32_MIN the local time "2025-06-14T11:00:00+02:00". */
static void format_time(int64_t t, int32_t offset, char out[40])
{
    int64_t local = t + (offset == INT32_MIN ? 0 : offset);
    int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400, y;
    int64_t rem = local - days * 86400;
    int m, d;
    trg_civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, 40, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    if (offset == INT32_MIN) {
        snprintf(out + n, (size_t)(40 - n), "Z");
    } else {
        int32_t a = offset < 0 ? -offset : offset;
        snprintf(out + n, (size_t)(40 - n), "%c%02d:%02d", offset < 0 ? '-' : '+', (int)(a / 3600),
                 (int)(a / 60 % 60));
    }
}

/* Append text with every occurrence of pat replaced by rep. */
static int add_replaced(struct trg_buf *b, const char *text, const char *const *pats, const char *const *reps,
                        size_t n)
{
    const char *p = text;
    int rc = 0;
    while (*p && !rc) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strncmp(p, pats[i], strlen(pats[i])) == 0)
                break;
        if (i < n) {
            rc = trg_buf_adds(b, reps[i]);
            p += strlen(pats[i]);
        } else {
            rc = trg_buf_addc(b, *p++);
        }
    }
    return rc;
}

static int build_event(struct sched *s, int64_t tick, const char *id, struct trg_buf *b)
{
    char when[40];
    int rc;

    format_time(tick, INT32_MIN, when);
    if (s->input) {
        static const char *const pats[] = {"<aws.scheduler.scheduled-time>", "<aws.scheduler.execution-id>"};
        const char *reps[] = {when, id};
        return add_replaced(b, s->input, pats, reps, 2);
    }
    char *arn = trg_asprintf("arn:aws:events:local:000000000000:rule/%s", s->name);
    if (!arn)
        return TRG_ENOMEM;
    rc = trg_buf_addf(b,
                      "{\"version\":\"0\",\"id\":\"%s\",\"detail-type\":\"Scheduled Event\",\"source\":"
                      "\"aws.events\",\"account\":\"000000000000\",\"time\":\"%s\",\"region\":\"local\","
                      "\"resources\":[",
                      id, when);
    rc = rc ? rc : trg_buf_add_json_str(b, arn, strlen(arn));
    rc = rc ? rc : trg_buf_adds(b, "],\"detail\":{}}");
    trg_free(arn);
    return rc;
}

/* ---- firing ----------------------------------------------------------------------------------- */

static void emit_tick(struct sched *s, int64_t tick, const char *id)
{
    struct trg_buf b = {0};
    struct trg_event *ev = NULL;
    char when[40];
    size_t len;
    int err;

    format_time(tick, INT32_MIN, when);
    if (s->waiting_full) {
        s->inflight--;
        s->failed++;
        trg_source_count(s->src, "skipped_full", 1);
        trg_warn("schedule", s->name, "the fire of %s is skipped: %d earlier fires still wait for the route, "
                 "which is full (raise its limits or slow the schedule)", when, SCHED_HOLD);
        return;
    }
    if (build_event(s, tick, id, &b) < 0)
        goto oom;
    len = b.len;
    if (!(ev = trg_event_new(trg_buf_steal(&b), len)) || !(ev->item_id = trg_strdup(id)))
        goto oom;
    ev->created_ms = tick * 1000;
    /* With `redis`, a fire goes through the route's durable intake (a crash of trigd does not lose it),
     * except with overlap: skip, which needs to hear when the function is done. */
    ev->no_intake = s->opts->overlap == OVERLAP_SKIP;
    err = trg_source_emit(s->src, ev);
    if (err < 0) {
        trg_event_free(ev);
        s->inflight--;
        s->failed++;
        trg_warn("schedule", s->name, "the fire of %s was refused (%s): it is lost", when, trg_strerror(err));
        return;
    }
    s->fires++;
    if (tick > s->last_tick)
        s->last_tick = tick;
    trg_debug("schedule", s->name, "fired %s (id %s)", when, id);
    return;
oom:
    trg_buf_free(&b);
    trg_event_free(ev);
    s->inflight--;
    s->failed++;
    trg_error("schedule", s->name, "out of memory building the event of %s: this fire is lost", when);
}

static void claim_unlink(struct sched *s, struct claim *c)
{
    for (struct claim **pp = &s->claims; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static void claim_cb(void *arg, redisReply *reply)
{
    struct claim *c = arg;
    struct sched *s = c->s;
    char when[40];

    if (!s) {
        trg_free(c);
        return;
    }
    claim_unlink(s, c);
    format_time(c->tick, INT32_MIN, when);
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        emit_tick(s, c->tick, c->id);
    } else {
        s->inflight--;
        if (reply && reply->type == REDIS_REPLY_INTEGER) {
            s->claims_lost++;
            trg_source_count(s->src, "fired_elsewhere", 1);
            trg_debug("schedule", s->name, "%s was fired by another replica", when);
        } else {
            s->failed++;
            trg_source_count(s->src, "not_fired", 1);
            trg_warn("schedule", s->name, "cannot claim the fire of %s in Redis (%s): not fired; check Redis",
                     when, reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer");
        }
    }
    trg_free(c);
}

/* SET tick NX PX ttl, and raise :last to the tick, atomically; 1 when this replica won. */
static const char claim_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "local last = tonumber(redis.call('GET', KEYS[2]) or '') "
    "if not last or last < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3]) end "
    "return 1 end return 0";

static void fire(struct sched *s, int64_t tick, bool catch_up)
{
    char id[40], when[40];

    format_time(tick, INT32_MIN, when);
    if (!catch_up && s->opts->overlap == OVERLAP_SKIP && s->inflight > 0) {
        s->skipped_overlap++;
        trg_source_count(s->src, "skipped_overlap", 1);
        trg_info("schedule", s->name, "skipped the fire of %s: the previous fire is still running (overlap: skip)",
                 when);
        return;
    }
    trg_source_request_id(s->src, id);
    s->inflight++;
    if (!s->redis) {
        emit_tick(s, tick, id);
        return;
    }
    struct claim *c = trg_calloc(1, sizeof *c);
    char *k1 = NULL, *k2 = NULL, ttl[24], tk[24];
    int64_t nx, ttl_ms = TTL_MIN_MS;
    if (trg_cron_next(&s->cron, s->tz, tick, &nx) && (nx - tick) * 2000 > ttl_ms)
        ttl_ms = (nx - tick) * 2000 > TTL_MAX_MS ? TTL_MAX_MS : (nx - tick) * 2000;
    const char *prefix = trg_redis_prefix(s->redis);
    k1 = trg_asprintf("%ssched:%s:%lld", prefix, s->name, (long long)tick);
    k2 = trg_asprintf("%ssched:%s:last", prefix, s->name);
    if (!c || !k1 || !k2) {
        trg_free(c);
        s->inflight--;
        s->failed++;
        trg_error("schedule", s->name, "out of memory claiming the fire of %s: not fired", when);
        goto done;
    }
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    snprintf(tk, sizeof tk, "%lld", (long long)tick);
    c->s = s;
    c->tick = tick;
    c->catch_up = catch_up;
    memcpy(c->id, id, sizeof c->id);
    const char *argv[] = {"EVAL", claim_script, "2", k1, k2, id, ttl, tk};
    if (trg_redis_command(s->redis, claim_cb, c, 8, argv, NULL) < 0) {
        trg_free(c);
        s->inflight--;
        s->failed++;
        trg_warn("schedule", s->name,
                 "Redis is not connected: the fire of %s is not claimed and not fired (catch_up can recover it "
                 "on a later start)",
                 when);
        goto done;
    }
    c->next = s->claims;
    s->claims = c;
done:
    trg_free(k1);
    trg_free(k2);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Arm the timer for the first tick after `after` (UTC seconds). */
static void arm(struct sched *s, int64_t after)
{
    int64_t tick;
    char when[40];

    s->armed = false;
    if (!trg_cron_next(&s->cron, s->tz, after, &tick)) {
        trg_info("schedule", s->name, "no more fire times: the schedule is finished");
        return;
    }
    s->tick = tick;
    s->fire_ms = tick * 1000;
    if (s->opts->flexible_window_minutes > 0)
        s->fire_ms += (int64_t)(trg_source_random(s->src) % (uint64_t)(s->opts->flexible_window_minutes * 60000));
    ev_now_update(s->loop);
    int64_t wait = s->fire_ms - trg_wall_ms();
    ev_timer_set(&s->timer, wait > 0 ? (double)wait / 1000. : 0., 0.);
    ev_timer_start(s->loop, &s->timer);
    s->armed = true;
    format_time(tick, INT32_MIN, when);
    trg_debug("schedule", s->name, "next fire %s", when);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sched *s = w->data;
    int64_t now = trg_wall_ms();
    (void)loop;
    (void)revents;

    s->armed = false;
    if (now < s->fire_ms) { /* the wall clock went back, or the timer woke early: wait on */
        ev_timer_set(&s->timer, (double)(s->fire_ms - now) / 1000., 0.);
        ev_timer_start(s->loop, &s->timer);
        s->armed = true;
        return;
    }
    int64_t tick = s->tick;
    fire(s, tick, false);
    /* From the wall clock: ticks that passed while the clock jumped ahead are not fired in a burst. */
    int64_t after = now / 1000 - s->opts->flexible_window_minutes * 60;
    arm(s, after > tick ? after : tick);
}

/* ---- catch-up --------------------------------------------------------------------------------- */

static void catch_up_cb(void *arg, redisReply *reply)
{
    struct claim *c = arg; /* a claim used as a weak reference */
    struct sched *s = c->s;
    int64_t last, t, now_s, *ring = NULL;
    size_t n = 0, total = 0, max;

    if (s)
        claim_unlink(s, c);
    trg_free(c);
    if (!s)
        return;
    s->catch_up_pending = false;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        trg_warn("schedule", s->name, "cannot read the last fire from Redis: no catch-up; will retry on reconnect");
        return;
    }
    s->caught_up = true;
    if (reply->type != REDIS_REPLY_STRING) {
        trg_info("schedule", s->name, "no last fire stored in Redis: nothing to catch up");
        return;
    }
    last = strtoll(reply->str, NULL, 10);
    now_s = trg_wall_ms() / 1000;
    max = (size_t)s->opts->catch_up_max;
    if (!(ring = trg_calloc(max, sizeof *ring))) {
        trg_error("schedule", s->name, "out of memory: no catch-up");
        return;
    }
    for (t = last; total < CATCH_UP_SCAN_MAX && trg_cron_next(&s->cron, s->tz, t, &t) && t <= now_s &&
                   (!s->armed || t < s->tick);) {
        ring[total % max] = t;
        total++;
    }
    n = total < max ? total : max;
    if (total > n)
        trg_warn("schedule", s->name,
                 "%s%zu ticks were missed since the last fire; firing the latest %zu (catch_up_max)",
                 total >= CATCH_UP_SCAN_MAX ? "more than " : "", total, n);
    else if (total)
        trg_info("schedule", s->name, "catching up %zu missed tick%s", total, total == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        fire(s, ring[(total - n + i) % max], true);
    trg_free(ring);
}

static void catch_up(struct sched *s)
{
    if (s->caught_up || s->catch_up_pending)
        return;
    struct claim *c = trg_calloc(1, sizeof *c);
    char *key = trg_asprintf("%ssched:%s:last", trg_redis_prefix(s->redis), s->name);
    if (c && key) {
        const char *argv[] = {"GET", key};
        c->s = s;
        if (trg_redis_command(s->redis, catch_up_cb, c, 2, argv, NULL) == 0) {
            c->next = s->claims; /* so destroy detaches it */
            s->claims = c;
            s->catch_up_pending = true;
            c = NULL;
        }
    }
    trg_free(c);
    trg_free(key);
}

static void on_redis_state(void *arg, bool connected)
{
    struct sched *s = arg;
    if (connected && s->started)
        catch_up(s);
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

static int sched_start(void *inst)
{
    struct sched *s = inst;
    char when[40] = "none";

    s->redis = trg_source_redis(s->src);
    s->timer.data = s;
    ev_set_cb(&s->timer, timer_cb);
    s->started = true;
    arm(s, trg_wall_ms() / 1000);
    if (s->armed)
        format_time(s->tick, trg_tz_offset(s->tz, s->tick), when);
    trg_info("schedule", s->name, "%s in %s; next fire %s%s", s->opts->expression, s->opts->timezone, when,
             s->redis ? " (one fire per tick across replicas, through Redis)" : "");
    if (s->opts->catch_up) {
        if (!s->redis) {
            trg_warn("schedule", s->name, "catch_up needs `redis` (where the last fire is stored): not catching up");
        } else {
            trg_redis_on_state(s->redis, on_redis_state, s);
            if (trg_redis_connected(s->redis))
                catch_up(s);
        }
    }
    return 0;
}

static void sched_stop(void *inst)
{
    struct sched *s = inst;
    ev_timer_stop(s->loop, &s->timer);
    s->armed = false;
    s->started = false;
    if (s->redis && s->opts->catch_up)
        trg_redis_on_state(s->redis, NULL, s);
}

static void sched_destroy(void *inst)
{
    struct sched *s = inst;
    if (!s)
        return;
    sched_stop(s);
    for (struct claim *c = s->claims; c; c = c->next)
        c->s = NULL; /* their Redis replies free them */
    trg_tz_free(s->tz);
    if (s->input)
        cJSON_free(s->input);
    trg_free(s);
}

/* The fires waiting for a full route reached SCHED_HOLD (paused), or are back at half. */
static void sched_pause(void *inst, bool paused)
{
    struct sched *s = inst;
    if (paused && !s->waiting_full)
        trg_warn("schedule", s->name, "%d fires wait for the full route: later ticks are skipped until half of "
                 "them have gone on", SCHED_HOLD);
    else if (!paused && s->waiting_full)
        trg_info("schedule", s->name, "half of the waiting fires have gone on: ticks wait for the route again");
    s->waiting_full = paused;
}

static void sched_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    struct sched *s = inst;
    (void)ev;
    (void)status;
    (void)res;
    if (s->inflight > 0)
        s->inflight--;
}

/* {"name","type","expression","timezone","next":[{"local","utc"}...],"last_fired","fires",...} */
static int sched_status_json(void *inst, struct trg_buf *out, int next_n)
{
    struct sched *s = inst;
    char when[40];
    int64_t t = trg_wall_ms() / 1000;
    int rc = trg_buf_adds(out, "{\"name\":");
    rc = rc ? rc : trg_buf_add_json_str(out, s->name, strlen(s->name));
    rc = rc ? rc : trg_buf_adds(out, ",\"expression\":");
    rc = rc ? rc : trg_buf_add_json_str(out, s->opts->expression, strlen(s->opts->expression));
    rc = rc ? rc : trg_buf_adds(out, ",\"timezone\":");
    rc = rc ? rc : trg_buf_add_json_str(out, s->opts->timezone, strlen(s->opts->timezone));
    rc = rc ? rc : trg_buf_adds(out, ",\"next\":[");
    if (s->armed && next_n > 0)
        t = s->tick - 1; /* the armed tick first */
    for (int i = 0; i < next_n && !rc && trg_cron_next(&s->cron, s->tz, t, &t); i++) {
        char utc[40];
        format_time(t, trg_tz_offset(s->tz, t), when);
        format_time(t, INT32_MIN, utc);
        rc = trg_buf_addf(out, "%s{\"local\":\"%s\",\"utc\":\"%s\"}", i ? "," : "", when, utc);
    }
    if (s->last_tick >= 0)
        format_time(s->last_tick, INT32_MIN, when);
    rc = rc ? rc : trg_buf_addf(out, "],\"last_fired\":%s%s%s", s->last_tick >= 0 ? "\"" : "",
                                s->last_tick >= 0 ? when : "null", s->last_tick >= 0 ? "\"" : "");
    rc = rc ? rc : trg_buf_addf(out, ",\"fires\":%llu,\"skipped_overlap\":%llu,\"claimed_elsewhere\":%llu,"
                                "\"failed\":%llu,\"inflight\":%zu}",
                                (unsigned long long)s->fires, (unsigned long long)s->skipped_overlap,
                                (unsigned long long)s->claims_lost, (unsigned long long)s->failed, s->inflight);
    return rc;
}

const struct trg_source_ops trg_source_schedule = {
    .name = "schedule",
    /* Lambda's async-invocation defaults (EventBridge Scheduler's own 185 attempts / 24 h are not used:
     * a schedule fires again soon, docs/SCHEDULES.md) */
    .route_defaults = "{\"batch_size\":1,\"max_retry_attempts\":2,\"max_record_age_s\":21600}",
    .options = sched_options,
    .n_options = TRG_ARRAY_SIZE(sched_options),
    .opts_size = sizeof(struct sched_opts),
    .check = sched_check,
    .create = sched_create,
    .start = sched_start,
    .stop = sched_stop,
    .destroy = sched_destroy,
    .done = sched_done,
    .pause = sched_pause,
    .durable_intake = true,
    .status_json = sched_status_json,
};
