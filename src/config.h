/* config.h — trigd's configuration: one JSON file, validated whole against the option tables.
 *
 * Top-level keys (DESIGN.md §3): http, log, redis, dlq, state_dir, shutdown_timeout_ms, functions,
 * sources, routes. Each function and source is {"type": ..., <common options>, <type options>}; each
 * route names its source and function. Every error is reported as "$.path: message" and all of them
 * are collected in one pass.
 */
#ifndef TRG_CONFIG_H
#define TRG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "opt.h"
#include "redis.h"

struct trg_invoker_ops;
struct trg_source_ops;
struct trg_filter;

/* What happens to the Invoke API's Event invocations of a function (Lambda's asynchronous invocation). */
struct trg_async_conf {
    int64_t max_retry_attempts;   /* 0-2 */
    int64_t max_event_age_s;      /* 60-21600 */
    int64_t retry_delay_ms;       /* the wait before the first retry; doubles for the next */
    char *on_failure;             /* "dlq" or the name of another function */
};

/* An access key the Invoke and management APIs accept (SigV4). */
struct trg_credential {
    char *access_key_id;
    char *secret_key;
};

struct trg_function_conf {
    char *name;
    char *type;
    const struct trg_invoker_ops *ops;
    int64_t timeout_ms;
    int64_t max_concurrency;
    cJSON *async_json;            /* "async" as written, or NULL */
    struct trg_async_conf async;
    void *opts;          /* ops->opts_size bytes filled by ops->options */
    char *fingerprint;   /* the definition as compact JSON: equal fingerprints = unchanged on reload */
};

struct trg_source_conf {
    char *name;
    char *type;
    const struct trg_source_ops *ops;
    void *opts;
    char *fingerprint;
};

enum trg_envelope { TRG_ENVELOPE_LAMBDA = 0, TRG_ENVELOPE_RAW = 1 };

struct trg_route_conf {
    char *name;
    char *source;
    char *function;
    bool enabled;
    int64_t batch_size;
    int64_t batch_window_ms;
    int64_t max_batch_bytes;
    int64_t max_retry_attempts;   /* -1 = until the record expires */
    int64_t max_record_age_s;     /* -1 = forever */
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    bool bisect_on_error;
    bool report_batch_item_failures;
    int64_t max_queued_events;
    int envelope;                 /* enum trg_envelope */
    char *on_failure;             /* "dlq" */
    cJSON *filters;               /* the patterns as written, or NULL */
    struct trg_filter *filter;    /* compiled, or NULL = everything matches */
    char *fingerprint;
};

struct trg_config {
    char *path;                    /* the file, or "<embedded>" */
    struct {
        char *listen;
        char *admin_token;
        cJSON *invoke_credentials_json; /* as written, or NULL */
        struct trg_credential *credentials; /* from invoke_credentials: SigV4 required when n_credentials > 0 */
        size_t n_credentials;
        int64_t max_connections, max_connections_per_address, request_timeout_s, reserved_connections;
    } http;
    struct {
        int level;                 /* enum trg_log_level */
        int format;                /* enum trg_log_format */
    } log;
    bool has_redis;
    struct trg_redis_conf redis;
    struct {
        int backend;               /* enum trg_dlq_store (dlq.h) */
        char *path;                /* file backend directory; default <state_dir>/dlq */
        int64_t max_len;
    } dlq;
    char *state_dir;
    int64_t shutdown_timeout_ms;
    struct trg_function_conf *functions;
    size_t n_functions;
    struct trg_source_conf *sources;
    size_t n_sources;
    struct trg_route_conf *routes;
    size_t n_routes;
    int refs;                      /* engine objects built from this config (engine-owned count) */
};

/* Load and validate. On success *out is set (caller frees with trg_config_free()) and 0 returned;
 * otherwise TRG_EINVAL with every problem in errs, as "FILE: $.path: message" lines. */
int trg_config_load_file(const char *path, struct trg_config **out, struct trg_errs *errs);
/* The same from text; name is used in messages in place of the file name. */
int trg_config_load_text(const char *text, size_t len, const char *name, struct trg_config **out,
                         struct trg_errs *errs);
void trg_config_free(struct trg_config *c); /* NULL is a no-op */
/* Reference counting by the engine objects built from a config (sources, routes, functions): the last
 * unref frees it. */
void trg_config_ref(struct trg_config *c);
void trg_config_unref(struct trg_config *c);

const struct trg_function_conf *trg_config_function(const struct trg_config *c, const char *name);
const struct trg_source_conf *trg_config_source(const struct trg_config *c, const char *name);

/* The option tables, for docs/CONFIGURATION.md. */
struct trg_opt_section {
    const char *title;      /* "http", "routes.NAME", ... */
    const char *intro;
    const struct trg_opt *table;
    size_t n;
};
/* The i-th documented section of the core config, or NULL past the end. */
const struct trg_opt_section *trg_config_section(size_t i);

/* The embedded quick-start config (config/trigd.json, compiled in). */
extern const char trg_default_config[];

#endif
