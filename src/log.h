/* log.h — levelled logging as text or JSON lines, with component and instance prefixes.
 *
 * trg_log_*() check the level before anything is formatted. Text lines look like
 *   2025-06-14T09:31:07.563Z INFO  [webhook:orders] accepted 3 events
 * and JSON lines like
 *   {"time":"...","level":"info","component":"webhook","instance":"orders","msg":"accepted 3 events"}
 */
#ifndef TRG_LOG_H
#define TRG_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum trg_log_level { TRG_LOG_DEBUG, TRG_LOG_INFO, TRG_LOG_WARN, TRG_LOG_ERROR };
enum trg_log_format { TRG_LOG_TEXT, TRG_LOG_JSON };

/* Defaults: info, text, stderr. The stream is borrowed. */
void trg_log_setup(enum trg_log_level level, enum trg_log_format format, FILE *stream);
bool trg_log_enabled(enum trg_log_level level);
void trg_log_write(enum trg_log_level level, const char *component, const char *instance,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define trg_log_at(lvl, comp, inst, ...) \
    do { \
        if (trg_log_enabled(lvl)) \
            trg_log_write((lvl), (comp), (inst), __VA_ARGS__); \
    } while (0)
#define trg_debug(comp, inst, ...) trg_log_at(TRG_LOG_DEBUG, comp, inst, __VA_ARGS__)
#define trg_info(comp, inst, ...) trg_log_at(TRG_LOG_INFO, comp, inst, __VA_ARGS__)
#define trg_warn(comp, inst, ...) trg_log_at(TRG_LOG_WARN, comp, inst, __VA_ARGS__)
#define trg_error(comp, inst, ...) trg_log_at(TRG_LOG_ERROR, comp, inst, __VA_ARGS__)

#endif
