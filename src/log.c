/* log.c — text or JSON log lines. */
#include "log.h"

#include <stdarg.h>
#include <string.h>

#include "util.h"

static enum trg_log_level log_level = TRG_LOG_INFO;
static enum trg_log_format log_format = TRG_LOG_TEXT;
static FILE *log_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void trg_log_setup(enum trg_log_level level, enum trg_log_format format, FILE *stream)
{
    log_level = level;
    log_format = format;
    log_stream = stream;
}

bool trg_log_enabled(enum trg_log_level level) { return level >= log_level; }

void trg_log_write(enum trg_log_level level, const char *component, const char *instance, const char *fmt,
                   ...)
{
    FILE *out = log_stream ? log_stream : stderr;
    char when[32], msg[2048];
    trg_format_time_ms(trg_wall_ms(), when);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (log_format == TRG_LOG_JSON) {
        struct trg_buf b = {0};
        trg_buf_addf(&b, "{\"time\":\"%s\",\"level\":\"%s\"", when, level_names[level]);
        if (component) {
            trg_buf_adds(&b, ",\"component\":");
            trg_buf_add_json_str(&b, component, strlen(component));
        }
        if (instance) {
            trg_buf_adds(&b, ",\"instance\":");
            trg_buf_add_json_str(&b, instance, strlen(instance));
        }
        trg_buf_adds(&b, ",\"msg\":");
        trg_buf_add_json_str(&b, msg, strlen(msg));
        if (trg_buf_adds(&b, "}\n") == 0)
            fputs(b.data, out);
        trg_buf_free(&b);
    } else if (instance) {
        fprintf(out, "%s %s [%s:%s] %s\n", when, level_tags[level], component ? component : "trigd", instance,
                msg);
    } else {
        fprintf(out, "%s %s [%s] %s\n", when, level_tags[level], component ? component : "trigd", msg);
    }
    fflush(out);
}
