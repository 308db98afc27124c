/* test_cron.c — schedule expressions: parsing, errors, next fire over a large table (every operator,
 * L/W/# edge cases, Feb 29, the year bound, rate, at, DST in three zones both ways), time zone rules,
 * and a property test against a brute-force minute-by-minute scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/schedule/cron.h"
#include "connectors/schedule/tz.h"
#include "util.h"

static struct trg_tz *zones[4]; /* UTC (NULL), Berlin, New York, Lord Howe */
static const char *const zone_names[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"};

static int setup(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 1; i < 4; i++)
        if (trg_tz_load(zone_names[i], &zones[i], err, sizeof err) < 0) {
            fprintf(stderr, "%s (install tzdata)\n", err);
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 4; i++)
        trg_tz_free(zones[i]);
    return 0;
}

static int64_t utc(const char *s)
{
    int64_t t;
    bool zoned;
    assert_int_equal(trg_cron_parse_time(s, &t, &zoned), 0);
    return t;
}

static void fmt(int64_t t, char out[32])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400, y;
    int64_t r = t - days * 86400;
    int m, d;
    trg_civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(r / 3600), (int)(r / 60 % 60),
             (int)(r % 60));
}

struct next_case {
    const char *expr;
    int zone;          /* index into zones */
    const char *from;  /* UTC */
    const char *want;  /* UTC, or NULL = no next fire */
};

