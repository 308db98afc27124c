/* cron.c — parsing schedule expressions and finding the next fire (see cron.h). */
#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../connector.h"

#define MAX_EXPR 256

enum field_id { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR };

struct field_def {
    const char *name;
    int lo, hi;
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static int days_in_month(int64_t y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static int weekday(int64_t days) { return (int)((days % 7 + 11) % 7); } /* 0 = Sunday */

/* ---- parsing ---------------------------------------------------------------------------------- */

struct parser {
    struct trg_cron *c;
    bool eb;
    char *err;
    size_t errlen;
};

/* The value v (in the field's own numbering) into the cron's bits. */
static void set_value(struct parser *ps, int f, int v)
{
    struct trg_cron *c = ps->c;
    switch (f) {
    case F_SEC: c->sec |= 1ull << v; break;
    case F_MIN: c->min |= 1ull << v; break;
    case F_HOUR: c->hour |= 1u << v; break;
    case F_DOM: c->dom |= 1u << v; break;
    case F_MON: c->mon |= (uint16_t)(1u << v); break;
    case F_DOW: c->dow |= (uint8_t)(1u << (ps->eb ? v - 1 : v % 7)); break;
    case F_YEAR: c->year[(v - TRG_CRON_YEAR_MIN) / 64] |= 1ull << ((v - TRG_CRON_YEAR_MIN) % 64); break;
    }
}

/* A number or (months, weekdays) a name at *p; advances *p. -1 when there is none. */
static int parse_value(struct parser *ps, int f, const char **p)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 100000)
            v = v * 10 + (*s++ - '0');
        *p = s;
        return (int)v;
    }
    if ((f == F_MON || f == F_DOW) && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
        isalpha((unsigned char)s[2])) {
        const char *const *names = f == F_MON ? month_names : day_names;
        int n = f == F_MON ? 12 : 7;
        for (int i = 0; i < n; i++)
            if (strncasecmp(s, names[i], 3) == 0) {
                *p = s + 3;
                return f == F_MON ? i + 1 : (ps->eb ? i + 1 : i);
            }
    }
    return -1;
}

