/* kafka_conf.c — the Kafka source's options and its librdkafka settings: the option table, the
 * rdkafka pass-through with the keys trigd sets itself, and the checks made when the config is loaded. */
#include <string.h>

#include "kafka.h"

static const char *const kafka_formats[] = {"lambda", "minio", NULL};
static const char *const kafka_starts[] = {"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", NULL};

const struct trg_opt trg_kafka_options[] = {
    {"brokers", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct kafka_opts, brokers),
     "Bootstrap servers, host:port[,host:port...] (bootstrap.servers); also the event's bootstrapServers.",
     NULL, TRG_OPT_REQUIRED},
    {"topics", TRG_OPT_STRLIST, NULL, 0, 0, NULL, offsetof(struct kafka_opts, topics),
     "Topics to consume: names, or regular expressions starting with '^'.", NULL, TRG_OPT_REQUIRED},
    {"group", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct kafka_opts, group),
     "Consumer group id (group.id); trigd replicas in one group split the partitions.", NULL,
     TRG_OPT_REQUIRED},
    {"client_id", TRG_OPT_STRING, "\"trigd\"", 0, 0, NULL, offsetof(struct kafka_opts, client_id),
     "Client id sent to the brokers (client.id).", NULL, 0},
    {"starting_position", TRG_OPT_ENUM, "\"TRIM_HORIZON\"", 0, 0, NULL,
     offsetof(struct kafka_opts, starting_position),
     "Where a partition without a committed offset starts: TRIM_HORIZON (oldest), LATEST (new records) or "
     "AT_TIMESTAMP (the first record whose timestamp is at least starting_timestamp).",
     kafka_starts, 0},
    {"starting_timestamp", TRG_OPT_INT, NULL, 1, INT64_MAX, "ms", offsetof(struct kafka_opts, starting_timestamp),
     "With starting_position AT_TIMESTAMP (and only then): the time to start at, in ms since the epoch "
     "(StartingPositionTimestamp, in ms). Records before it are read from the oldest and skipped, not invoked.",
     NULL, 0},
    {"parallelization", TRG_OPT_INT, "1", 1, 10, "batches", offsetof(struct kafka_opts, parallelization),
     "Batches in flight per partition (ParallelizationFactor); above 1, order is kept per record key.", NULL,
     0},
    {"format", TRG_OPT_ENUM, "\"lambda\"", 0, 0, NULL, offsetof(struct kafka_opts, format),
     "lambda: Lambda's self-managed Kafka event; minio: each value is a MinIO bucket notification (notify_kafka) "
     "and the function gets the S3 Records event (other values are skipped with a warning).",
     kafka_formats, 0},
    {"commit_interval_ms", TRG_OPT_INT, "1000", 100, 60000, "ms", offsetof(struct kafka_opts, commit_interval_ms),
     "How often stored offsets are committed to the group (also at revoke and at shutdown).", NULL, 0},
    {"max_buffered", TRG_OPT_INT, "100000", 1, 10000000, "records", offsetof(struct kafka_opts, max_buffered),
     "Records read while the routes are full, held by trigd in order (the partitions taking turns) until they "
     "have room; at this many (or max_buffered_bytes) the partitions are paused (rd_kafka_pause_partitions) "
     "until half of them are handed on. Each pause drops what librdkafka prefetched, so a small buffer costs "
     "refetching.",
     NULL, 0},
    {"max_buffered_bytes", TRG_OPT_INT, "67108864", 1024, 4294967296, "bytes",
     offsetof(struct kafka_opts, max_buffered_bytes),
     "Key and value bytes of the records held while the routes are full, before the partitions are paused.",
     NULL, 0},
    {"rdkafka", TRG_OPT_KVLIST, "{}", 0, 0, NULL, offsetof(struct kafka_opts, rdkafka),
     "librdkafka settings passed to rd_kafka_conf_set (SASL, TLS, tuning), e.g. "
     "{\"partition.assignment.strategy\": \"cooperative-sticky\"}.",
     NULL, 0},
};

/* ---- configuration ----------------------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errlen)
{
    return rd_kafka_conf_set(conf, key, val, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

/* The librdkafka settings of opts, with errors (path given) added for each key rdkafka refuses. */
rd_kafka_conf_t *trg_kafka_build_conf(const struct kafka_opts *o, const char *path, struct trg_errs *errs)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    int bad = 0;
    if (!conf)
        return NULL;
    for (size_t i = 0; i < o->rdkafka.n; i++)
        if (conf_set(conf, o->rdkafka.k[i], o->rdkafka.v[i], err, sizeof err) < 0) {
            /* librdkafka's message quotes the value: not for sasl.password, ssl.key.password, ... */
            if (errs && trg_secret_name(o->rdkafka.k[i]))
                trg_errs_add(errs, path, "rdkafka.\"%s\": librdkafka refused the value (not shown: a secret)",
                             o->rdkafka.k[i]);
            else if (errs)
                trg_errs_add(errs, path, "rdkafka.\"%s\": %s", o->rdkafka.k[i], err);
            bad++;
        }
    const char *fixed[][2] = {
        {"bootstrap.servers", o->brokers ? o->brokers : ""},
        {"group.id", o->group ? o->group : ""},
        {"client.id", o->client_id ? o->client_id : "trigd"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        /* AT_TIMESTAMP: "error" tells trigd (an __AUTO_OFFSET_RESET consumer error) which partitions have no
         * committed offset; it seeks those to the beginning and skips to the timestamp (skip_ts) */
        {"auto.offset.reset", o->starting_position == KAFKA_LATEST         ? "latest"
                              : o->starting_position == KAFKA_AT_TIMESTAMP ? "error"
                                                                           : "earliest"},
        {"log.queue", "true"},
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(fixed); i++)
        if (conf_set(conf, fixed[i][0], fixed[i][1], err, sizeof err) < 0) {
            if (errs)
                trg_errs_add(errs, path, "%s: %s", fixed[i][0], err);
            bad++;
        }
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

void trg_kafka_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct kafka_opts *o = opts;
    static const char *const owned[] = {"bootstrap.servers", "group.id", "enable.auto.commit",
                                        "enable.auto.offset.store", "enable.partition.eof"};
    for (size_t i = 0; i < o->rdkafka.n; i++)
        for (size_t j = 0; j < TRG_ARRAY_SIZE(owned); j++)
            if (!strcmp(o->rdkafka.k[i], owned[j]))
                trg_errs_add(errs, path, "rdkafka.\"%s\" is set by trigd (use brokers/group; offsets are "
                             "stored only behind finished records)", owned[j]);
    if (o->topics.n == 0)
        trg_errs_add(errs, path, "topics: name at least one topic");
    if (o->starting_position == KAFKA_AT_TIMESTAMP && o->starting_timestamp <= 0)
        trg_errs_add(errs, path, "starting_timestamp: required with starting_position AT_TIMESTAMP (ms since the "
                     "epoch)");
    else if (o->starting_position != KAFKA_AT_TIMESTAMP && o->starting_timestamp > 0)
        trg_errs_add(errs, path, "starting_timestamp: only with starting_position AT_TIMESTAMP");
    rd_kafka_conf_t *conf = trg_kafka_build_conf(o, path, errs);
    if (conf)
        rd_kafka_conf_destroy(conf);
}

_Static_assert(TRG_ARRAY_SIZE(trg_kafka_options) == KAFKA_N_OPTIONS, "KAFKA_N_OPTIONS (kafka.h) counts the options");
