/* tz.h — time zones from the system's zoneinfo (TZif files), private to connectors/schedule/.
 *
 * A zone is read once (at config load) into a table of UTC transitions and the offsets in force
 * after each, plus the file's footer rule (a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3")
 * for instants after the last transition. Conversions are then pure functions: no TZ variable, no
 * tzset(), nothing shared with the rest of trigd.
 */
#ifndef TRG_SCHEDULE_TZ_H
#define TRG_SCHEDULE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct trg_tz;

/* Load zone NAME ("Europe/Berlin", "UTC") from $TZDIR or /usr/share/zoneinfo. On failure returns a
 * negative trg_err and writes why into err (errlen bytes). Caller frees with trg_tz_free(). */
int trg_tz_load(const char *name, struct trg_tz **out, char *err, size_t errlen);
/* Parse a TZif image (len bytes); same contract as trg_tz_load(). */
int trg_tz_parse(const unsigned char *data, size_t len, struct trg_tz **out, char *err, size_t errlen);
/* A zone from a POSIX TZ string alone ("UTC0", "EST5EDT,M3.2.0,M11.1.0"). */
int trg_tz_posix(const char *rule, struct trg_tz **out, char *err, size_t errlen);
void trg_tz_free(struct trg_tz *tz); /* NULL is a no-op */

/* Offset from UTC in seconds (east positive) at the UTC instant t (seconds since the epoch).
 * tz NULL = UTC. */
int32_t trg_tz_offset(const struct trg_tz *tz, int64_t t);
/* The UTC instants whose local wall-clock time is `local` (seconds since 1970-01-01T00:00 on the
 * local calendar): returns how many (0 in a spring-forward gap, 2 in a fall-back overlap), and the
 * earliest in *utc when there is one. */
int trg_tz_to_utc(const struct trg_tz *tz, int64_t local, int64_t *utc);

/* Civil calendar helpers (proleptic Gregorian). */
int64_t trg_days_from_civil(int64_t y, int m, int d);
void trg_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* printf why into err (errlen bytes, truncated); nothing when err is NULL or errlen 0. For the
 * err/errlen pairs of this folder (tz.c, cron.c). */
void trg_tz_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
