/* tz.c — a TZif reader (RFC 8536) and POSIX TZ rules, for schedules in local time. */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../connector.h"

#define TZ_MAX_FILE (1u << 20)

/* A day of the year in a POSIX rule: Mm.w.d, Jn (1..365, no Feb 29) or n (0..365). */
struct tz_date {
    char kind; /* 'M', 'J' or 'N' */
    int m, w, d, n;
    int32_t time; /* seconds after local midnight, may be negative or > 24 h */
};

struct tz_rule {
    int32_t std_off, dst_off; /* east positive */
    int has_dst;
    struct tz_date start, end;
};

struct trg_tz {
    int64_t *trans;   /* UTC instants, ascending */
    int32_t *off;     /* offset in force from trans[i] */
    size_t n;
    int32_t off0;     /* before the first transition */
    int has_rule;
    struct tz_rule rule;
};

void trg_tz_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- civil calendar (days since 1970-01-01) --------------------------------------------------- */

int64_t trg_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void trg_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- POSIX TZ strings ------------------------------------------------------------------------- */

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q > p + 1 ? q + 1 : NULL;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; max_h bounds the hours. */
static const char *parse_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1, h = 0, mi = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p) && h <= max_h)
        h = h * 10 + (*p++ - '0');
    if (h > max_h)
        return NULL;
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return NULL;
        mi = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
                return NULL;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (mi > 59 || s > 59)
        return NULL;
    *out = sign * (h * 3600 + mi * 60 + s);
    return p;
}

static const char *parse_int(const char *p, int lo, int hi, int *out)
{
    int v = 0;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p) && v <= hi)
        v = v * 10 + (*p++ - '0');
    if (v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_date(const char *p, struct tz_date *dt)
{
    dt->time = 7200;
    if (*p == 'M') {
        dt->kind = 'M';
        if (!(p = parse_int(p + 1, 1, 12, &dt->m)) || *p++ != '.' || !(p = parse_int(p, 1, 5, &dt->w)) ||
            *p++ != '.' || !(p = parse_int(p, 0, 6, &dt->d)))
            return NULL;
    } else if (*p == 'J') {
        dt->kind = 'J';
        if (!(p = parse_int(p + 1, 1, 365, &dt->n)))
            return NULL;
    } else {
        dt->kind = 'N';
        if (!(p = parse_int(p, 0, 365, &dt->n)))
            return NULL;
    }
    if (*p == '/' && !(p = parse_hms(p + 1, 167, &dt->time)))
        return NULL;
    return p;
}

static int parse_rule(const char *p, struct tz_rule *r)
{
    int32_t v;
    memset(r, 0, sizeof *r);
    if (!(p = parse_name(p)) || !(p = parse_hms(p, 24, &v)))
        return -1;
    r->std_off = -v;
    if (!*p)
        return 0;
    if (!(p = parse_name(p)))
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, 24, &v)))
            return -1;
        r->dst_off = -v;
    }
    if (*p != ',') {
        /* no rule: POSIX leaves it to the implementation; the US rule is the historical default */
        static const struct tz_date us_start = {'M', 3, 2, 0, 0, 7200}, us_end = {'M', 11, 1, 0, 0, 7200};
        r->start = us_start;
        r->end = us_end;
        return *p ? -1 : 0;
    }
    if (!(p = parse_date(p + 1, &r->start)) || *p++ != ',' || !(p = parse_date(p, &r->end)))
        return -1;
    return *p ? -1 : 0;
}

/* Local midnight (seconds, local calendar) of the rule's day in year y, plus its time. */
static int64_t rule_local(const struct tz_date *dt, int64_t y)
{
    int64_t days;
    if (dt->kind == 'J') {
        days = trg_days_from_civil(y, 1, 1) + dt->n - 1;
        if (is_leap(y) && dt->n >= 60)
            days++;
    } else if (dt->kind == 'N') {
        days = trg_days_from_civil(y, 1, 1) + dt->n;
    } else {
        int64_t first = trg_days_from_civil(y, dt->m, 1);
        int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int64_t day = first + (dt->d - wd + 7) % 7 + (int64_t)(dt->w - 1) * 7;
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int dim = mdays[dt->m - 1] + (dt->m == 2 && is_leap(y));
        while (day >= first + dim)
            day -= 7;
        days = day;
    }
    return days * 86400 + dt->time;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    int m, d;
    trg_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    int64_t start = rule_local(&r->start, y) - r->std_off; /* the start time is in standard time */
    int64_t end = rule_local(&r->end, y) - r->dst_off;     /* the end time is in daylight time */
    int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ------------------------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

int trg_tz_parse(const unsigned char *data, size_t len, struct trg_tz **out, char *err, size_t errlen)
{
    struct trg_tz *tz = NULL;
    const unsigned char *p = data, *end = data + len;
    uint32_t cnt[6];
    int version, tsize = 4;
    size_t block;

    *out = NULL;
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        trg_tz_seterr(err, errlen, "not a TZif file");
        return TRG_EINVAL;
    }
    version = p[4];
    for (int pass = 0;; pass++) {
        if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0)
            goto bad;
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(p + 20 + 4 * i);
        /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
        if (cnt[3] > 100000 || cnt[4] == 0 || cnt[4] > 256 || cnt[5] > 65536 || cnt[2] > 10000)
            goto bad;
        block = (size_t)cnt[3] * (size_t)(tsize + 1) + (size_t)cnt[4] * 6 + cnt[5] +
                (size_t)cnt[2] * (size_t)(tsize + 4) + cnt[1] + cnt[0];
        if ((size_t)(end - p) - 44 < block)
            goto bad;
        if (pass == 0 && version >= '2') {
            p += 44 + block; /* skip the 32-bit data for the 64-bit one */
            tsize = 8;
            continue;
        }
        break;
    }
    tz = trg_calloc(1, sizeof *tz);
    if (!tz)
        goto oom;
    {
        const unsigned char *times = p + 44, *idx = times + (size_t)cnt[3] * (size_t)tsize;
        const unsigned char *types = idx + cnt[3];
        tz->n = cnt[3];
        if (tz->n) {
            tz->trans = trg_calloc(tz->n, sizeof *tz->trans);
            tz->off = trg_calloc(tz->n, sizeof *tz->off);
            if (!tz->trans || !tz->off)
                goto oom;
        }
        for (size_t i = 0; i < tz->n; i++) {
            tz->trans[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
            if (idx[i] >= cnt[4] || (i > 0 && tz->trans[i] <= tz->trans[i - 1]))
                goto bad;
            int32_t off = (int32_t)be32(types + 6 * idx[i]);
            if (off < -89999 || off > 93599)
                goto bad;
            tz->off[i] = off;
        }
        /* before the first transition: the first standard-time type (RFC 8536 §3.2), else type 0 */
        size_t t0 = 0;
        for (size_t i = 0; i < cnt[4]; i++)
            if (!types[6 * i + 4]) {
                t0 = i;
                break;
            }
        tz->off0 = (int32_t)be32(types + 6 * t0);
        if (tz->off0 < -89999 || tz->off0 > 93599)
            goto bad;
        p += 44 + block;
    }
    if (version >= '2' && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!nl)
            goto bad;
        if (nl > p + 1) {
            char rule[128];
            size_t n = (size_t)(nl - p - 1);
            if (n >= sizeof rule)
                goto bad;
            memcpy(rule, p + 1, n);
            rule[n] = 0;
            if (parse_rule(rule, &tz->rule) < 0)
                goto bad;
            tz->has_rule = 1;
        }
    }
    *out = tz;
    return 0;
