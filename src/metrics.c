/* metrics.c — fixed metric families, samples in a chained hash table, Prometheus text output.
 *
 * A sample is keyed by (family, l1, l2). Counters and gauges hold one value; histograms hold
 * cumulative-at-render bucket counts, a sum and a count. Rendering sorts each family's samples by
 * label values so the output is deterministic.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum family_type {
    M_COUNTER,
    M_GAUGE,
    M_HISTOGRAM
};

static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double batch_buckets[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define MAX_BUCKETS 13
_Static_assert(TRG_ARRAY_SIZE(duration_buckets) <= MAX_BUCKETS, "bucket table too small");
_Static_assert(TRG_ARRAY_SIZE(batch_buckets) <= MAX_BUCKETS, "bucket table too small");

struct family {
    const char *name;
    const char *help;
    enum family_type type;
    const char *label1, *label2; /* label2 NULL for one-label families */
    const double *buckets;
    size_t n_buckets;
};

static const struct family families[TRG_M__COUNT] = {
    [TRG_M_EVENTS_RECEIVED] = {"trigd_events_received_total", "Events handed to trigd by a source.",
                               M_COUNTER, "source", NULL, NULL, 0},
    [TRG_M_EVENTS_FILTERED] = {"trigd_events_filtered_total",
                               "Events dropped by a route's filters (and acknowledged).", M_COUNTER, "route",
                               NULL, NULL, 0},
    [TRG_M_INVOCATIONS] = {"trigd_invocations_total", "Function invocations by outcome.", M_COUNTER,
                           "function", "outcome", NULL, 0},
    [TRG_M_INVOCATION_DURATION] = {"trigd_invocation_duration_seconds", "Duration of function invocations.",
                                   M_HISTOGRAM, "function", NULL, duration_buckets,
                                   TRG_ARRAY_SIZE(duration_buckets)},
    [TRG_M_BATCH_SIZE] = {"trigd_batch_size", "Events per invocation batch.", M_HISTOGRAM, "route", NULL,
                          batch_buckets, TRG_ARRAY_SIZE(batch_buckets)},
    [TRG_M_RETRIES] = {"trigd_retries_total", "Batches retried after a failed invocation.", M_COUNTER,
                       "route", NULL, NULL, 0},
    [TRG_M_DLQ_EVENTS] = {"trigd_dlq_events_total", "Events written to the dead-letter queue.", M_COUNTER,
                          "route", "condition", NULL, 0},
    [TRG_M_INFLIGHT] = {"trigd_inflight", "Invocations in progress.", M_GAUGE, "function", NULL, NULL, 0},
    [TRG_M_SOURCE_LAG] = {"trigd_source_lag", "Records the source holds that trigd has not read yet.",
                          M_GAUGE, "source", NULL, NULL, 0},
    [TRG_M_QUEUED] = {"trigd_queued", "Events in a route: waiting, in a batch being cut, or being invoked.",
                      M_GAUGE, "route", NULL, NULL, 0},
    [TRG_M_REJECTED] = {"trigd_events_rejected_total",
                        "Events a source could not hand over (route full, stopping).", M_COUNTER, "source",
                        NULL, NULL, 0},
    [TRG_M_INTAKE_DEPTH] = {"trigd_intake_depth",
                            "Entries in a route's durable intake stream in Redis (not yet finished).", M_GAUGE,
                            "route", NULL, NULL, 0},
    [TRG_M_SOURCE_EVENTS] = {"trigd_source_events_total",
                             "Things a source counted: skipped or lost schedule fires, expired messages, ...",
                             M_COUNTER, "source", "event", NULL, 0},
    [TRG_M_PARTITION_LAG] = {"trigd_source_partition_lag",
                             "Records of one partition past the last one trigd read (high watermark minus the next "
                             "offset).",
                             M_GAUGE, "source", "partition", NULL, 0},
    [TRG_M_PAUSED_PARTITIONS] = {"trigd_source_paused_partitions",
                                 "Partitions the source has paused right now (backpressure or stopping).", M_GAUGE,
                                 "source", NULL, NULL, 0},
    [TRG_M_BILLED_MS] = {"trigd_function_billed_ms_total",
                         "Billed duration of runtime function invocations (1 ms steps).", M_COUNTER, "function",
                         NULL, NULL, 0},
    [TRG_M_GB_SECONDS] = {"trigd_function_gb_seconds_total",
                          "Memory times billed duration of runtime function invocations (memory_mb / 1024 x s).",
                          M_COUNTER, "function", NULL, NULL, 0},
    [TRG_M_COLD_STARTS] = {"trigd_function_cold_starts_total", "Runtime instances started (cold starts).",
                           M_COUNTER, "function", NULL, NULL, 0},
    [TRG_M_INIT_DURATION] = {"trigd_function_init_duration_seconds",
                             "Init duration of runtime instances: from spawn to their first next.", M_HISTOGRAM,
                             "function", NULL, duration_buckets, TRG_ARRAY_SIZE(duration_buckets)},
    [TRG_M_INSTANCES] = {"trigd_function_instances", "Runtime instances by state.", M_GAUGE, "function", "state",
                         NULL, 0},
    [TRG_M_ASYNC_EVENTS] = {"trigd_async_events_total",
                            "Event invocations of the Invoke API: queued, retried, succeeded, failed (to on_failure), "
                            "expired (past max_event_age_s), lost (queued at shutdown).",
                            M_COUNTER, "function", "event", NULL, 0},
    [TRG_M_DLQ_WRITE_FAILURES] = {"trigd_dlq_write_failures_total",
                                  "Writes to the dead-letter queue that failed (disk full, Redis down); each is "
                                  "retried and the route's source paused meanwhile.",
                                  M_COUNTER, "route", NULL, NULL, 0},
    [TRG_M_DLQ_BLOCKED] = {"trigd_dlq_blocked", "1 while a route waits for the dead-letter queue to take a write.",
                           M_GAUGE, "route", NULL, NULL, 0},
    [TRG_M_SOURCE_HELD] = {"trigd_source_held",
                           "Events trigd holds for a source that cannot refuse them until its routes have room "
                           "(Kafka, MQTT).",
                           M_GAUGE, "source", NULL, NULL, 0},
};

