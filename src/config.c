/* config.c — load the JSON config and validate it against the option tables. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "dlq.h"
#include "filter.h"
#include "invoke/invoke.h"
#include "log.h"
#include "registry.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const dlq_backends[] = {
    [TRG_DLQ_BACKEND_AUTO] = "auto", [TRG_DLQ_BACKEND_REDIS] = "redis", [TRG_DLQ_BACKEND_FILE] = "file", NULL};
static const char *const envelopes[] = {"lambda", "raw", NULL};

#define TOP(f) offsetof(struct trg_config, f)
static const struct trg_opt http_options[] = {
    {"listen", TRG_OPT_STRING, "\"127.0.0.1:9070\"", 0, 0, NULL, TOP(http.listen),
     "Address of the HTTP server (webhooks, Invoke API, metrics, admin API): host:port or [v6]:port.", NULL, 0},
    {"admin_token", TRG_OPT_SECRET, NULL, 0, 0, NULL, TOP(http.admin_token),
     "Bearer token required by /admin/ (trigctl), and by the Lambda APIs when invoke_credentials is not set. Without one the admin API is open to whoever reaches "
     "the listen address.",
     NULL, 0},
    {"invoke_credentials", TRG_OPT_JSON, NULL, 0, 0, NULL, TOP(http.invoke_credentials_json),
     "Access keys of the Lambda APIs (Invoke, InvokeAsync, functions, event source mappings): an object from an "
     "access key id to {\"secret_key_env\" or \"secret_key_file\"}. When set, every such request must carry a "
     "valid AWS Signature V4 (service lambda, any region, clock within 5 minutes); see docs/ADMIN.md.",
     NULL, 0},
    {"max_connections", TRG_OPT_INT, "1024", 16, 100000, "connections", TOP(http.max_connections),
     "Open connections in all; beyond it new ones are refused (raise the open-files limit with it).", NULL,
     0},
    {"max_connections_per_address", TRG_OPT_INT, "64", 1, 100000, "connections",
     TOP(http.max_connections_per_address),
     "Open connections from one client address; beyond it that address's new connections are refused.", NULL,
     0},
    {"request_timeout_s", TRG_OPT_INT, "30", 1, 3600, "s", TOP(http.request_timeout_s),
     "A request's headers and body must have arrived within this long of its connection's start (or of the "
     "previous request's end on a kept-alive connection), however slowly the bytes trickle; else the "
     "connection is closed. Time spent waiting for a function does not count.",
     NULL, 0},
    {"reserved_connections", TRG_OPT_INT, "16", 0, 10000, "connections", TOP(http.reserved_connections),
     "When fewer slots than this are free, each new connection closes the oldest one still sending its "
     "request, so /healthz, the admin API and requests that arrive whole always find a slot (kept below "
     "max_connections).",
     NULL, 0},
};

static const struct trg_opt credential_options[] = {
    {"secret_key", TRG_OPT_SECRET, NULL, 0, 0, NULL, offsetof(struct trg_credential, secret_key),
     "The secret access key of this access key id.", NULL, TRG_OPT_REQUIRED},
};
static const struct trg_opt log_options[] = {
    {"level", TRG_OPT_ENUM, "\"info\"", 0, 0, NULL, TOP(log.level), "Least severe level written.", log_levels, 0},
    {"format", TRG_OPT_ENUM, "\"text\"", 0, 0, NULL, TOP(log.format), "Text lines or JSON lines.", log_formats, 0},
};
static const struct trg_opt dlq_options[] = {
    {"backend", TRG_OPT_ENUM, "\"auto\"", 0, 0, NULL, TOP(dlq.backend),
     "Where failed events are kept: `auto` is Redis when `redis` is set, else files.", dlq_backends, 0},
    {"path", TRG_OPT_STRING, NULL, 0, 0, NULL, TOP(dlq.path),
     "Directory of the file backend (one ROUTE.jsonl per route). Default: `<state_dir>/dlq`.", NULL, 0},
    {"max_len", TRG_OPT_INT, "100000", 1, 100000000, "entries", TOP(dlq.max_len),
     "Approximate bound of each route's Redis DLQ stream (XADD MAXLEN ~).", NULL, 0},
};
static const struct trg_opt top_options[] = {
    {"state_dir", TRG_OPT_STRING, "\"/var/lib/trigd\"", 0, 0, NULL, TOP(state_dir),
     "Directory for trigd's own files (the file DLQ). Created when missing.", NULL, 0},
    {"shutdown_timeout_ms", TRG_OPT_INT, "30000", 0, 3600000, "ms", TOP(shutdown_timeout_ms),
     "On SIGTERM/SIGINT, how long in-flight work may finish before trigd exits anyway (unfinished events "
     "are not acknowledged, so their sources redeliver them).",
     NULL, 0},
};
static const char *const top_keys[] = {"http", "log", "redis", "dlq", "functions", "sources", "routes", NULL};

#define FN(f) offsetof(struct trg_function_conf, f)
static const struct trg_opt function_options[] = {
    {"type", TRG_OPT_STRING, NULL, 0, 0, NULL, FN(type), "`http`, `lambda`, `exec` or `runtime`.", NULL, TRG_OPT_REQUIRED},
    {"timeout_ms", TRG_OPT_INT, "30000", 1, 900000, "ms", FN(timeout_ms),
     "How long one invocation may run before it counts as a function error (Lambda's Timeout).", NULL, 0},
    {"max_concurrency", TRG_OPT_INT, "10", 1, 1000, "invocations", FN(max_concurrency),
     "Invocations of this function in flight at once, over all routes; more wait (Lambda's reserved "
     "concurrency).",
     NULL, 0},
    {"async", TRG_OPT_JSON, NULL, 0, 0, NULL, FN(async_json),
     "How Event invocations of the Invoke API are retried and where they go when they fail (an object; see "
     "functions.NAME.async).",
     NULL, 0},
};

#define AS(f) offsetof(struct trg_async_conf, f)
static const struct trg_opt async_options[] = {
    {"max_retry_attempts", TRG_OPT_INT, "2", 0, 2, "retries", AS(max_retry_attempts),
     "Retries of a failed Event invocation (Lambda's MaximumRetryAttempts).", NULL, 0},
    {"max_event_age_s", TRG_OPT_INT, "21600", 60, 21600, "s", AS(max_event_age_s),
     "An Event invocation older than this is not tried again (Lambda's MaximumEventAgeInSeconds).", NULL, 0},
    {"retry_delay_ms", TRG_OPT_INT, "60000", 1, 3600000, "ms", AS(retry_delay_ms),
     "Wait before the first retry, doubled before each next one (Lambda waits 1 then 2 minutes).", NULL, 0},
    {"on_failure", TRG_OPT_STRING, "\"dlq\"", 0, 0, NULL, AS(on_failure),
     "Where a failed Event invocation goes, as Lambda's asynchronous invocation record: \"dlq\" (the DLQ, "
     "under the name async.FUNCTION) or the name of another function, which gets the record as an Event invocation (with its own async settings). "
     "A chain of on_failure functions must end: one that comes back to a function is refused.",
     NULL, 0},
};

#define SRC(f) offsetof(struct trg_source_conf, f)
static const struct trg_opt source_options[] = {
    {"type", TRG_OPT_STRING, NULL, 0, 0, NULL, SRC(type), "The connector: `webhook`, ...", NULL, TRG_OPT_REQUIRED},
};

#define RT(f) offsetof(struct trg_route_conf, f)
static const struct trg_opt route_options[] = {
    {"source", TRG_OPT_STRING, NULL, 0, 0, NULL, RT(source), "Name of the source whose events this route takes.",
     NULL, TRG_OPT_REQUIRED},
    {"function", TRG_OPT_STRING, NULL, 0, 0, NULL, RT(function), "Name of the function the batches go to.", NULL,
     TRG_OPT_REQUIRED},
    {"enabled", TRG_OPT_BOOL, "true", 0, 0, NULL, RT(enabled),
     "A disabled route takes no events (Lambda's mapping State).", NULL, 0},
    {"batch_size", TRG_OPT_INT, "10", 1, 10000, "events", RT(batch_size),
     "Most events per invocation (BatchSize). Default by source: webhook 1.", NULL, 0},
    {"batch_window_ms", TRG_OPT_INT, "0", 0, 300000, "ms", RT(batch_window_ms),
     "How long to wait for more events after the first of a batch (MaximumBatchingWindowInSeconds, in ms).",
     NULL, 0},
    {"max_batch_bytes", TRG_OPT_INT, "6291456", 1, 6291456, "bytes", RT(max_batch_bytes),
     "Largest payload sent; a batch is cut before it would exceed it, and a single larger event goes to the "
     "DLQ as MaximumPayloadSizeExceeded (Lambda's 6 MB cap).",
     NULL, 0},
    {"max_retry_attempts", TRG_OPT_INT, "-1", -1, 10000, "retries", RT(max_retry_attempts),
     "Retries of a failing batch before its events go to the DLQ; -1 = until they expire "
     "(MaximumRetryAttempts). Default by source: webhook 2.",
     NULL, 0},
    {"max_record_age_s", TRG_OPT_INT, "-1", -1, 604800, "s", RT(max_record_age_s),
     "Events older than this are not retried but go to the DLQ; -1 = no limit (MaximumRecordAgeInSeconds, "
     "MaximumEventAgeInSeconds). Default by source: webhook 21600.",
     NULL, 0},
    {"retry_base_ms", TRG_OPT_INT, "1000", 1, 3600000, "ms", RT(retry_base_ms),
     "First retry delay bound; doubles per attempt, with full jitter.", NULL, 0},
    {"retry_max_ms", TRG_OPT_INT, "300000", 1, 86400000, "ms", RT(retry_max_ms),
     "Largest retry delay (also for throttling).", NULL, 0},
    {"bisect_on_error", TRG_OPT_BOOL, "false", 0, 0, NULL, RT(bisect_on_error),
     "Split a failing batch in two halves and retry each (BisectBatchOnFunctionError).", NULL, 0},
    {"report_batch_item_failures", TRG_OPT_BOOL, "false", 0, 0, NULL, RT(report_batch_item_failures),
     "Read `batchItemFailures` in the response and retry only those items (FunctionResponseTypes: "
     "ReportBatchItemFailures).",
     NULL, 0},
    {"max_queued_events", TRG_OPT_INT, "10000", 1, 10000000, "events", RT(max_queued_events),
     "Events the route holds (queued, in flight, waiting to retry) before its source is paused "
     "(webhooks answer 503).",
     NULL, 0},
    {"envelope", TRG_OPT_ENUM, "\"lambda\"", 0, 0, NULL, RT(envelope),
     "`lambda`: the event as the matching AWS service sends it; `raw`: the payload alone.", envelopes, 0},
    {"on_failure", TRG_OPT_STRING, "\"dlq\"", 0, 0, NULL, RT(on_failure),
     "Where events that finally failed go (DestinationConfig.OnFailure): `dlq`, or for a kafka source "
     "`kafka://TOPIC` (produced to TOPIC with their key and headers plus x-trigd-condition, x-trigd-function, "
     "x-trigd-error and x-trigd-request-id headers).", NULL, 0},
    {"filters", TRG_OPT_JSON, NULL, 0, 0, NULL, RT(filters),
     "Up to 5 EventBridge patterns, OR'd (FilterCriteria); non-matching events are dropped and "
     "acknowledged. See docs/FILTERS.md.",
     NULL, 0},
};

static const struct trg_opt_section sections[] = {
    {"Top level", "Keys of the config file itself.", top_options, TRG_ARRAY_SIZE(top_options)},
    {"http", "The HTTP server.", http_options, TRG_ARRAY_SIZE(http_options)},
    {"log", "Logging (to standard error).", log_options, TRG_ARRAY_SIZE(log_options)},
    {"dlq", "The dead-letter queue.", dlq_options, TRG_ARRAY_SIZE(dlq_options)},
    {"http.invoke_credentials.ACCESS_KEY_ID", "One access key of the Lambda APIs.", credential_options,
     TRG_ARRAY_SIZE(credential_options)},
    {"functions.NAME", "Options of every function, whatever its type.", function_options,
     TRG_ARRAY_SIZE(function_options)},
    {"functions.NAME.async", "Event invocations of the function through the Invoke API (docs/ADMIN.md).",
     async_options, TRG_ARRAY_SIZE(async_options)},
    {"sources.NAME", "Options of every source, whatever its type.", source_options, TRG_ARRAY_SIZE(source_options)},
    {"routes.NAME", "A route takes the events of one source, filters, batches and sends them to one function.",
     route_options, TRG_ARRAY_SIZE(route_options)},
};

const struct trg_opt_section *trg_config_section(size_t i)
{
    return i < TRG_ARRAY_SIZE(sections) ? &sections[i] : NULL;
}

/* --- helpers --- */

