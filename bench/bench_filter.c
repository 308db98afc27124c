/* bench_filter.c — how fast does a route's filter decide, next to what the engine pays anyway?
 *
 *   bench/bench_filter [RECORDS [ROUNDS]]     (default 10000 records, 50 rounds)
 *
 * Generates a deterministic stream of order records shaped like a Kafka record with a parsed JSON
 * value, compiles ten realistic patterns, and prints evaluations per second for each pattern, for
 * all ten as one filter (OR, as a route's `filters`), and two baselines measured in the same run:
 * cJSON_Parse of the same records (which every record costs before any filter runs) and a trivial
 * always-true pattern. Ratios are against the parse baseline: "12.3x parse" means the filter decides
 * 12.3 times faster than the record could be parsed. Then, apart from "all 10", a few patterns for
 * the operators added since (cidr, anything-but lists, $or replacing a field, Unicode case folding).
 * Not a timed test; figures only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "filter.h"
#include "opt.h"
#include "util.h"

static const struct {
    const char *name;
    const char *json;
} patterns[] = {
    {"exact value", "{\"value\":{\"type\":[\"order.created\"]}}"},
    {"exact, nested, list", "{\"topic\":[\"orders\"],\"value\":{\"currency\":[\"EUR\",\"GBP\"],"
                            "\"customer\":{\"tier\":[\"gold\"]}}}"},
    {"numeric range", "{\"value\":{\"amount\":[{\"numeric\":[\">=\",100,\"<\",500]}]}}"},
    {"prefix in array of objects", "{\"value\":{\"items\":{\"sku\":[{\"prefix\":\"SKU-9\"}]}}}"},
    {"suffix ignoring case", "{\"value\":{\"customer\":{\"email\":[{\"suffix\":{\"equals-ignore-case\":"
                             "\"@EXAMPLE.ORG\"}}]}}}"},
    {"anything-but list + prefix",
     "{\"value\":{\"type\":[{\"anything-but\":[\"refund\",\"order.cancelled\"]}],"
     "\"customer\":{\"country\":[{\"anything-but\":{\"prefix\":\"U\"}}]}}}"},
    {"exists false", "{\"value\":{\"coupon\":[{\"exists\":false}]}}"},
    {"wildcard", "{\"key\":[{\"wildcard\":\"cust-*7\"}]}"},
    {"$or numeric | tag", "{\"$or\":[{\"value\":{\"amount\":[{\"numeric\":[\">\",900]}]}},"
                          "{\"value\":{\"tags\":[\"priority\"]}}]}"},
    {"ignore-case + numeric in items",
     "{\"value\":{\"items\":{\"category\":[{\"equals-ignore-case\":\"BOOKS\"}],"
     "\"qty\":[{\"numeric\":[\">\",2]}]}}}"},
};

/* Not part of "all 10", so that its figure stays comparable from one version to the next. */
static const struct {
    const char *name;
    const char *json;
} more[] = {
    {"cidr v4 | v6",
     "{\"value\":{\"sourceIp\":[{\"cidr\":\"10.0.0.0/9\"},{\"cidr\":\"2001:db8:8000::/33\"}]}}"},
    {"anything-but cidr list", "{\"value\":{\"sourceIp\":[{\"anything-but\":{\"cidr\":[\"10.0.0.0/8\","
                               "\"172.16.0.0/12\",\"192.168.0.0/16\"]}}]}}"},
    {"anything-but prefix list", "{\"value\":{\"order_id\":[{\"anything-but\":{\"prefix\":[\"o-00001\","
                                 "\"o-00002\",\"o-00003\"]}}],\"currency\":[\"EUR\"]}}"},
    {"$or replacing a field", "{\"value\":{\"type\":[\"order.paid\"]},\"$or\":[{\"value\":{\"type\":"
                              "[{\"anything-but\":\"refund\"}],\"amount\":[{\"numeric\":[\">\",900]}]}},"
                              "{\"key\":[{\"suffix\":\"7\"}]}]}"},
    {"equals-ignore-case, Unicode", "{\"value\":{\"customer\":{\"tier\":[{\"equals-ignore-case\":"
                                    "\"G\u00d6LD\"},{\"equals-ignore-case\":\"SILVER\"}]}}}"},
};

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static char *gen_record(long i)
{
    static const char *types[] = {"order.created", "order.paid", "order.shipped", "order.cancelled",
                                  "refund"};
    static const char *cur[] = {"EUR", "USD", "GBP", "CHF"};
    static const char *tiers[] = {"gold", "silver", "bronze", "bronze"};
    static const char *countries[] = {"DE", "US", "FR", "UK", "ES", "UY", "NL"};
    static const char *cats[] = {"books", "Books", "games", "garden", "kitchen", "toys"};
    static const char *tags[] = {"priority", "gift", "b2b", "express", "fragile"};
    static const char *domains[] = {"example.com", "example.org", "EXAMPLE.ORG", "mail.test"};
    struct trg_buf b = {0};
    trg_buf_addf(
        &b,
        "{\"topic\":\"orders\",\"partition\":%u,\"offset\":%ld,\"timestamp\":%lld,"
        "\"timestampType\":\"CREATE_TIME\",\"key\":\"cust-%u\",\"headers\":[],\"value\":{"
        "\"type\":\"%s\",\"order_id\":\"o-%08ld\",\"amount\":%u.%02u,\"currency\":\"%s\","
        "\"customer\":{\"id\":%u,\"tier\":\"%s\",\"country\":\"%s\",\"email\":\"c%u@%s\"},\"items\":[",
        rnd(12), i, 1745084650987LL + i * 37, rnd(100000), types[rnd(5)], i, rnd(1000), rnd(100), cur[rnd(4)],
        rnd(100000), tiers[rnd(4)], countries[rnd(7)], rnd(100000), domains[rnd(4)]);
    unsigned nitems = 1 + rnd(4);
    for (unsigned k = 0; k < nitems; k++)
        trg_buf_addf(&b, "%s{\"sku\":\"SKU-%u\",\"qty\":%u,\"category\":\"%s\",\"price\":%u.%02u}",
                     k ? "," : "", rnd(10000), 1 + rnd(4), cats[rnd(6)], rnd(200), rnd(100));
    trg_buf_adds(&b, "],\"tags\":[");
    unsigned ntags = rnd(3);
    for (unsigned k = 0; k < ntags; k++)
        trg_buf_addf(&b, "%s\"%s\"", k ? "," : "", tags[rnd(5)]);
    trg_buf_adds(&b, "]");
    if (rnd(3) == 0)
        trg_buf_addf(&b, ",\"coupon\":\"SAVE%u\"", 5 + rnd(20));
    /* from i, not rnd(): the records the ten patterns see stay the same as before this field */
    uint32_t h = (uint32_t)((uint64_t)i * 2654435761u);
    static const unsigned first[] = {10, 172, 192, 203};
    if (h % 4 == 3)
        trg_buf_addf(&b, ",\"sourceIp\":\"2001:db8:%x::%x\"", h >> 16, h & 0xFFFF);
    else
        trg_buf_addf(&b, ",\"sourceIp\":\"%u.%u.%u.%u\"", first[(h >> 8) % 4], (h >> 24) & 0xFF,
                     (h >> 16) & 0xFF, (h >> 2) & 0xFF);
    trg_buf_adds(&b, "}}");
    return trg_buf_steal(&b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct trg_filter *compile(const char *json)
{
    struct trg_errs errs = {0};
    cJSON *p = cJSON_Parse(json);
    struct trg_filter *f = trg_filter_compile(p, "$.bench", &errs);
    cJSON_Delete(p);
    if (!f) {
        fprintf(stderr, "bench_filter: %s\n", errs.lines.n ? errs.lines.v[0] : "out of memory");
        exit(1);
    }
    trg_errs_free(&errs);
    return f;
}

/* Evaluations per second of f over every record, rounds times; *matched gets the share that matched. */
static double run(const struct trg_filter *f, cJSON **recs, long n, int rounds, double *matched)
{
    long hits = 0;
    double t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (long i = 0; i < n; i++)
            hits += trg_filter_match(f, recs[i]);
    double dt = now_s() - t0;
    *matched = 100.0 * (double)hits / ((double)n * rounds);
    return (double)n * rounds / (dt > 0 ? dt : 1e-9);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 50;
    if (n <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: %s [RECORDS [ROUNDS]]\n", argv[0]);
        return 2;
    }
    trg_json_init_hooks();
    char **texts = trg_calloc((size_t)n, sizeof *texts);
    cJSON **recs = trg_calloc((size_t)n, sizeof *recs);
    if (!texts || !recs)
        return 1;
    size_t bytes = 0;
    for (long i = 0; i < n; i++) {
        texts[i] = gen_record(i);
        if (!texts[i])
            return 1;
        bytes += strlen(texts[i]);
    }

    /* baseline 1: parsing the records, which every record costs before any filter runs */
    int prounds = rounds / 10 > 0 ? rounds / 10 : 1;
    double t0 = now_s();
    for (int r = 0; r < prounds; r++)
        for (long i = 0; i < n; i++) {
            cJSON_Delete(recs[i]);
            recs[i] = cJSON_Parse(texts[i]);
        }
    double dt = now_s() - t0;
    double parse_rate = (double)n * prounds / (dt > 0 ? dt : 1e-9);

    printf("bench_filter: %ld records (%zu bytes on average), %d rounds\n", n, bytes / (size_t)n, rounds);
    printf("%-34s %14s %9s %12s\n", "", "evaluations/s", "matched", "vs parse");
    printf("%-34s %14.0f %9s %12s\n", "baseline: cJSON_Parse of the record", parse_rate, "", "1.0x");

    double pct;
    struct trg_filter *trivial = compile("{\"topic\":[{\"exists\":true}]}");
    double rate = run(trivial, recs, n, rounds, &pct);
    printf("%-34s %14.0f %8.1f%% %11.1fx\n", "baseline: trivial pattern", rate, pct, rate / parse_rate);
    trg_filter_free(trivial);

    struct trg_buf all = {0};
    trg_buf_adds(&all, "[");
    for (size_t k = 0; k < TRG_ARRAY_SIZE(patterns); k++) {
        struct trg_filter *f = compile(patterns[k].json);
        rate = run(f, recs, n, rounds, &pct);
        printf("%-34s %14.0f %8.1f%% %11.1fx\n", patterns[k].name, rate, pct, rate / parse_rate);
        trg_filter_free(f);
        trg_buf_addf(&all, "%s%s", k ? "," : "", patterns[k].json);
    }
    trg_buf_adds(&all, "]");
    /* the route view: all ten as one filter (trigd warns about more than five, and accepts them) */
    fflush(stdout);
    struct trg_filter *f = compile(all.data);
    rate = run(f, recs, n, rounds, &pct);
    printf("%-34s %14.0f %8.1f%% %11.1fx\n", "all 10 as one filter (OR)", rate, pct, rate / parse_rate);
    trg_filter_free(f);
    trg_buf_free(&all);
    for (size_t k = 0; k < TRG_ARRAY_SIZE(more); k++) {
        f = compile(more[k].json);
        rate = run(f, recs, n, rounds, &pct);
        printf("%-34s %14.0f %8.1f%% %11.1fx\n", more[k].name, rate, pct, rate / parse_rate);
        trg_filter_free(f);
    }

    for (long i = 0; i < n; i++) {
        cJSON_Delete(recs[i]);
        trg_free(texts[i]);
    }
    trg_free(recs);
    trg_free(texts);
    return 0;
}