struct sample {
    struct sample *next; /* hash chain */
    enum trg_metric f;
    char *l1, *l2; /* l2 NULL for one-label families */
    uint32_t hash;
    double value;                  /* counter/gauge; histogram: sum */
    uint64_t count;                /* histogram */
    uint64_t buckets[MAX_BUCKETS]; /* histogram: per bucket, not cumulative */
};

struct trg_metrics {
    struct sample **table;
    size_t n_slots; /* power of two */
    size_t n;
};

static uint32_t fnv(uint32_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    h ^= 0xff; /* separator, so ("ab","c") differs from ("a","bc") */
    h *= 16777619u;
    return h;
}

static uint32_t sample_hash(enum trg_metric f, const char *l1, const char *l2)
{
    uint32_t h = 2166136261u ^ (uint32_t)f;
    h = fnv(h, l1);
    return l2 ? fnv(h, l2) : h;
}

int trg_metrics_create(struct trg_metrics **out)
{
    struct trg_metrics *m = trg_calloc(1, sizeof *m);

    *out = NULL;
    if (!m)
        return TRG_ENOMEM;
    m->n_slots = 64;
    m->table = trg_calloc(m->n_slots, sizeof *m->table);
    if (!m->table) {
        trg_free(m);
        return TRG_ENOMEM;
    }
    *out = m;
    return 0;
}

static void sample_free(struct sample *s)
{
    trg_free(s->l1);
    trg_free(s->l2);
    trg_free(s);
}

void trg_metrics_destroy(struct trg_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_slots; i++) {
        struct sample *s = m->table[i], *next;
        for (; s; s = next) {
            next = s->next;
            sample_free(s);
        }
    }
    trg_free(m->table);
    trg_free(m);
}

/* Normalise the label values of a lookup to what the family declares. */
static bool labels(enum trg_metric f, const char **l1, const char **l2)
{
    if ((unsigned)f >= TRG_M__COUNT)
        return false;
    if (!*l1)
        *l1 = "";
    if (families[f].label2)
        *l2 = *l2 ? *l2 : "";
    else
        *l2 = NULL;
    return true;
}