static bool valid_name(const char *s)
{
    if (!s[0] || s[0] == '.' || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

/* The keys of obj, NULL-terminated; pointers borrowed from obj. */
static const char **keys_of(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
        n++;
    const char **k = trg_calloc(n + 1, sizeof *k);
    if (!k)
        return NULL;
    n = 0;
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
        k[n++] = it->string;
    return k;
}

/* Names a table accepts (with NAME_env / NAME_file for secrets), plus `more`; caller frees the array
 * and the strings (trg_strlist_free on a strlist wrapping it). */
static int table_names(const struct trg_opt *t, size_t n, const char *const *more, struct trg_strlist *out)
{
    size_t cap = 2 * n + 8;
    out->v = trg_calloc(cap + 1, sizeof *out->v);
    if (!out->v)
        return TRG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (t[i].type == TRG_OPT_SECRET) {
            out->v[out->n++] = trg_asprintf("%s_env", t[i].name);
            out->v[out->n++] = trg_asprintf("%s_file", t[i].name);
        } else {
            out->v[out->n++] = trg_strdup(t[i].name);
        }
    }
    for (size_t i = 0; more && more[i] && out->n < cap; i++)
        out->v[out->n++] = trg_strdup(more[i]);
    return 0;
}

static char *sub_path(const char *parent, const char *key)
{
    return trg_asprintf("%s.%s", parent, key);
}

/* Apply a common table and a type table to one object; unknown keys are those in neither. */
static int apply_two(const struct trg_opt *common, size_t nc, void *cbase, const struct trg_opt *typed,
                     size_t nt, void *tbase, const cJSON *obj, const char *path, struct trg_errs *errs)
{
    const char **all = keys_of(obj);
    struct trg_strlist cnames = {0};
    table_names(common, nc, NULL, &cnames);
    int bad = trg_opt_apply(common, nc, cbase, obj, path, all, errs);
    /* The typed table (even an empty one) is the one that reports keys neither table knows. */
    bad += trg_opt_apply(typed, nt, tbase, obj, path, (const char *const *)cnames.v, errs);
    trg_strlist_free(&cnames);
    trg_free(all);
    return bad;
}

static char *fingerprint(const cJSON *obj, struct trg_errs *errs)
{
    char *fp = cJSON_PrintUnformatted(obj);
    if (!fp)
        errs->lost = true;
    return fp;
}

/* --- sections --- */

/* Functions and sources are loaded alike: {"type": ..., common options, the type's options}. A kind
 * says what differs: where they live, the common table, and how a type name finds its table. */
struct typed_fields {
    char **name;
    char **fingerprint;
    void **opts;
};

struct kind {
    const char *section;         /* "$.functions" */
    const char *what;            /* "function" */
    const char *known;           /* the type names, for the error message */
    size_t size;                 /* of one element */
    const struct trg_opt *common;
    size_t n_common;
    /* Look up the type and remember its ops in the element; false when there is no such type. */
    bool (*bind)(void *elem, const char *type, const struct trg_opt **table, size_t *n, size_t *opts_size,
                 void (**check)(const void *opts, const char *path, struct trg_errs *errs));
    void (*unbind)(void *elem);
    struct typed_fields (*fields)(void *elem);
};

static bool bind_function(void *elem, const char *type, const struct trg_opt **table, size_t *n,
                          size_t *opts_size, void (**check)(const void *, const char *, struct trg_errs *))
{
    struct trg_function_conf *f = elem;
    if (!(f->ops = trg_registry_invoker(type)))
        return false;
    *table = f->ops->options, *n = f->ops->n_options, *opts_size = f->ops->opts_size, *check = f->ops->check;
    return true;
}

static void unbind_function(void *elem) { ((struct trg_function_conf *)elem)->ops = NULL; }

static struct typed_fields function_fields(void *elem)
{
    struct trg_function_conf *f = elem;
    return (struct typed_fields){&f->name, &f->fingerprint, &f->opts};
}

static bool bind_source(void *elem, const char *type, const struct trg_opt **table, size_t *n, size_t *opts_size,
                        void (**check)(const void *, const char *, struct trg_errs *))
{
    struct trg_source_conf *s = elem;
    if (!(s->ops = trg_registry_source(type)))
        return false;
    *table = s->ops->options, *n = s->ops->n_options, *opts_size = s->ops->opts_size, *check = s->ops->check;
    return true;
}

static void unbind_source(void *elem) { ((struct trg_source_conf *)elem)->ops = NULL; }

static struct typed_fields source_fields(void *elem)
{
    struct trg_source_conf *s = elem;
    return (struct typed_fields){&s->name, &s->fingerprint, &s->opts};
}

static const struct kind function_kind = {
    "$.functions", "function", "http, lambda, exec, runtime", sizeof(struct trg_function_conf), function_options,
    TRG_ARRAY_SIZE(function_options), bind_function, unbind_function, function_fields,
};
static const struct kind source_kind = {
    "$.sources", "source", NULL, sizeof(struct trg_source_conf), source_options, TRG_ARRAY_SIZE(source_options),
    bind_source, unbind_source, source_fields,
};

/* Load one typed definition `it` into elem. */
static void load_one(const struct kind *k, void *elem, const cJSON *it, const char *path, struct trg_errs *errs)
{
    struct typed_fields tf = k->fields(elem);
    if (!valid_name(it->string))
        trg_errs_add(errs, path, "a name uses only letters, digits, '_', '-' and '.'");
    if (!cJSON_IsObject(it)) {
        trg_errs_add(errs, path, "must be an object with a \"type\"");
        trg_opt_apply(k->common, k->n_common, elem, NULL, path, NULL, errs);
        return;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
    const struct trg_opt *table = NULL;
    size_t n = 0, opts_size = 0;
    void (*check)(const void *, const char *, struct trg_errs *) = NULL;
    bool bound = cJSON_IsString(type) && k->bind(elem, type->valuestring, &table, &n, &opts_size, &check);
    if (cJSON_IsString(type) && !bound) {
        char *tp = sub_path(path, "type");
        if (k->known)
            trg_errs_add(errs, tp, "unknown %s type \"%s\" (known: %s)", k->what, type->valuestring, k->known);
        else
            trg_errs_add(errs, tp, "unknown %s type \"%s\"", k->what, type->valuestring);
        trg_free(tp);
    }
    if (bound && !(*tf.opts = trg_calloc(1, opts_size ? opts_size : 1))) {
        errs->lost = true;
        k->unbind(elem);
        bound = false;
    }
    if (bound) {
        int bad = apply_two(k->common, k->n_common, elem, table, n, *tf.opts, it, path, errs);
        if (!bad && check)
            check(*tf.opts, path, errs);
    } else {
        const char **all = keys_of(it);
        trg_opt_apply(k->common, k->n_common, elem, it, path, all, errs);
        trg_free(all);
    }
    *tf.fingerprint = fingerprint(it, errs);
}

/* Load every definition of a section into a new array (NULL when there is none); *count is set. */
static void *load_typed(const struct kind *k, const cJSON *obj, size_t *count, struct trg_errs *errs)
{
    if (!obj)
        return NULL;
    if (!cJSON_IsObject(obj)) {
        trg_errs_add(errs, k->section, "must be an object from %s names to definitions", k->what);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    char *arr = trg_calloc(n ? n : 1, k->size);
    if (!arr) {
        errs->lost = true;
        return NULL;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        char *path = sub_path(k->section, it->string);
        bool dup = false;
        for (size_t i = 0; i < *count && !dup; i++)
            dup = strcmp(*k->fields(arr + i * k->size).name, it->string) == 0;
        void *elem = arr + *count * k->size;
        if (dup) {
            trg_errs_add(errs, path, "defined twice");
        } else if (!path || !(*k->fields(elem).name = trg_strdup(it->string))) {
            errs->lost = true;
        } else {
            (*count)++;
            load_one(k, elem, it, path, errs);
        }
        trg_free(path);
    }
    return arr;
}

static void load_routes(struct trg_config *c, const cJSON *obj, struct trg_errs *errs)
{
    if (!obj)
        return;
    if (!cJSON_IsObject(obj)) {
        trg_errs_add(errs, "$.routes", "must be an object from route names to definitions");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    c->routes = trg_calloc(n ? n : 1, sizeof *c->routes);
    if (!c->routes) {
        errs->lost = true;
        return;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        char *path = sub_path("$.routes", it->string);
        bool dup = false;
        for (size_t k = 0; k < c->n_routes && !dup; k++)
            dup = strcmp(c->routes[k].name, it->string) == 0;
        if (dup) {
            trg_errs_add(errs, path, "defined twice");
            trg_free(path);
            continue;
        }
        struct trg_route_conf *r = &c->routes[c->n_routes++];
        r->name = trg_strdup(it->string);
        if (!r->name || !path) {
            errs->lost = true;
            c->n_routes--;
            trg_free(path);
            continue;
        }
        if (!valid_name(it->string))
            trg_errs_add(errs, path, "a name uses only letters, digits, '_', '-' and '.'");
        /* The source type's defaults sit under what the route says. */
        cJSON *merged = NULL;
        const struct trg_source_conf *src = NULL;
        const cJSON *sname = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "source") : NULL;
        if (cJSON_IsString(sname))
            src = trg_config_source(c, sname->valuestring);
        if (cJSON_IsObject(it) && src && src->ops && src->ops->route_defaults) {
            merged = cJSON_Parse(src->ops->route_defaults);
            for (const cJSON *kv = it->child; kv && merged; kv = kv->next) {
                cJSON_DeleteItemFromObjectCaseSensitive(merged, kv->string);
                cJSON *copy = cJSON_Duplicate(kv, 1);
                if (!copy || !cJSON_AddItemToObject(merged, kv->string, copy)) {
                    cJSON_Delete(copy);
                    cJSON_Delete(merged);
                    merged = NULL;
                }
            }
            if (!merged) /* out of memory: the defaults would be wrong */
                errs->lost = true;
        }
        const cJSON *use = merged ? merged : it;
        trg_opt_apply(route_options, TRG_ARRAY_SIZE(route_options), r, use, path, NULL, errs);
        if (r->source && !src) {
            char *p = sub_path(path, "source");
            trg_errs_add(errs, p, "no source is named \"%s\"", r->source);
            trg_free(p);
        }
        if (r->function && !trg_config_function(c, r->function)) {
            char *p = sub_path(path, "function");
            trg_errs_add(errs, p, "no function is named \"%s\"", r->function);
            trg_free(p);
        }
        /* Cross-checks read fields that the table left at 0 when their own value was refused. */
        const cJSON *age = cJSON_GetObjectItemCaseSensitive(use, "max_record_age_s");
        if (cJSON_IsNumber(age) && age->valuedouble == 0) {
            char *p = sub_path(path, "max_record_age_s");
            trg_errs_add(errs, p, "must be -1 (no limit) or at least 1");
            trg_free(p);
        }
        if (r->retry_base_ms > 0 && r->retry_max_ms > 0 && r->retry_max_ms < r->retry_base_ms) {
            char *p = sub_path(path, "retry_max_ms");
            trg_errs_add(errs, p, "must be at least retry_base_ms (%lld)", (long long)r->retry_base_ms);
            trg_free(p);
        }
        if (r->on_failure && strcmp(r->on_failure, "dlq") != 0) {
            const char *scheme = src && src->ops ? src->ops->failure_scheme : NULL;
            size_t sl = scheme ? strlen(scheme) : 0;
            if (!scheme || strncmp(r->on_failure, scheme, sl) != 0 || !r->on_failure[sl]) {
                char *p = sub_path(path, "on_failure");
                if (scheme)
                    trg_errs_add(errs, p, "must be \"dlq\" or \"%sNAME\"", scheme);
                else
                    trg_errs_add(errs, p, "must be \"dlq\"");
                trg_free(p);
            }
        }
        if (r->filters) {
            char *p = sub_path(path, "filters");
            if (!cJSON_IsArray(r->filters))
                trg_errs_add(errs, p, "must be an array of pattern objects");
            else
                r->filter = trg_filter_compile(r->filters, p, errs);
            trg_free(p);
        }
        r->fingerprint = fingerprint(use, errs);
        cJSON_Delete(merged);
        trg_free(path);
    }
}

/* The function that f's async on_failure names, or NULL ("dlq", or unknown: reported elsewhere). */
static const struct trg_function_conf *failure_next(const struct trg_config *c,
                                                    const struct trg_function_conf *f)
{
    const char *of = f->async.on_failure;
    return of && strcmp(of, "dlq") != 0 ? trg_config_function(c, of) : NULL;
}

/* on_failure chains must end (in "dlq" or a function without another function as its on_failure): an event
 * failing round a cycle would be re-queued for ever. Each cycle is reported once, at its first function in
 * the file, with the path round it ("a -> b -> a"; "a -> a" for a function naming itself). */
static void check_failure_cycles(const struct trg_config *c, struct trg_errs *errs)
{
    for (size_t i = 0; i < c->n_functions; i++) {
        const struct trg_function_conf *start = &c->functions[i], *f = start;
        /* Walk at most n_functions steps: a chain that does not come back to start by then never does. */
        size_t steps = 0;
        bool back = false;
        while ((f = failure_next(c, f)) && steps++ < c->n_functions) {
            if (f == start) {
                back = true;
                break;
            }
            if (f < start) /* the cycle goes through a function earlier in the file: reported there */
                break;
        }
        if (!back || !start->name)
            continue;
        struct trg_buf chain = {0};
        int rc = trg_buf_adds(&chain, start->name);
        f = start;
        do {
            f = failure_next(c, f);
            rc |= trg_buf_adds(&chain, " -> ");
            rc |= trg_buf_adds(&chain, f->name);
        } while (f != start);
        char *p = trg_asprintf("$.functions.%s.async.on_failure", start->name);
        if (rc != 0 || !p || !chain.data)
            errs->lost = true;
        else
            trg_errs_add(errs, p,
                         "the on_failure chain comes back to this function (%s): an event that fails "
                         "would go round for ever; end the chain with \"dlq\"",
                         chain.data);
        trg_free(p);
        trg_buf_free(&chain);
    }
}

/* Each function's "async" object (defaults when absent); on_failure names "dlq" or another function. */
static void load_async(struct trg_config *c, struct trg_errs *errs)
{
    for (size_t i = 0; i < c->n_functions; i++) {
        struct trg_function_conf *f = &c->functions[i];
        char *path = f->name ? trg_asprintf("$.functions.%s.async", f->name) : NULL;
        if (!path) {
            errs->lost = true;
            continue;
        }
        if (f->async_json && !cJSON_IsObject(f->async_json)) {
            trg_errs_add(errs, path, "must be an object");
            trg_opt_apply(async_options, TRG_ARRAY_SIZE(async_options), &f->async, NULL, path, NULL, errs);
        } else {
            trg_opt_apply(async_options, TRG_ARRAY_SIZE(async_options), &f->async, f->async_json, path, NULL, errs);
        }
        const char *of = f->async.on_failure;
        if (of && strcmp(of, "dlq") != 0 && !trg_config_function(c, of)) {
            char *p = sub_path(path, "on_failure");
            trg_errs_add(errs, p, "must be \"dlq\" or the name of another function (no function \"%s\")", of);
            trg_free(p);
        }
        trg_free(path);
    }
    check_failure_cycles(c, errs);
}

/* http.invoke_credentials: {"AKID": {"secret_key_env": ...}, ...}. */
static void load_credentials(struct trg_config *c, struct trg_errs *errs)
{
    const cJSON *obj = c->http.invoke_credentials_json;
    if (!obj)
        return;
    if (!cJSON_IsObject(obj) || !obj->child) {
        trg_errs_add(errs, "$.http.invoke_credentials", "must be an object from access key ids to secrets");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    c->http.credentials = trg_calloc(n, sizeof *c->http.credentials);
    if (!c->http.credentials) {
        errs->lost = true;
        return;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        struct trg_credential *cr = &c->http.credentials[c->http.n_credentials++];
        char *path = trg_asprintf("$.http.invoke_credentials.%s", it->string);
        cr->access_key_id = trg_strdup(it->string);
        if (!path || !cr->access_key_id)
            errs->lost = true;
        if (!it->string[0] || strpbrk(it->string, "/ ,=\r\n"))
            trg_errs_add(errs, path, "an access key id has no '/', ',', '=' or spaces");
        trg_opt_apply(credential_options, TRG_ARRAY_SIZE(credential_options), cr, cJSON_IsObject(it) ? it : NULL,
                      path, NULL, errs);
        if (!cJSON_IsObject(it))
            trg_errs_add(errs, path, "must be an object with secret_key_env or secret_key_file");
        trg_free(path);
    }
}

/* "line L, column C" of a position in text. */
static void position(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Prefix every error line with the file name. */
static void name_errors(struct trg_errs *errs, size_t from, const char *name)
{
    for (size_t i = from; i < errs->lines.n; i++) {
        char *l = trg_asprintf("%s: %s", name, errs->lines.v[i]);
        if (l) {
            trg_free(errs->lines.v[i]);
            errs->lines.v[i] = l;
        }
    }
}

int trg_config_load_text(const char *text, size_t len, const char *name, struct trg_config **out,
                         struct trg_errs *errs)
{
    *out = NULL;
    size_t first = errs->lines.n;
    const char *end = NULL;
    cJSON *root = trg_json_parse(text, len, &end);
    if (!root) {
        int line, col;
        position(text, end ? end : text, &line, &col);
        trg_errs_add(errs, NULL, "%s: line %d, column %d: not valid JSON", name, line, col);
        return TRG_EINVAL;
    }
    struct trg_config *c = trg_calloc(1, sizeof *c);
    if (!c) {
        cJSON_Delete(root);
        return TRG_ENOMEM;
    }
    c->path = trg_strdup(name);
    if (!cJSON_IsObject(root)) {
        trg_errs_add(errs, "$", "the config must be a JSON object");
    } else {
        trg_opt_apply(top_options, TRG_ARRAY_SIZE(top_options), c, root, "$", top_keys, errs);
        trg_opt_apply(http_options, TRG_ARRAY_SIZE(http_options), c, cJSON_GetObjectItemCaseSensitive(root, "http"),
                      "$.http", NULL, errs);
        trg_opt_apply(log_options, TRG_ARRAY_SIZE(log_options), c, cJSON_GetObjectItemCaseSensitive(root, "log"),
                      "$.log", NULL, errs);
        trg_opt_apply(dlq_options, TRG_ARRAY_SIZE(dlq_options), c, cJSON_GetObjectItemCaseSensitive(root, "dlq"),
                      "$.dlq", NULL, errs);
        const cJSON *redis = cJSON_GetObjectItemCaseSensitive(root, "redis");
        if (redis) {
            c->has_redis = true;
            trg_opt_apply(trg_redis_options, trg_redis_n_options, &c->redis, redis, "$.redis", NULL, errs);
            trg_redis_check(&c->redis, "$.redis", errs);
        }
        if (c->dlq.backend == TRG_DLQ_BACKEND_REDIS && !redis)
            trg_errs_add(errs, "$.dlq.backend", "\"redis\" needs a top-level \"redis\" object with its url");
        if (!c->dlq.path && c->state_dir)
            c->dlq.path = trg_asprintf("%s/dlq", c->state_dir);
        c->functions = load_typed(&function_kind, cJSON_GetObjectItemCaseSensitive(root, "functions"),
                                  &c->n_functions, errs);
        load_async(c, errs);
        load_credentials(c, errs);
        c->sources = load_typed(&source_kind, cJSON_GetObjectItemCaseSensitive(root, "sources"), &c->n_sources,
                                errs);
        load_routes(c, cJSON_GetObjectItemCaseSensitive(root, "routes"), errs);
    }
    cJSON_Delete(root);
    if (errs->lost)
        trg_errs_add(errs, NULL, "out of memory while loading the config");
    if (errs->lines.n > first || errs->lost) {
        name_errors(errs, first, name);
        trg_config_free(c);
        return TRG_EINVAL;
    }
    *out = c;
    return 0;
}

int trg_config_load_file(const char *path, struct trg_config **out, struct trg_errs *errs)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f) {
        trg_errs_add(errs, NULL, "%s: cannot open: %s", path, strerror(errno));
        return TRG_EINVAL;
    }
    struct trg_buf b = {0};
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && rc == 0)
        rc = trg_buf_add(&b, chunk, n);
    bool failed = ferror(f);
    fclose(f);
    if (rc != 0 || failed) {
        trg_errs_add(errs, NULL, "%s: cannot read the file", path);
        trg_buf_free(&b);
        return TRG_EINVAL;
    }
    rc = trg_config_load_text(b.data ? b.data : "", b.len, path, out, errs);
    trg_buf_free(&b);
    return rc;
}

void trg_config_ref(struct trg_config *c) { c->refs++; }

void trg_config_unref(struct trg_config *c)
{
    if (--c->refs == 0)
        trg_config_free(c);
}

void trg_config_free(struct trg_config *c)
{
    if (!c)
        return;
    trg_free(c->path);
    trg_opt_free(top_options, TRG_ARRAY_SIZE(top_options), c);
    for (size_t i = 0; i < c->http.n_credentials; i++) {
        trg_opt_free(credential_options, TRG_ARRAY_SIZE(credential_options), &c->http.credentials[i]);
        trg_free(c->http.credentials[i].access_key_id);
    }
    trg_free(c->http.credentials);
    trg_opt_free(http_options, TRG_ARRAY_SIZE(http_options), c);
    trg_opt_free(dlq_options, TRG_ARRAY_SIZE(dlq_options), c);
    if (c->has_redis)
        trg_opt_free(trg_redis_options, trg_redis_n_options, &c->redis);
    for (size_t i = 0; i < c->n_functions; i++) {
        struct trg_function_conf *f = &c->functions[i];
        if (f->ops)
            trg_opt_free(f->ops->options, f->ops->n_options, f->opts);
        trg_free(f->opts);
        trg_opt_free(function_options, TRG_ARRAY_SIZE(function_options), f);
        trg_opt_free(async_options, TRG_ARRAY_SIZE(async_options), &f->async);
        trg_free(f->name);
        trg_free(f->fingerprint);
    }
    trg_free(c->functions);
    for (size_t i = 0; i < c->n_sources; i++) {
        struct trg_source_conf *s = &c->sources[i];
        if (s->ops)
            trg_opt_free(s->ops->options, s->ops->n_options, s->opts);
        trg_free(s->opts);
        trg_opt_free(source_options, TRG_ARRAY_SIZE(source_options), s);
        trg_free(s->name);
        trg_free(s->fingerprint);
    }
    trg_free(c->sources);
    for (size_t i = 0; i < c->n_routes; i++) {
        struct trg_route_conf *r = &c->routes[i];
        trg_opt_free(route_options, TRG_ARRAY_SIZE(route_options), r);
        trg_filter_free(r->filter);
        trg_free(r->name);
        trg_free(r->fingerprint);
    }
    trg_free(c->routes);
    trg_free(c);
}

const struct trg_function_conf *trg_config_function(const struct trg_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_functions; i++)
        if (strcmp(c->functions[i].name, name) == 0)
            return &c->functions[i];
    return NULL;
}

const struct trg_source_conf *trg_config_source(const struct trg_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_sources; i++)
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    return NULL;
}
