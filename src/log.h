/* log.h — levelled logging as text or JSON lines, with component and instance prefixes.
 *
 * trg_log_*() check the level before anything is formatted. Text lines look like
 *   2025-06-14T09:31:07.563Z INFO  [webhook:orders] accepted 3 events
 * and JSON lines like
 *   {"time":"...","level":"info","component":"webhook","instance":"orders","msg":"accepted 3 events"}
 *
 * Rate limit: each call site of trg_info/trg_warn/trg_error (not trg_debug, which is opt-in) prints
 * at most TRG_LOG_BURST lines per TRG_LOG_WINDOW_S seconds, so a peer that triggers one line per
 * request cannot fill the disk. What a site held back is then told in one line at the same level:
 *   ... [webhook:orders] 12345 more like "refused a POST from %s: ..." in the last 10 s
 * when the site logs again after its window, or from trg_log_flush() (main calls it every second).
 * Single-threaded: call only from the loop's thread (librdkafka's logs are forwarded there).
 */
#ifndef TRG_LOG_H
#define TRG_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum trg_log_level { TRG_LOG_DEBUG, TRG_LOG_INFO, TRG_LOG_WARN, TRG_LOG_ERROR };
enum trg_log_format { TRG_LOG_TEXT, TRG_LOG_JSON };

#define TRG_LOG_BURST 20
#define TRG_LOG_WINDOW_S 10

/* One per call site (a static in the macros below). */
struct trg_log_site {
    double window_start; /* monotonic seconds; 0: never logged */
    unsigned printed;    /* lines printed in the window */
    unsigned long held;  /* lines held back in the window */
    bool listed;         /* on the list trg_log_flush() walks */
    enum trg_log_level level;
    const char *component, *fmt; /* of the first line held back (string literals) */
    char instance[64];
    struct trg_log_site *next;
};

/* Defaults: info, text, stderr. The stream is borrowed. */
void trg_log_setup(enum trg_log_level level, enum trg_log_format format, FILE *stream);
bool trg_log_enabled(enum trg_log_level level);
void trg_log_write(enum trg_log_level level, const char *component, const char *instance,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Should this call site print now? Counts the line either way (see the rate limit above). */
bool trg_log_site_allow(struct trg_log_site *site, enum trg_log_level level, const char *component,
                        const char *instance, const char *fmt);
/* Print the "N more like this" line of every site whose window is over (all: of every site holding
 * lines back, at exit). */
void trg_log_flush(bool all);
/* The clock of the rate limit, in seconds (tests); NULL: CLOCK_MONOTONIC. */
void trg_log_set_clock(double (*now)(void));

#define trg_log_at(lvl, comp, inst, ...) \
    do { \
        if (trg_log_enabled(lvl)) \
            trg_log_write((lvl), (comp), (inst), __VA_ARGS__); \
    } while (0)
#define trg_log_limited(lvl, comp, inst, fmt, ...) \
    do { \
        static struct trg_log_site trg_log_site_; \
        if (trg_log_enabled(lvl) && trg_log_site_allow(&trg_log_site_, (lvl), (comp), (inst), (fmt))) \
            trg_log_write((lvl), (comp), (inst), fmt, ##__VA_ARGS__); \
    } while (0)
#define trg_debug(comp, inst, ...) trg_log_at(TRG_LOG_DEBUG, comp, inst, __VA_ARGS__)
#define trg_info(comp, inst, ...) trg_log_limited(TRG_LOG_INFO, comp, inst, __VA_ARGS__)
#define trg_warn(comp, inst, ...) trg_log_limited(TRG_LOG_WARN, comp, inst, __VA_ARGS__)
#define trg_error(comp, inst, ...) trg_log_limited(TRG_LOG_ERROR, comp, inst, __VA_ARGS__)

#endif
