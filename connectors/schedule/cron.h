/* cron.h — schedule expressions and next-fire computation, private to connectors/schedule/.
 *
 * Pure functions, no I/O, no clock: the caller passes the instant to search from and the zone.
 * Forms (docs/SCHEDULES.md):
 *   cron(min hour dom month dow year)   EventBridge: * , - / ? L W # and names; exactly one day field is ?
 *   m h dom mon dow                     classic crontab (0 and 7 = Sunday; Vixie's day-OR rule)
 *   @yearly @annually @monthly @weekly @daily @midnight @hourly
 *   rate(N minute|minutes|hour|hours|day|days)   every N units from the anchor (start, else the epoch)
 *   at(yyyy-mm-ddThh:mm:ss)             once, in the schedule's zone
 *   s m h dom mon dow                   test-only: classic with a seconds field (TRG_CRON_SECONDS)
 * Local times that do not exist (spring forward) are skipped; local times that happen twice
 * (fall back) fire once, at their first occurrence.
 */
#ifndef TRG_SCHEDULE_CRON_H
#define TRG_SCHEDULE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"

enum trg_cron_kind { TRG_CRON_FIELDS, TRG_CRON_RATE, TRG_CRON_AT };
enum trg_cron_flags { TRG_CRON_SECONDS = 1 }; /* accept (only) the 6-field form with seconds */

#define TRG_CRON_YEAR_MIN 1970
#define TRG_CRON_YEAR_MAX 2199

struct trg_cron {
    int kind;
    bool eb;          /* cron(...) form */
    bool seconds;     /* the test-only seconds form */
    uint64_t sec, min;
    uint32_t hour, dom; /* dom: bits 1..31 */
    uint16_t mon;       /* bits 1..12 */
    uint8_t dow;        /* bits 0..6, 0 = Sunday */
    uint64_t year[4];   /* bit y - 1970 */
    bool dom_star, dow_star; /* unrestricted (classic: the field starts with '*'; EB: '?') */
    bool dom_last, dom_lastw;
    uint32_t dom_w;     /* nW: bits 1..31 */
    uint8_t dow_last;   /* nL: weekday bits */
    uint8_t dow_nth[7]; /* n#k: bits 1..5 per weekday */
    int64_t rate_s;     /* TRG_CRON_RATE: period in seconds */
    int64_t at_local;   /* TRG_CRON_AT: local wall-clock seconds */
    /* Bounds, in UTC seconds (set by the caller): fires only in [not_before, not_after]. rate()
     * counts its periods from anchor. */
    bool has_not_before, has_not_after;
    int64_t not_before, not_after, anchor;
};

/* Parse expr into c. On error returns TRG_EINVAL and writes why into err, naming the field
 * ("day-of-month: 32 is out of range 1-31"). */
int trg_cron_parse(const char *expr, unsigned flags, struct trg_cron *c, char *err, size_t errlen);

/* The first fire strictly after `after` (UTC seconds) in zone tz (NULL = UTC): returns true and sets
 * *next, or false when there is none (an at() in the past, the year bound, past not_after). */
bool trg_cron_next(const struct trg_cron *c, const struct trg_tz *tz, int64_t after, int64_t *next);

/* Parse "yyyy-mm-ddThh:mm:ss" (exactly) into local wall-clock seconds; optional suffix "Z" or
 * "+hh:mm"/"-hh:mm" sets *zoned and makes the result UTC. Returns 0 or TRG_EINVAL. */
int trg_cron_parse_time(const char *s, int64_t *out, bool *zoned);

#endif