static struct sample *lookup(const struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2,
                             uint32_t hash)
{
    struct sample *s = m->table[hash & (m->n_slots - 1)];

    for (; s; s = s->next)
        if (s->hash == hash && s->f == f && !strcmp(s->l1, l1) && (!l2 || !strcmp(s->l2, l2)))
            return s;
    return NULL;
}

static void grow(struct trg_metrics *m)
{
    size_t n_slots = m->n_slots * 2;
    struct sample **table = trg_calloc(n_slots, sizeof *table);

    if (!table)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->n_slots; i++) {
        struct sample *s = m->table[i], *next;
        for (; s; s = next) {
            next = s->next;
            s->next = table[s->hash & (n_slots - 1)];
            table[s->hash & (n_slots - 1)] = s;
        }
    }
    trg_free(m->table);
    m->table = table;
    m->n_slots = n_slots;
}

void trg_metrics_remove(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2)
{
    if (!m || !labels(f, &l1, &l2))
        return;
    uint32_t hash = sample_hash(f, l1, l2);
    for (struct sample **pp = &m->table[hash & (m->n_slots - 1)]; *pp; pp = &(*pp)->next) {
        struct sample *s = *pp;
        if (s->hash == hash && s->f == f && !strcmp(s->l1, l1) && (!l2 || !strcmp(s->l2, l2))) {
            *pp = s->next;
            m->n--;
            sample_free(s);
            return;
        }
    }
}

/* Find or create the sample; NULL on a bad family or ENOMEM. */
static struct sample *sample_get(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2)
{
    struct sample *s;
    uint32_t hash;

    if (!m || !labels(f, &l1, &l2))
        return NULL;
    hash = sample_hash(f, l1, l2);
    s = lookup(m, f, l1, l2, hash);
    if (s)
        return s;
    s = trg_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->f = f;
    s->hash = hash;
    s->l1 = trg_strdup(l1);
    s->l2 = l2 ? trg_strdup(l2) : NULL;
    if (!s->l1 || (l2 && !s->l2)) {
        sample_free(s);
        return NULL;
    }
    if (m->n >= m->n_slots)
        grow(m);
    s->next = m->table[hash & (m->n_slots - 1)];
    m->table[hash & (m->n_slots - 1)] = s;
    m->n++;
    return s;
}

void trg_metrics_add(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2, double v)
{
    struct sample *s;

    if ((unsigned)f >= TRG_M__COUNT || families[f].type == M_HISTOGRAM)
        return;
    s = sample_get(m, f, l1, l2);
    if (s)
        s->value += v;
}

void trg_metrics_set(struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2, double v)
{
    struct sample *s;

    if ((unsigned)f >= TRG_M__COUNT || families[f].type == M_HISTOGRAM)
        return;
    s = sample_get(m, f, l1, l2);
    if (s)
        s->value = v;
}

void trg_metrics_observe(struct trg_metrics *m, enum trg_metric f, const char *l1, double v)
{
    struct sample *s;
    const struct family *fam;

    if ((unsigned)f >= TRG_M__COUNT || families[f].type != M_HISTOGRAM || isnan(v))
        return;
    s = sample_get(m, f, l1, NULL);
    if (!s)
        return;
    fam = &families[f];
    for (size_t i = 0; i < fam->n_buckets; i++) {
        if (v <= fam->buckets[i]) {
            s->buckets[i]++;
            break;
        }
    }
    s->count++;
    s->value += v;
}

double trg_metrics_get(const struct trg_metrics *m, enum trg_metric f, const char *l1, const char *l2)
{
    const struct sample *s;

    if (!m || !labels(f, &l1, &l2))
        return 0;
    s = lookup(m, f, l1, l2, sample_hash(f, l1, l2));
    if (!s)
        return 0;
    return families[f].type == M_HISTOGRAM ? (double)s->count : s->value;
}

/* ---- rendering ------------------------------------------------------------------------------- */

/* A float as Prometheus reads it: shortest of %.15g/%.17g that round-trips, or +Inf/-Inf/NaN. */
static int add_value(struct trg_buf *out, double v)
{
    char tmp[40];

    if (isnan(v))
        return trg_buf_adds(out, "NaN");
    if (isinf(v))
        return trg_buf_adds(out, v > 0 ? "+Inf" : "-Inf");
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    return trg_buf_adds(out, tmp);
}