static const struct next_case next_cases[] = {
    /* every operator, UTC */
    {"cron(0 12 * * ? *)", 0, "2025-01-01T00:00:00Z", "2025-01-01T12:00:00Z"},
    {"cron(0 12 * * ? *)", 0, "2025-01-01T12:00:00Z", "2025-01-02T12:00:00Z"},
    {"cron(15,45 * * * ? *)", 0, "2025-01-01T00:15:00Z", "2025-01-01T00:45:00Z"},
    {"cron(0/20 * * * ? *)", 0, "2025-01-01T00:41:00Z", "2025-01-01T01:00:00Z"},
    {"cron(5/20 * * * ? *)", 0, "2025-01-01T00:26:00Z", "2025-01-01T00:45:00Z"},
    {"cron(10-12 3 * * ? *)", 0, "2025-01-01T03:11:00Z", "2025-01-01T03:12:00Z"},
    {"cron(10-30/10 3 * * ? *)", 0, "2025-01-01T03:20:00Z", "2025-01-01T03:30:00Z"},
    {"cron(0 8 ? * MON-FRI *)", 0, "2025-01-03T08:00:00Z", "2025-01-06T08:00:00Z"}, /* Fri -> Mon */
    {"cron(0 8 ? * 2-6 *)", 0, "2025-01-03T08:00:00Z", "2025-01-06T08:00:00Z"},     /* 1 = Sunday */
    {"cron(0 8 ? * 1 *)", 0, "2025-01-01T00:00:00Z", "2025-01-05T08:00:00Z"},       /* Sunday */
    {"cron(0 0 1 JAN,JUL ? *)", 0, "2025-02-01T00:00:00Z", "2025-07-01T00:00:00Z"},
    {"cron(0 0 1 */3 ? *)", 0, "2025-01-01T00:00:00Z", "2025-04-01T00:00:00Z"},
    {"cron(0 0 1 1 ? 2027,2030)", 0, "2025-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"cron(0 0 1 1 ? 2027-2029)", 0, "2028-06-01T00:00:00Z", "2029-01-01T00:00:00Z"},
    {"cron(0 0 1 1 ? 2026/5)", 0, "2026-06-01T00:00:00Z", "2031-01-01T00:00:00Z"},
    /* L, W, # */
    {"cron(0 12 L * ? *)", 0, "2024-02-01T00:00:00Z", "2024-02-29T12:00:00Z"},
    {"cron(0 12 L * ? *)", 0, "2025-02-01T00:00:00Z", "2025-02-28T12:00:00Z"},
    {"cron(0 12 L * ? *)", 0, "2025-04-30T12:00:00Z", "2025-05-31T12:00:00Z"},
    {"cron(0 9 LW * ? *)", 0, "2025-05-01T00:00:00Z", "2025-05-30T09:00:00Z"},  /* May 31 is a Saturday */
    {"cron(0 9 LW * ? *)", 0, "2025-08-01T00:00:00Z", "2025-08-29T09:00:00Z"},  /* Aug 31 is a Sunday */
    {"cron(0 9 LW * ? *)", 0, "2025-06-01T00:00:00Z", "2025-06-30T09:00:00Z"},  /* a Monday */
    {"cron(0 9 1W * ? *)", 0, "2025-02-01T00:00:00Z", "2025-02-03T09:00:00Z"},  /* Sat 1st -> Mon 3rd */
    {"cron(0 9 1W * ? *)", 0, "2025-06-01T00:00:00Z", "2025-06-02T09:00:00Z"},  /* Sun 1st -> Mon 2nd */
    {"cron(0 9 31W * ? *)", 0, "2025-08-01T00:00:00Z", "2025-08-29T09:00:00Z"}, /* Sun 31st -> Fri 29th */
    {"cron(0 9 15W * ? *)", 0, "2025-03-01T00:00:00Z", "2025-03-14T09:00:00Z"}, /* Sat 15th -> Fri 14th */
    {"cron(0 9 15W * ? *)", 0, "2025-06-01T00:00:00Z", "2025-06-16T09:00:00Z"}, /* Sun 15th -> Mon 16th */
    {"cron(0 9 31W * ? *)", 0, "2025-04-01T00:00:00Z", "2025-05-30T09:00:00Z"}, /* no 31st in April */
    {"cron(0 12 ? * 6L *)", 0, "2025-01-01T00:00:00Z", "2025-01-31T12:00:00Z"}, /* last Friday */
    {"cron(0 12 ? * 6L *)", 0, "2025-02-01T00:00:00Z", "2025-02-28T12:00:00Z"},
    {"cron(0 12 ? * L *)", 0, "2025-01-01T00:00:00Z", "2025-01-04T12:00:00Z"},  /* L alone: Saturday */
    {"cron(0 12 ? * 3#2 *)", 0, "2025-01-01T00:00:00Z", "2025-01-14T12:00:00Z"}, /* 2nd Tuesday */
    {"cron(0 12 ? * 6#5 *)", 0, "2025-02-01T00:00:00Z", "2025-05-30T12:00:00Z"}, /* 5th Friday */
    {"cron(0 12 ? * 5#5 *)", 0, "2025-01-31T00:00:00Z", "2025-05-29T12:00:00Z"}, /* none in Feb-Apr */
    {"cron(0 12 ? * 1#1 *)", 0, "2025-06-01T12:00:00Z", "2025-07-06T12:00:00Z"},
    /* Feb 29 */
    {"cron(0 0 29 2 ? *)", 0, "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"cron(0 0 29 2 ? *)", 0, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"}, /* 2100 is not leap */
    {"0 0 29 2 *", 0, "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"cron(0 0 30 2 ? *)", 0, "2025-01-01T00:00:00Z", NULL},
    /* the year bound */
    {"cron(0 0 1 1 ? *)", 0, "2199-01-01T00:00:00Z", NULL},
    {"cron(59 23 31 12 ? 2199)", 0, "2199-12-31T23:58:00Z", "2199-12-31T23:59:00Z"},
    {"cron(0 0 1 1 ? 2025)", 0, "2025-01-01T00:00:00Z", NULL},
    /* classic crontab and Vixie's day-OR rule */
    {"*/5 * * * *", 0, "2025-01-01T00:03:00Z", "2025-01-01T00:05:00Z"},
    {"0 9 1 * MON", 0, "2025-09-01T09:00:00Z", "2025-09-08T09:00:00Z"}, /* Mondays or the 1st */
    {"0 9 1 * MON", 0, "2025-09-29T09:00:00Z", "2025-10-01T09:00:00Z"},
    {"0 9 */10 * MON", 0, "2025-09-02T00:00:00Z", "2025-12-01T09:00:00Z"}, /* starts with *: AND */
    {"0 9 * * 7", 0, "2025-01-01T00:00:00Z", "2025-01-05T09:00:00Z"},  /* 7 = Sunday */
    {"0 9 * * 0", 0, "2025-01-01T00:00:00Z", "2025-01-05T09:00:00Z"},
    {"0 9 * * sun", 0, "2025-01-01T00:00:00Z", "2025-01-05T09:00:00Z"},
    {"0 0 */2 * *", 0, "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z"},
    {"30 4 1,15 * 5", 0, "2025-01-02T00:00:00Z", "2025-01-03T04:30:00Z"},
    {"@hourly", 0, "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"},
    {"@daily", 0, "2025-01-01T00:00:01Z", "2025-01-02T00:00:00Z"},
    {"@midnight", 0, "2025-01-01T23:59:59Z", "2025-01-02T00:00:00Z"},
    {"@weekly", 0, "2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z"},
    {"@monthly", 0, "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"},
    {"@yearly", 0, "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"},
    {"@annually", 0, "2025-06-01T00:00:00Z", "2026-01-01T00:00:00Z"},
    /* rate (from the epoch) and at */
    {"rate(1 minute)", 0, "2025-01-01T00:00:30Z", "2025-01-01T00:01:00Z"},
    {"rate(5 minutes)", 0, "2025-01-01T00:05:00Z", "2025-01-01T00:10:00Z"},
    {"rate(1 hour)", 0, "2025-01-01T00:59:59Z", "2025-01-01T01:00:00Z"},
    {"rate(2 days)", 0, "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"},
    {"rate(5 minutes)", 1, "2025-03-30T00:58:00Z", "2025-03-30T01:00:00Z"}, /* rate ignores DST */
    {"at(2030-01-01T10:00:00)", 0, "2025-01-01T00:00:00Z", "2030-01-01T10:00:00Z"},
    {"at(2030-01-01T10:00:00)", 2, "2025-01-01T00:00:00Z", "2030-01-01T15:00:00Z"},
    {"at(2030-07-01T10:00:00)", 1, "2025-01-01T00:00:00Z", "2030-07-01T08:00:00Z"},
    {"at(2030-01-01T10:00:00)", 0, "2030-01-01T10:00:00Z", NULL},
    {"at(2026-03-29T02:30:00)", 1, "2025-01-01T00:00:00Z", NULL}, /* does not exist in Berlin */
    /* Europe/Berlin: spring forward 2025-03-30 02:00 -> 03:00, fall back 2025-10-26 03:00 -> 02:00 */
    {"cron(30 2 * * ? *)", 1, "2025-03-29T12:00:00Z", "2025-03-31T00:30:00Z"}, /* 02:30 skipped */
    {"cron(0 3 * * ? *)", 1, "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z"},
    {"cron(30 1 * * ? *)", 1, "2025-03-29T12:00:00Z", "2025-03-30T00:30:00Z"},
    {"cron(30 2 * * ? *)", 1, "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z"}, /* first 02:30 */
    {"cron(30 2 * * ? *)", 1, "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"}, /* fires once */
    {"cron(0,30 * * * ? *)", 1, "2025-10-26T00:30:00Z", "2025-10-26T02:00:00Z"}, /* 02:00 CET is a repeat */
    {"cron(0 * * * ? *)", 1, "2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z"}, /* 01:00 CET, then 03:00 CEST */
    {"cron(0 12 * * ? *)", 1, "2025-07-01T00:00:00Z", "2025-07-01T10:00:00Z"},
    {"cron(0 12 * * ? *)", 1, "2150-07-01T00:00:00Z", "2150-07-01T10:00:00Z"}, /* from the footer rule */
    {"cron(0 12 * * ? *)", 1, "2150-12-01T00:00:00Z", "2150-12-01T11:00:00Z"},
    /* America/New_York: 2025-03-09 02:00 -> 03:00, 2025-11-02 02:00 -> 01:00 */
    {"cron(30 2 * * ? *)", 2, "2025-03-08T12:00:00Z", "2025-03-10T06:30:00Z"},
    {"cron(30 1 * * ? *)", 2, "2025-11-01T12:00:00Z", "2025-11-02T05:30:00Z"}, /* EDT 01:30 */
    {"cron(30 1 * * ? *)", 2, "2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"}, /* not EST 01:30 */
    {"cron(0 2 * * ? *)", 2, "2025-11-01T12:00:00Z", "2025-11-02T07:00:00Z"},
    {"cron(0 9 ? * MON-FRI *)", 2, "2040-03-09T15:00:00Z", "2040-03-12T13:00:00Z"}, /* footer rule, EDT */
    /* Australia/Lord_Howe: +10:30 / +11; 2025-04-06 02:00 -> 01:30, 2025-10-05 02:00 -> 02:30 */
    {"cron(15 2 * * ? *)", 3, "2025-10-04T12:00:00Z", "2025-10-05T15:15:00Z"}, /* Oct 5 02:15 skipped */
    {"cron(45 2 * * ? *)", 3, "2025-10-04T12:00:00Z", "2025-10-04T15:45:00Z"},
    {"cron(45 1 * * ? *)", 3, "2025-04-05T12:00:00Z", "2025-04-05T14:45:00Z"}, /* first 01:45, LHDT */
    {"cron(45 1 * * ? *)", 3, "2025-04-05T14:45:00Z", "2025-04-06T15:15:00Z"}, /* once */
    {"cron(0 2 * * ? *)", 3, "2025-04-05T12:00:00Z", "2025-04-05T15:30:00Z"},
};

static void test_next_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(next_cases); i++) {
        const struct next_case *k = &next_cases[i];
        struct trg_cron c;
        char err[256], got[32] = "none";
        int64_t next;
        if (trg_cron_parse(k->expr, 0, &c, err, sizeof err) != 0) {
            fprintf(stderr, "case %zu %s: parse error %s\n", i, k->expr, err);
            bad++;
            continue;
        }
        bool found = trg_cron_next(&c, zones[k->zone], utc(k->from), &next);
        if (found)
            fmt(next, got);
        if (found != (k->want != NULL) || (found && next != utc(k->want))) {
            fprintf(stderr, "case %zu %s in %s after %s: want %s, got %s\n", i, k->expr, zone_names[k->zone],
                    k->from, k->want ? k->want : "none", got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_seconds_form(void **state)
{
    (void)state;
    struct trg_cron c;
    char err[256];
    int64_t next;
    assert_int_equal(trg_cron_parse("*/2 * * * * *", TRG_CRON_SECONDS, &c, err, sizeof err), 0);
    assert_true(trg_cron_next(&c, NULL, utc("2025-01-01T00:00:01Z"), &next));
    assert_int_equal(next, utc("2025-01-01T00:00:02Z"));
    assert_true(trg_cron_next(&c, NULL, utc("2025-01-01T00:00:59Z"), &next));
    assert_int_equal(next, utc("2025-01-01T00:01:00Z"));
    assert_int_not_equal(trg_cron_parse("*/2 * * * *", TRG_CRON_SECONDS, &c, err, sizeof err), 0);
    assert_int_not_equal(trg_cron_parse("cron(0 12 * * ? *)", TRG_CRON_SECONDS, &c, err, sizeof err), 0);
}

static void test_bounds(void **state)
{
    (void)state;
    struct trg_cron c;
    char err[256];
    int64_t next;
    assert_int_equal(trg_cron_parse("rate(10 minutes)", 0, &c, err, sizeof err), 0);
    c.has_not_before = true;
    c.not_before = c.anchor = utc("2025-01-01T00:03:00Z");
    c.has_not_after = true;
    c.not_after = utc("2025-01-01T00:20:00Z");
    assert_true(trg_cron_next(&c, NULL, utc("2024-01-01T00:00:00Z"), &next));
    assert_int_equal(next, utc("2025-01-01T00:03:00Z"));
    assert_true(trg_cron_next(&c, NULL, next, &next));
    assert_int_equal(next, utc("2025-01-01T00:13:00Z"));
    assert_false(trg_cron_next(&c, NULL, next, &next));
}

struct err_case {
    const char *expr;
    const char *want; /* substring of the message */
};

static const struct err_case err_cases[] = {
    {"cron(0 12 * * * *)", "day-of-month and day-of-week cannot both be set; use ? in one"},
    {"cron(0 12 ? * ? *)", "cannot both be ?"},
    {"cron(0 12 * * ?)", "5 fields, expected 6"},
    {"cron(60 12 * * ? *)", "minutes: 60 is out of range 0-59"},
    {"cron(0 24 * * ? *)", "hours: 24 is out of range 0-23"},
    {"cron(0 12 32 * ? *)", "day-of-month: 32 is out of range 1-31"},
    {"cron(0 12 0 * ? *)", "day-of-month: 0 is out of range 1-31"},
    {"cron(0 12 * 13 ? *)", "month: 13 is out of range 1-12"},
    {"cron(0 12 ? * 8 *)", "day-of-week: 8 is out of range 1-7"},
    {"cron(0 12 ? * 0 *)", "day-of-week: 0 is out of range 1-7"},
    {"cron(0 12 * * ? 1969)", "year: 1969 is out of range 1970-2199"},
    {"cron(0 12 * * ? 2200)", "year: 2200 is out of range"},
    {"cron(0 12 ? * 2#6 *)", "week number after # must be 1-5"},
    {"cron(0 12 ? * FOO *)", "day-of-week: \"FOO\" is not a number or a day name"},
    {"cron(0 12 ? JANUARY ? *)", "month"},
    {"cron(10-5 12 * * ? *)", "minutes: \"10-5\": the range starts after it ends"},
    {"cron(*/0 12 * * ? *)", "the step must be"},
    {"cron(1,,2 12 * * ? *)", "empty list element"},
    {"cron(0 12 * * ? *", "missing ')'"},
    {"cron(0 ? * * * *)", "? is only allowed in the day"},
    {"0 12 * * * *", "6 fields, expected 5"},
    {"0 12 L * *", "L is only allowed in cron(...)"},
    {"0 12 * * 1#2", "# is only allowed in cron(...)"},
    {"0 12 * * 8", "day-of-week: 8 is out of range 0-7"},
    {"@reboot", "unknown macro @reboot"},
    {"rate(0 minutes)", "1-1000000"},
    {"rate(1 minutes)", "singular unit with 1: rate(1 minute)"},
    {"rate(5 minute)", "plural unit with 5"},
    {"rate(5 weeks)", "expected rate(N minute|minutes"},
    {"rate(five minutes)", "expected rate("},
    {"at(2025-02-29T10:00:00)", "at: expected at(yyyy-mm-ddThh:mm:ss)"},
    {"at(2025-01-01 10:00:00)", "at: expected"},
    {"at(2025-01-01T10:00:00Z)", "at: expected"},
    {"every(5 minutes)", "unknown form every(...)"},
    {"", "empty expression"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < TRG_ARRAY_SIZE(err_cases); i++) {
        struct trg_cron c;
        char err[256] = "";
        int rc = trg_cron_parse(err_cases[i].expr, 0, &c, err, sizeof err);
        if (rc == 0 || !strstr(err, err_cases[i].want))
            fail_msg("%s: want an error with \"%s\", got rc %d \"%s\"", err_cases[i].expr, err_cases[i].want, rc,
                     err);
    }
}

static void test_tz(void **state)
{
    (void)state;
    char err[256];
    struct trg_tz *tz = NULL;
    int64_t u;
    assert_int_equal(trg_tz_offset(zones[1], utc("2025-01-15T00:00:00Z")), 3600);
    assert_int_equal(trg_tz_offset(zones[1], utc("2025-07-15T00:00:00Z")), 7200);
    assert_int_equal(trg_tz_offset(zones[3], utc("2025-07-15T00:00:00Z")), 37800);
    assert_int_equal(trg_tz_offset(zones[3], utc("2025-12-15T00:00:00Z")), 39600);
    assert_int_equal(trg_tz_to_utc(zones[1], utc("2025-03-30T02:30:00Z"), &u), 0); /* gap */
    assert_int_equal(trg_tz_to_utc(zones[1], utc("2025-10-26T02:30:00Z"), &u), 2); /* overlap */
    assert_int_equal(u, utc("2025-10-26T00:30:00Z"));
    assert_int_equal(trg_tz_to_utc(zones[2], utc("2025-06-01T12:00:00Z"), &u), 1);
    assert_int_equal(u, utc("2025-06-01T16:00:00Z"));
    assert_int_equal(trg_tz_posix("EST5EDT,M3.2.0,M11.1.0", &tz, err, sizeof err), 0);
    assert_int_equal(trg_tz_offset(tz, utc("2031-07-01T00:00:00Z")), -4 * 3600);
    assert_int_equal(trg_tz_offset(tz, utc("2031-01-01T00:00:00Z")), -5 * 3600);
    trg_tz_free(tz);
    assert_int_equal(trg_tz_posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", &tz, err, sizeof err), 0);
    assert_int_equal(trg_tz_offset(tz, utc("2031-01-01T00:00:00Z")), 39600);
    trg_tz_free(tz);
    assert_int_not_equal(trg_tz_load("Nowhere/Atlantis", &tz, err, sizeof err), 0);
    assert_non_null(strstr(err, "unknown time zone"));
    assert_int_not_equal(trg_tz_load("../etc/passwd", &tz, err, sizeof err), 0);
    static const unsigned char junk[] = "TZif2 not really";
    assert_int_not_equal(trg_tz_parse(junk, sizeof junk, &tz, err, sizeof err), 0);
}

/* ---- property test: next() against a brute-force scan ---------------------------------------- */

static uint64_t rng = 0x1234567;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Does the local minute of the UTC instant u match c? Written independently of cron.c's search:
 * weekday by counting, W by trying the neighbours, and a repeated local time only at its first
 * occurrence. */
static bool brute_match(const struct trg_cron *c, const struct trg_tz *tz, int64_t u)
{
    int64_t l = u + trg_tz_offset(tz, u), first;
    if (trg_tz_to_utc(tz, l, &first) == 0 || first != u)
        return false;
    int64_t days = l / 86400, y;
    int64_t r = l % 86400;
    int m, d;
    trg_civil_from_days(days, &y, &m, &d);
    int h = (int)(r / 3600), mi = (int)(r / 60 % 60);
    if (!(c->min >> mi & 1) || !(c->hour >> h & 1) || !(c->mon >> m & 1))
        return false;
    if (c->eb) {
        int yi = (int)(y - 1970);
        if (!(c->year[yi / 64] >> (yi % 64) & 1))
            return false;
    }
    int dim = 28;
    while (dim < 31) {
        int64_t yy;
        int mm, dd;
        trg_civil_from_days(trg_days_from_civil(y, m, 1) + dim, &yy, &mm, &dd);
        if (mm != m)
            break;
        dim++;
    }
    int wd = (int)((days + 4) % 7);
    bool dom = (c->dom >> d & 1) || (c->dom_last && d == dim);
    for (int n = 1; n <= 31 && !dom; n++) {
        bool lw = c->dom_lastw && n == dim;
        if (!(c->dom_w >> n & 1) && !lw)
            continue;
        if (n > dim)
            continue;
        /* the weekday nearest to n within the month */
        for (int delta = 0; delta <= 2; delta++) {
            int cand[2] = {n - delta, n + delta};
            bool hit = false;
            for (int k = 0; k < 2; k++) {
                if (cand[k] < 1 || cand[k] > dim)
                    continue;
                int w = (int)((trg_days_from_civil(y, m, cand[k]) % 7 + 11) % 7);
                if (w != 0 && w != 6) {
                    dom = dom || cand[k] == d;
                    hit = true;
                    break;
                }
            }
            if (hit)
                break;
        }
    }
    int nth = 0;
    for (int k = d; k >= 1; k -= 7)
        nth++;
    bool dow = (c->dow >> wd & 1) || ((c->dow_last >> wd & 1) && d > dim - 7) || (c->dow_nth[wd] >> nth & 1);
    if (c->eb)
        return c->dom_star ? dow : dom;
    return (c->dom_star || c->dow_star) ? dom && dow : dom || dow;
}

static void random_field(char *out, size_t n, int lo, int hi)
{
    int a = lo + (int)rnd((unsigned)(hi - lo + 1)), b = lo + (int)rnd((unsigned)(hi - lo + 1));
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    switch (rnd(6)) {
    case 0: snprintf(out, n, "*"); break;
    case 1: snprintf(out, n, "*/%d", 1 + (int)rnd(6)); break;
    case 2: snprintf(out, n, "%d", a); break;
    case 3: snprintf(out, n, "%d-%d", a, b); break;
    case 4: snprintf(out, n, "%d,%d", a, b); break;
    default: snprintf(out, n, "%d-%d/%d", a, b, 1 + (int)rnd(3)); break;
    }
}

static void test_property(void **state)
{
    (void)state;
    int checked = 0;
    for (int i = 0; i < 500; i++) {
        char mi[32], h[32], dom[32], mon[32], dow[32], expr[200], err[256];
        struct trg_cron c;
        bool eb = rnd(2);
        random_field(mi, sizeof mi, 0, 59);
        random_field(h, sizeof h, 0, 23);
        random_field(mon, sizeof mon, 1, 12);
        if (rnd(3))
            snprintf(mon, sizeof mon, "*");
        if (eb) {
            static const char *const doms[] = {"L", "LW", "15W", "1W", "31W", "1-10"};
            static const char *const dows[] = {"MON-FRI", "6L", "3#2", "5#5", "1", "L"};
            if (rnd(2)) {
                snprintf(dom, sizeof dom, "?");
                if (rnd(2))
                    snprintf(dow, sizeof dow, "%s", dows[rnd(6)]);
                else
                    random_field(dow, sizeof dow, 1, 7);
            } else {
                snprintf(dow, sizeof dow, "?");
                if (rnd(2))
                    snprintf(dom, sizeof dom, "%s", doms[rnd(6)]);
                else
                    random_field(dom, sizeof dom, 1, 31);
            }
            snprintf(expr, sizeof expr, "cron(%s %s %s %s %s *)", mi, h, dom, mon, dow);
        } else {
            random_field(dom, sizeof dom, 1, 31);
            random_field(dow, sizeof dow, 0, 7);
            snprintf(expr, sizeof expr, "%s %s %s %s %s", mi, h, dom, mon, dow);
        }
        if (trg_cron_parse(expr, 0, &c, err, sizeof err) != 0)
            fail_msg("%s: %s", expr, err);
        const struct trg_tz *tz = zones[rnd(4)];
        /* around DST changes often: March/April and October/November, else anywhere in 2000-2100 */
        int64_t t = utc("2000-01-01T00:00:00Z") + (int64_t)rnd(100) * 31556952 + (int64_t)rnd(31556952);
        if (rnd(2))
            t = trg_days_from_civil(2020 + rnd(10), rnd(2) ? 3 + (int)rnd(2) : 10 + (int)rnd(2), 1) * 86400 +
                (int64_t)rnd(40 * 86400);
        int64_t next;
        if (!trg_cron_next(&c, tz, t, &next))
            continue;
        if (next <= t)
            fail_msg("%s: next %lld <= %lld", expr, (long long)next, (long long)t);
        if (!brute_match(&c, tz, next))
            fail_msg("%s: next %lld does not match", expr, (long long)next);
        int64_t end = next - t > 20 * 86400 ? t + 20 * 86400 : next;
        for (int64_t u = (t / 60 + 1) * 60; u < end; u += 60)
            if (brute_match(&c, tz, u)) {
                char a[32], b[32];
                fmt(u, a);
                fmt(next, b);
                fail_msg("%s: %s matches before next %s", expr, a, b);
            }
        checked++;
    }
    assert_true(checked > 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_table), cmocka_unit_test(test_seconds_form), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_tz),           cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
