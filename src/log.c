/* log.c — text or JSON log lines. */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "util.h"

static enum trg_log_level log_level = TRG_LOG_INFO;
static enum trg_log_format log_format = TRG_LOG_TEXT;
static FILE *log_stream;

static double (*log_clock)(void);
static struct trg_log_site *log_sites; /* sites holding lines back */

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

/* ---- rate limit ---------------------------------------------------------------------------- */

static double log_now(void)
{
    struct timespec ts;

    if (log_clock)
        return log_clock();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void trg_log_set_clock(double (*now)(void)) { log_clock = now; }

/* Tell what the site held back, and start a new window at now. */
static void site_report(struct trg_log_site *site, double now)
{
    if (site->held > 0) {
        double span = now - site->window_start;
        if (span > TRG_LOG_WINDOW_S || span < 0)
            span = TRG_LOG_WINDOW_S;
        trg_log_write(site->level, site->component, site->instance[0] ? site->instance : NULL,
                      "%lu more like \"%.120s\" in the last %.0f s", site->held, site->fmt ? site->fmt : "",
                      span < 1 ? 1. : span);
    }
    site->window_start = now;
    site->printed = 0;
    site->held = 0;
}

static void site_unlist(struct trg_log_site *site)
{
    for (struct trg_log_site **pp = &log_sites; *pp; pp = &(*pp)->next) {
        if (*pp == site) {
            *pp = site->next;
            break;
        }
    }
    site->next = NULL;
    site->listed = false;
}

bool trg_log_site_allow(struct trg_log_site *site, enum trg_log_level level, const char *component,
                        const char *instance, const char *fmt)
{
    double now = log_now();

    if (site->window_start == 0 || now - site->window_start >= TRG_LOG_WINDOW_S) {
        if (site->listed)
            site_unlist(site);
        site_report(site, now);
    }
    if (site->printed < TRG_LOG_BURST) {
        site->printed++;
        return true;
    }
    if (site->held++ == 0) {
        site->level = level;
        site->component = component;
        site->fmt = fmt;
        snprintf(site->instance, sizeof site->instance, "%s", instance ? instance : "");
    }
    if (!site->listed) {
        site->listed = true;
        site->next = log_sites;
        log_sites = site;
    }
    return false;
}

void trg_log_flush(bool all)
{
    double now = log_now();
    struct trg_log_site **pp = &log_sites;

    while (*pp) {
        struct trg_log_site *site = *pp;
        if (all || now - site->window_start >= TRG_LOG_WINDOW_S) {
            *pp = site->next;
            site->next = NULL;
            site->listed = false;
            site_report(site, now);
        } else {
            pp = &site->next;
        }
    }
}