static int field_fail(struct parser *ps, const struct field_def *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int field_fail(struct parser *ps, const struct field_def *d, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    trg_tz_seterr(ps->err, ps->errlen, "%s: %s", d->name, why);
    return TRG_EINVAL;
}

/* One comma-separated element of field f. */
static int parse_elem(struct parser *ps, int f, const struct field_def *d, const char *s, bool first)
{
    struct trg_cron *c = ps->c;
    const char *p = s;
    int lo, hi, step = 1;

    if (!*s)
        return field_fail(ps, d, "empty list element");
    if (strcmp(s, "?") == 0) {
        if (!ps->eb || (f != F_DOM && f != F_DOW))
            return field_fail(ps, d, "? is only allowed in the day-of-month or day-of-week field of cron(...)");
        if (f == F_DOM)
            c->dom_star = true;
        else
            c->dow_star = true;
        c->dom |= f == F_DOM ? 0xfffffffeu : 0;
        c->dow |= f == F_DOW ? 0x7f : 0;
        return 0;
    }
    /* L, W and # (cron(...) only) */
    if (f == F_DOM && (strcasecmp(s, "L") == 0 || strcasecmp(s, "LW") == 0)) {
        if (!ps->eb)
            return field_fail(ps, d, "L is only allowed in cron(...) expressions");
        if (s[1])
            c->dom_lastw = true;
        else
            c->dom_last = true;
        return 0;
    }
    if (f == F_DOW && strcasecmp(s, "L") == 0) {
        if (!ps->eb)
            return field_fail(ps, d, "L is only allowed in cron(...) expressions");
        c->dow |= 1u << 6; /* L alone: the last day of the week, Saturday */
        return 0;
    }
    if (*p == '*') {
        p++;
        lo = d->lo;
        hi = d->hi;
        if (first && f == F_DOM)
            c->dom_star = !ps->eb; /* Vixie: a day field starting with '*' is unrestricted */
        if (first && f == F_DOW)
            c->dow_star = !ps->eb;
    } else {
        if ((lo = parse_value(ps, f, &p)) < 0)
            return field_fail(ps, d, "\"%s\" is not a number%s", s,
                              f == F_MON ? " or a month name (JAN-DEC)" : f == F_DOW ? " or a day name (SUN-SAT)" : "");
        if (lo < d->lo || lo > d->hi)
            return field_fail(ps, d, "%d is out of range %d-%d", lo, d->lo, d->hi);
        hi = lo;
        if ((*p == 'W' || *p == 'w') && !p[1] && f == F_DOM) {
            if (!ps->eb)
                return field_fail(ps, d, "W is only allowed in cron(...) expressions");
            c->dom_w |= 1u << lo;
            return 0;
        }
        if ((*p == 'L' || *p == 'l') && !p[1] && f == F_DOW) {
            if (!ps->eb)
                return field_fail(ps, d, "L is only allowed in cron(...) expressions");
            c->dow_last |= (uint8_t)(1u << (lo - 1));
            return 0;
        }
        if (*p == '#' && f == F_DOW) {
            if (!ps->eb)
                return field_fail(ps, d, "# is only allowed in cron(...) expressions");
            p++;
            if (!isdigit((unsigned char)*p) || p[1] || *p < '1' || *p > '5')
                return field_fail(ps, d, "\"%s\": the week number after # must be 1-5", s);
            c->dow_nth[lo - 1] |= (uint8_t)(1u << (*p - '0'));
            return 0;
        }
        if (*p == '-') {
            p++;
            if ((hi = parse_value(ps, f, &p)) < 0)
                return field_fail(ps, d, "\"%s\": a range needs an end value", s);
            if (hi < d->lo || hi > d->hi)
                return field_fail(ps, d, "%d is out of range %d-%d", hi, d->lo, d->hi);
            if (hi < lo)
                return field_fail(ps, d, "\"%s\": the range starts after it ends", s);
        } else if (*p == '/') {
            hi = d->hi; /* a/n: from a to the end */
        }
    }
    if (*p == '/') {
        p++;
        if (!isdigit((unsigned char)*p))
            return field_fail(ps, d, "\"%s\": / needs a step number", s);
        step = 0;
        while (isdigit((unsigned char)*p) && step < 100000)
            step = step * 10 + (*p++ - '0');
        if (step < 1 || step > d->hi - d->lo + 1)
            return field_fail(ps, d, "\"%s\": the step must be 1-%d", s, d->hi - d->lo + 1);
    }
    if (*p)
        return field_fail(ps, d, "unexpected \"%s\" in \"%s\"", p, s);
    for (int v = lo; v <= hi; v += step)
        set_value(ps, f, v);
    return 0;
}

static int parse_field(struct parser *ps, int f, const struct field_def *d, char *text)
{
    bool first = true;
    char *save = NULL;
    if (strchr(text, ',') && (strstr(text, ",,") || text[0] == ',' || text[strlen(text) - 1] == ','))
        return field_fail(ps, d, "empty list element in \"%s\"", text);
    for (char *e = strtok_r(text, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        if (!first && (strcmp(e, "?") == 0))
            return field_fail(ps, d, "? cannot be part of a list");
        int rc = parse_elem(ps, f, d, e, first);
        if (rc < 0)
            return rc;
        first = false;
    }
    return 0;
}

static int parse_fields(struct parser *ps, char *text)
{
    static const struct field_def eb_defs[] = {
        {"minutes", 0, 59}, {"hours", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12},
        {"day-of-week", 1, 7}, {"year", TRG_CRON_YEAR_MIN, TRG_CRON_YEAR_MAX}};
    static const struct field_def classic_defs[] = {{"seconds", 0, 59}, {"minute", 0, 59}, {"hour", 0, 23},
                                                    {"day-of-month", 1, 31}, {"month", 1, 12},
                                                    {"day-of-week", 0, 7}};
    static const int eb_ids[] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR};
    static const int classic_ids[] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
    struct trg_cron *c = ps->c;
    char *fields[8];
    size_t n = 0, want = ps->eb ? 6 : (c->seconds ? 6 : 5);
    char *save = NULL;

    for (char *t = strtok_r(text, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == TRG_ARRAY_SIZE(fields)) {
            n++;
            break;
        }
        fields[n++] = t;
    }
    if (n != want) {
        trg_tz_seterr(ps->err, ps->errlen, "%zu fields, expected %zu (%s)", n, want,
                      ps->eb       ? "minutes hours day-of-month month day-of-week year"
                      : c->seconds ? "second minute hour day-of-month month day-of-week"
                                   : "minute hour day-of-month month day-of-week");
        return TRG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct field_def *d = ps->eb ? &eb_defs[i] : &classic_defs[i + (c->seconds ? 0 : 1)];
        int f = ps->eb ? eb_ids[i] : classic_ids[i + (c->seconds ? 0 : 1)];
        int rc = parse_field(ps, f, d, fields[i]);
        if (rc < 0)
            return rc;
    }
    if (!c->seconds)
        c->sec = 1; /* second 0 */
    if (ps->eb) {
        bool dom_q = c->dom_star, dow_q = c->dow_star;
        if (!dom_q && !dow_q) {
            trg_tz_seterr(ps->err, ps->errlen,
                          "day-of-month and day-of-week cannot both be set; use ? in one");
            return TRG_EINVAL;
        }
        if (dom_q && dow_q) {
            trg_tz_seterr(ps->err, ps->errlen,
                          "day-of-month and day-of-week cannot both be ?; set one of them");
            return TRG_EINVAL;
        }
    }
    return 0;
}

static int parse_rate(struct parser *ps, const char *body)
{
    long n = 0;
    const char *p = body;
    char unit[16];
    size_t ul = 0;

    if (!isdigit((unsigned char)*p)) {
        trg_tz_seterr(ps->err, ps->errlen, "rate: expected rate(N minutes|hours|days), got rate(%s)", body);
        return TRG_EINVAL;
    }
    while (isdigit((unsigned char)*p) && n <= 10000000)
        n = n * 10 + (*p++ - '0');
    if (n < 1 || n > 1000000) {
        trg_tz_seterr(ps->err, ps->errlen, "rate: the value must be 1-1000000");
        return TRG_EINVAL;
    }
    if (*p++ != ' ')
        goto bad;
    while (*p && ul < sizeof unit - 1)
        unit[ul++] = *p++;
    unit[ul] = 0;
    if (*p)
        goto bad;
    static const struct {
        const char *one, *many;
        int64_t s;
    } units[] = {{"minute", "minutes", 60}, {"hour", "hours", 3600}, {"day", "days", 86400}};
    for (size_t i = 0; i < TRG_ARRAY_SIZE(units); i++) {
        if (strcmp(unit, units[i].one) == 0 || strcmp(unit, units[i].many) == 0) {
            bool plural = strcmp(unit, units[i].many) == 0;
            if (n == 1 && plural) {
                trg_tz_seterr(ps->err, ps->errlen, "rate: use the singular unit with 1: rate(1 %s)",
                              units[i].one);
                return TRG_EINVAL;
            }
            if (n != 1 && !plural) {
                trg_tz_seterr(ps->err, ps->errlen, "rate: use the plural unit with %ld: rate(%ld %s)", n, n,
                              units[i].many);
                return TRG_EINVAL;
            }
            ps->c->kind = TRG_CRON_RATE;
            ps->c->rate_s = (int64_t)n * units[i].s;
            return 0;
        }
    }
bad:
    trg_tz_seterr(ps->err, ps->errlen,
                  "rate: expected rate(N minute|minutes|hour|hours|day|days), got rate(%s)", body);
    return TRG_EINVAL;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int trg_cron_parse_time(const char *s, int64_t *out, bool *zoned)
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        return TRG_EINVAL;
    if (y < TRG_CRON_YEAR_MIN || y > TRG_CRON_YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
        d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return TRG_EINVAL;
    int64_t t = trg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    const char *z = s + 19;
    *zoned = false;
    if (*z == 'Z' && !z[1]) {
        *zoned = true;
    } else if ((*z == '+' || *z == '-') && strlen(z) == 6 && z[3] == ':') {
        int oh, om;
        if (digits(z + 1, 2, &oh) || digits(z + 4, 2, &om) || oh > 23 || om > 59)
            return TRG_EINVAL;
        t -= (*z == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        *zoned = true;
    } else if (*z) {
        return TRG_EINVAL;
    }
    *out = t;
    return 0;
}

int trg_cron_parse(const char *expr, unsigned flags, struct trg_cron *c, char *err, size_t errlen)
{
    struct parser ps = {c, false, err, errlen};
    char buf[MAX_EXPR];
    size_t len;
    static const struct {
        const char *name, *fields;
    } macros[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                  {"@hourly", "0 * * * *"}};

    memset(c, 0, sizeof *c);
    c->kind = TRG_CRON_FIELDS;
    if (!expr || !*expr) {
        trg_tz_seterr(err, errlen, "empty expression");
        return TRG_EINVAL;
    }
    len = strlen(expr);
    if (len >= sizeof buf) {
        trg_tz_seterr(err, errlen, "expression longer than %d characters", MAX_EXPR - 1);
        return TRG_EINVAL;
    }
    memcpy(buf, expr, len + 1);
    if (flags & TRG_CRON_SECONDS) {
        if (!isdigit((unsigned char)buf[0]) && buf[0] != '*') {
            trg_tz_seterr(err, errlen,
                          "with \"seconds\": true the expression is 6 fields: second minute hour "
                          "day-of-month month day-of-week (test-only)");
            return TRG_EINVAL;
        }
        c->seconds = true;
        return parse_fields(&ps, buf);
    }
    if (buf[0] == '@') {
        for (size_t i = 0; i < TRG_ARRAY_SIZE(macros); i++)
            if (strcmp(buf, macros[i].name) == 0) {
                memcpy(buf, macros[i].fields, strlen(macros[i].fields) + 1);
                return parse_fields(&ps, buf);
            }
        trg_tz_seterr(err, errlen,
                      "unknown macro %s (use @yearly @annually @monthly @weekly @daily @midnight @hourly)",
                      buf);
        return TRG_EINVAL;
    }
    const char *open = strchr(buf, '(');
    if (open) {
        size_t kw = (size_t)(open - buf);
        if (buf[len - 1] != ')') {
            trg_tz_seterr(err, errlen, "missing ')' at the end");
            return TRG_EINVAL;
        }
        buf[len - 1] = 0;
        char *body = buf + kw + 1;
        if (kw == 4 && strncmp(buf, "cron", 4) == 0) {
            ps.eb = c->eb = true;
            return parse_fields(&ps, body);
        }
        if (kw == 4 && strncmp(buf, "rate", 4) == 0)
            return parse_rate(&ps, body);
        if (kw == 2 && strncmp(buf, "at", 2) == 0) {
            bool zoned;
            if (trg_cron_parse_time(body, &c->at_local, &zoned) < 0 || zoned) {
                trg_tz_seterr(err, errlen,
                              "at: expected at(yyyy-mm-ddThh:mm:ss), a valid local time in %d-%d, got at(%s)",
                              TRG_CRON_YEAR_MIN, TRG_CRON_YEAR_MAX, body);
                return TRG_EINVAL;
            }
            c->kind = TRG_CRON_AT;
            return 0;
        }
        trg_tz_seterr(err, errlen, "unknown form %.*s(...): use cron(...), rate(...) or at(...)", (int)kw,
                      buf);
        return TRG_EINVAL;
    }
    return parse_fields(&ps, buf);
}

/* ---- next fire -------------------------------------------------------------------------------- */

static bool year_set(const struct trg_cron *c, int64_t y)
{
    if (!c->eb)
        return y >= TRG_CRON_YEAR_MIN && y <= TRG_CRON_YEAR_MAX;
    if (y < TRG_CRON_YEAR_MIN || y > TRG_CRON_YEAR_MAX)
        return false;
    int i = (int)(y - TRG_CRON_YEAR_MIN);
    return c->year[i / 64] >> (i % 64) & 1;
}

/* The nearest weekday to day n of the month, not leaving the month (Quartz's W). 0 = none. */
static int nearest_weekday(int64_t y, int m, int n)
{
    int dim = days_in_month(y, m);
    if (n > dim)
        return 0;
    int wd = weekday(trg_days_from_civil(y, m, n));
    if (wd == 6)
        return n == 1 ? 3 : n - 1;
    if (wd == 0)
        return n == dim ? n - 2 : n + 1;
    return n;
}

static bool day_ok(const struct trg_cron *c, int64_t y, int m, int d)
{
    int dim = days_in_month(y, m);
    int wd = weekday(trg_days_from_civil(y, m, d));
    bool dom = (c->dom >> d & 1) || (c->dom_last && d == dim);
    if (!dom && c->dom_lastw)
        dom = d == nearest_weekday(y, m, dim);
    for (uint32_t w = c->dom_w; !dom && w; w &= w - 1) {
        int n = __builtin_ctz(w);
        dom = nearest_weekday(y, m, n) == d;
    }
    bool dow = (c->dow >> wd & 1) || ((c->dow_last >> wd & 1) && d + 7 > dim) ||
               (c->dow_nth[wd] >> ((d - 1) / 7 + 1) & 1);
    if (c->eb)
        return c->dom_star ? dow : dom; /* exactly one is ?: the other decides */
    if (c->dom_star || c->dow_star)
        return dom && dow; /* a field starting with '*' matches all its days, or its step's */
    return dom || dow;     /* Vixie: both restricted, either matches */
}

/* Lowest set bit >= from in mask (up to width bits), or -1. */
static int next_bit(uint64_t mask, int from, int width)
{
    if (from >= width)
        return -1;
    uint64_t m = mask >> from;
    if (!m)
        return -1;
    int b = from + __builtin_ctzll(m);
    return b < width ? b : -1;
}

/* The first local wall-clock time >= from matching the fields; false when none before the year bound. */
static bool find_local(const struct trg_cron *c, int64_t from, int64_t *out)
{
    int64_t days = from >= 0 ? from / 86400 : (from - 86399) / 86400;
    int64_t rem = from - days * 86400;
    int64_t y;
    int mo, d, h = (int)(rem / 3600), mi = (int)(rem / 60 % 60), s = (int)(rem % 60);
    trg_civil_from_days(days, &y, &mo, &d);
    if (y < TRG_CRON_YEAR_MIN) {
        y = TRG_CRON_YEAR_MIN;
        mo = d = 1;
        h = mi = s = 0;
    }
    for (long guard = 0; guard < 1000000; guard++) {
        if (y > TRG_CRON_YEAR_MAX)
            return false;
        if (!year_set(c, y)) {
            y++, mo = d = 1, h = mi = s = 0;
            continue;
        }
        if (!(c->mon >> mo & 1)) {
            if (++mo > 12)
                y++, mo = 1;
            d = 1, h = mi = s = 0;
            continue;
        }
        if (!day_ok(c, y, mo, d)) {
            if (++d > days_in_month(y, mo)) {
                d = 1;
                if (++mo > 12)
                    y++, mo = 1;
            }
            h = mi = s = 0;
            continue;
        }
        int nh = next_bit(c->hour, h, 24);
        if (nh < 0) {
            h = 24; /* next day */
        } else if (nh != h) {
            h = nh, mi = s = 0;
        }
        if (h < 24) {
            int nm = next_bit(c->min, mi, 60);
            if (nm < 0) {
                h++, mi = s = 0;
                if (h < 24)
                    continue;
            } else {
                if (nm != mi)
                    mi = nm, s = 0;
                int ns = next_bit(c->sec, s, 60);
                if (ns >= 0) {
                    *out = trg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + ns;
                    return true;
                }
                s = 0;
                if (++mi < 60)
                    continue;
                mi = 0;
                if (++h < 24)
                    continue;
            }
        }
        h = mi = s = 0;
        if (++d > days_in_month(y, mo)) {
            d = 1;
            if (++mo > 12)
                y++, mo = 1;
        }
    }
    return false;
}

bool trg_cron_next(const struct trg_cron *c, const struct trg_tz *tz, int64_t after, int64_t *next)
{
    int64_t t = 0;
    bool found = false;

    if (c->has_not_before && after < c->not_before - 1)
        after = c->not_before - 1;
    if (c->kind == TRG_CRON_RATE) {
        int64_t a = c->anchor;
        if (after < a)
            t = a;
        else
            t = a + ((after - a) / c->rate_s + 1) * c->rate_s;
        found = true;
    } else if (c->kind == TRG_CRON_AT) {
        found = trg_tz_to_utc(tz, c->at_local, &t) > 0 && t > after;
    } else {
        int64_t step = c->seconds ? 1 : 60;
        int64_t local = after + trg_tz_offset(tz, after);
        int64_t from = (local >= 0 ? local / step : (local - step + 1) / step) * step + step;
        for (int guard = 0; guard < 100000; guard++) {
            int64_t cand;
            if (!find_local(c, from, &cand))
                break;
            if (trg_tz_to_utc(tz, cand, &t) > 0 && t > after) {
                found = true; /* a local time that does not exist is skipped; one that happens twice fires once */
                break;
            }
            from = cand + step;
        }
    }
    if (found && c->has_not_after && t > c->not_after)
        found = false;
    if (found)
        *next = t;
    return found;
}