bad:
    trg_tz_seterr(err, errlen, "malformed TZif data");
    trg_tz_free(tz);
    return TRG_EINVAL;
oom:
    trg_tz_seterr(err, errlen, "out of memory");
    trg_tz_free(tz);
    return TRG_ENOMEM;
}

int trg_tz_posix(const char *rule, struct trg_tz **out, char *err, size_t errlen)
{
    struct trg_tz *tz = trg_calloc(1, sizeof *tz);
    *out = NULL;
    if (!tz) {
        trg_tz_seterr(err, errlen, "out of memory");
        return TRG_ENOMEM;
    }
    if (parse_rule(rule, &tz->rule) < 0) {
        trg_tz_seterr(err, errlen, "not a POSIX TZ rule: %s", rule);
        trg_free(tz);
        return TRG_EINVAL;
    }
    tz->has_rule = 1;
    tz->off0 = tz->rule.std_off;
    *out = tz;
    return 0;
}

int trg_tz_load(const char *name, struct trg_tz **out, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR");
    unsigned char *buf = NULL;
    char *path = NULL;
    FILE *f = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (!name || !*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200) {
        trg_tz_seterr(err, errlen, "\"%s\" is not an IANA time zone name (like \"Europe/Berlin\" or \"UTC\")",
                      name ? name : "");
        return TRG_EINVAL;
    }
    path = trg_asprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    buf = trg_malloc(TZ_MAX_FILE);
    if (!path || !buf) {
        trg_tz_seterr(err, errlen, "out of memory");
        rc = TRG_ENOMEM;
        goto done;
    }
    f = fopen(path, "rb"); /* at config load, before the loop runs */
    if (!f) {
        trg_tz_seterr(err, errlen,
                      "unknown time zone \"%s\": cannot read %s (%s); install tzdata or check the name", name,
                      path, strerror(errno));
        rc = TRG_ENOTFOUND;
        goto done;
    }
    len = fread(buf, 1, TZ_MAX_FILE, f);
    rc = trg_tz_parse(buf, len, out, err, errlen);
    if (rc == TRG_EINVAL)
        trg_tz_seterr(err, errlen, "time zone \"%s\": %s is not a valid TZif file", name, path);
done:
    if (f)
        fclose(f);
    trg_free(buf);
    trg_free(path);
    return rc;
}

void trg_tz_free(struct trg_tz *tz)
{
    if (!tz)
        return;
    trg_free(tz->trans);
    trg_free(tz->off);
    trg_free(tz);
}

int32_t trg_tz_offset(const struct trg_tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->n == 0 || t < tz->trans[0])
        return tz->n == 0 && tz->has_rule ? rule_offset(&tz->rule, t) : tz->off0;
    if (t >= tz->trans[tz->n - 1] && tz->has_rule)
        return rule_offset(&tz->rule, t);
    size_t lo = 0, hi = tz->n; /* last i with trans[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

int trg_tz_to_utc(const struct trg_tz *tz, int64_t local, int64_t *utc)
{
    /* Offsets in force a day either side: transitions are further apart than that in every zone. */
    int32_t before = trg_tz_offset(tz, local - 86400 - 93600);
    int32_t after = trg_tz_offset(tz, local + 86400 + 93600);
    int64_t c[2] = {local - before, local - after};
    int n = 0;
    int64_t best = 0;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && before == after)
            break;
        if (c[i] + trg_tz_offset(tz, c[i]) != local)
            continue;
        if (n == 0 || c[i] < best)
            best = c[i];
        n++;
    }
    if (n == 0) {
        /* an offset neither side (two transitions within days): try the one at local itself */
        int32_t mid = trg_tz_offset(tz, local - trg_tz_offset(tz, local));
        if (local - mid + trg_tz_offset(tz, local - mid) == local) {
            best = local - mid;
            n = 1;
        }
    }
    if (n)
        *utc = best;
    return n;
}
