/* schedule_next.c — the cost of parsing and computing the next fire of 10,000 schedule expressions
 * (a mix of cron(...), crontab, rate and at, half of them in Europe/Berlin).
 *
 *   bench/schedule_next [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "connectors/schedule/cron.h"
#include "util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char *const exprs[] = {
        "cron(0 12 * * ? *)", "cron(0/15 8-17 ? * MON-FRI *)", "cron(0 9 LW * ? *)", "cron(0 9 15W * ? *)",
        "cron(0 12 ? * 6L *)", "cron(30 2 ? * 3#2 *)", "*/5 * * * *", "0 9 1 * MON", "@daily", "@hourly",
        "rate(5 minutes)", "at(2030-03-31T02:30:00)", "cron(0 0 29 2 ? *)", "0 0 13 * FRI"};
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    struct trg_cron *c = calloc((size_t)n, sizeof *c);
    struct trg_tz *berlin = NULL;
    char err[256];
    if (!c || trg_tz_load("Europe/Berlin", &berlin, err, sizeof err) < 0) {
        fprintf(stderr, "schedule_next: %s\n", c ? err : "out of memory");
        return 1;
    }
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (trg_cron_parse(exprs[i % (int)TRG_ARRAY_SIZE(exprs)], 0, &c[i], err, sizeof err) < 0)
            return 1;
    double t1 = now_s();
    int64_t sum = 0, from = 1750000000;
    for (int i = 0; i < n; i++) {
        int64_t next;
        if (trg_cron_next(&c[i], i % 2 ? berlin : NULL, from + i * 7919, &next))
            sum += next - from;
    }
    double t2 = now_s();
    printf("schedule_next: %d expressions: parse %.1f ms (%.2f us each), next fire %.1f ms (%.2f us each) [%lld]\n",
           n, (t1 - t0) * 1e3, (t1 - t0) * 1e6 / n, (t2 - t1) * 1e3, (t2 - t1) * 1e6 / n, (long long)(sum % 1000));
    trg_tz_free(berlin);
    free(c);
    return 0;
}