/* Label value: backslash, double quote and newline escaped. */
static int add_label_value(struct trg_buf *out, const char *s)
{
    int err = 0;

    for (; *s && !err; s++) {
        if (*s == '\\')
            err = trg_buf_adds(out, "\\\\");
        else if (*s == '"')
            err = trg_buf_adds(out, "\\\"");
        else if (*s == '\n')
            err = trg_buf_adds(out, "\\n");
        else
            err = trg_buf_addc(out, *s);
    }
    return err;
}

/* {l1="v1",l2="v2"[,le="x"]} */
static int add_labels(struct trg_buf *out, const struct family *fam, const struct sample *s, const char *le)
{
    int err = trg_buf_addf(out, "{%s=\"", fam->label1);

    err = err ? err : add_label_value(out, s->l1);
    err = err ? err : trg_buf_addc(out, '"');
    if (fam->label2) {
        err = err ? err : trg_buf_addf(out, ",%s=\"", fam->label2);
        err = err ? err : add_label_value(out, s->l2);
        err = err ? err : trg_buf_addc(out, '"');
    }
    if (le)
        err = err ? err : trg_buf_addf(out, ",le=\"%s\"", le);
    return err ? err : trg_buf_addc(out, '}');
}

static int render_sample(struct trg_buf *out, const struct family *fam, const struct sample *s)
{
    char le[40];
    uint64_t cum = 0;
    int err = 0;

    if (fam->type != M_HISTOGRAM) {
        err = trg_buf_adds(out, fam->name);
        err = err ? err : add_labels(out, fam, s, NULL);
        err = err ? err : trg_buf_addc(out, ' ');
        err = err ? err : add_value(out, s->value);
        return err ? err : trg_buf_addc(out, '\n');
    }
    for (size_t i = 0; i <= fam->n_buckets && !err; i++) {
        if (i < fam->n_buckets) {
            snprintf(le, sizeof le, "%.15g", fam->buckets[i]);
            cum += s->buckets[i];
        } else {
            snprintf(le, sizeof le, "+Inf");
            cum = s->count;
        }
        err = trg_buf_addf(out, "%s_bucket", fam->name);
        err = err ? err : add_labels(out, fam, s, le);
        err = err ? err : trg_buf_addf(out, " %llu\n", (unsigned long long)cum);
    }
    err = err ? err : trg_buf_addf(out, "%s_sum", fam->name);
    err = err ? err : add_labels(out, fam, s, NULL);
    err = err ? err : trg_buf_addc(out, ' ');
    err = err ? err : add_value(out, s->value);
    err = err ? err : trg_buf_addf(out, "\n%s_count", fam->name);
    err = err ? err : add_labels(out, fam, s, NULL);
    return err ? err : trg_buf_addf(out, " %llu\n", (unsigned long long)s->count);
}

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = *(const struct sample *const *)a, *y = *(const struct sample *const *)b;
    int c = strcmp(x->l1, y->l1);

    if (c || !x->l2)
        return c;
    return strcmp(x->l2, y->l2);
}

static const char *type_name(enum family_type t)
{
    return t == M_COUNTER ? "counter" : t == M_GAUGE ? "gauge" : "histogram";
}

int trg_metrics_render(const struct trg_metrics *m, struct trg_buf *out)
{
    const struct sample **v = NULL;
    int err = 0;

    if (!m)
        return TRG_EINVAL;
    if (m->n) {
        v = trg_malloc(m->n * sizeof *v);
        if (!v)
            return TRG_ENOMEM;
    }
    for (int f = 0; f < TRG_M__COUNT && !err; f++) {
        const struct family *fam = &families[f];
        size_t n = 0;

        for (size_t i = 0; i < m->n_slots; i++)
            for (const struct sample *s = m->table[i]; s; s = s->next)
                if (s->f == (enum trg_metric)f)
                    v[n++] = s;
        if (n > 1)
            qsort(v, n, sizeof *v, cmp_sample);
        /* HELP texts are ours and need no escaping. */
        err = trg_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                           type_name(fam->type));
        for (size_t i = 0; i < n && !err; i++)
            err = render_sample(out, fam, v[i]);
    }
    trg_free(v);
    return err;
}
