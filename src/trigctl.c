/* trigctl.c — the command-line client of trigd's admin API and Invoke API (docs/ADMIN.md).
 *
 * A plain blocking client: one libcurl easy handle, one request per command. test-pattern runs the
 * filter compiler locally and needs no daemon.
 *
 * Exit status (trigctl(1), for scripts): 0 done; 1 trigd (or the function, or the pattern) said no, or
 * its answer was unusable; 2 usage error, or an input file (event, pattern, token) cannot be read or
 * parsed; 3 trigd cannot be reached (no connection, no answer, timeout).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter.h"
#include "opt.h"
#include "util.h"

#define EXIT_NO 1
#define EXIT_USAGE 2
#define EXIT_INPUT EXIT_USAGE /* what the caller handed over cannot be used */
#define EXIT_UNREACHABLE 3
#define DEFAULT_URL "http://127.0.0.1:9070"
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_S 60L

static const char usage_text[] =
    "usage: trigctl [--url URL] [--token-env VAR | --token-file FILE] [--json] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  status                             the daemon, its sources, routes and functions\n"
    "  routes                             the routes\n"
    "  pause ROUTE | resume ROUTE         stop or restart a route taking new events (as Lambda's\n"
    "                                     UpdateEventSourceMapping Enabled; until a reload changes it)\n"
    "  schedules [--next N]               every schedule and its next N fire times (1..100, default 5),\n"
    "                                     in its time zone and in UTC\n"
    "  functions                          every function; runtime functions with their instances\n"
    "  usage                              usage per runtime function (invocations, billed ms, GB-seconds,\n"
    "                                     cold starts) and the estimated cost at the configured prices\n"
    "  invoke FUNCTION [FILE]             invoke a function with the event in FILE (default: stdin)\n"
    "         [--type RequestResponse|Event|DryRun]\n"
    "  dlq list ROUTE [--after ID] [--count N]\n"
    "                                     DLQ entries, oldest first (N: 1..1000, default 50)\n"
    "  dlq show ROUTE ID                  one DLQ entry\n"
    "  dlq redrive ROUTE (--id ID | --all [--rate N])\n"
    "                                     send entries to their route again; each is removed once it\n"
    "                                     reached a new outcome (at most N per second with --rate)\n"
    "  dlq purge ROUTE                    delete every DLQ entry of the route\n"
    "  test-pattern PATTERN.json EVENT.json\n"
    "                                     does the event match the filter pattern(s)? (local, no daemon)\n"
    "\n"
    "options:\n"
    "  --url URL          trigd's HTTP address (default: $TRIGD_URL, else " DEFAULT_URL ")\n"
    "  --token-env VAR    read the admin token from environment variable VAR\n"
    "                     (default: $TRIGD_ADMIN_TOKEN)\n"
    "  --token-file FILE  read the admin token from FILE\n"
    "  --json             print trigd's JSON answer as it is instead of a table, for scripts\n"
    "                     (status, routes, schedules, functions, usage, dlq list/show/redrive/purge;\n"
    "                     test-pattern prints {\"match\": ...})\n"
    "  --help, --version\n"
    "\n"
    "exit status: 0 ok; 1 trigd answered with an error (refused, function error, failed redrives) or\n"
    "no match; 2 usage error or unreadable input file; 3 trigd cannot be reached.\n";

struct ctl {
    char *url;   /* without a trailing '/' */
    char *token; /* NULL = none */
    bool json;
    CURL *curl;
};

struct resp {
    long status;
    struct trg_buf body;
    char *function_error; /* X-Amz-Function-Error */
    char *error_type;     /* X-Amzn-ErrorType */
};

static void resp_free(struct resp *r)
{
    trg_buf_free(&r->body);
    trg_free(r->function_error);
    trg_free(r->error_type);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "trigctl: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fprintf(stderr, "\n\n%s", usage_text);
    return EXIT_USAGE;
}

static int oom(void)
{
    fprintf(stderr, "trigctl: out of memory\n");
    return EXIT_NO;
}

/* Read a whole file ("-" = stdin) into b. */
static int read_all(const char *path, struct trg_buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "trigctl: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_INPUT;
    }
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (trg_buf_add(b, chunk, n) != 0) {
            rc = oom();
            break;
        }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "trigctl: cannot read %s: %s\n", path, strerror(errno));
        rc = EXIT_INPUT;
    }
    if (rc == 0 && !b->data && trg_buf_add(b, "", 0) != 0)
        rc = oom();
    if (f != stdin)
        fclose(f);
    return rc;
}

/* --- HTTP ------------------------------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    return trg_buf_add(&r->body, p, size * n) == 0 ? size * n : 0;
}

/* A copy of the header's value when line is "name: value", else NULL. */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return trg_strndup(v, (size_t)(end - v));
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    char *v;
    if ((v = header_value(p, len, "X-Amz-Function-Error")) != NULL) {
        trg_free(r->function_error);
        r->function_error = v;
    } else if ((v = header_value(p, len, "X-Amzn-ErrorType")) != NULL) {
        trg_free(r->error_type);
        r->error_type = v;
    }
    return len;
}

/* Send one request. Returns 0 with r filled (any HTTP status), or prints why and returns
 * EXIT_UNREACHABLE (no answer) or EXIT_NO (out of memory). */
static int request(struct ctl *c, const char *method, const char *path, const char *body, size_t len,
                   const char *const *headers, long timeout_s, struct resp *r)
{
    char *url = trg_asprintf("%s%s", c->url, path);
    char *auth = c->token ? trg_asprintf("Authorization: Bearer %s", c->token) : NULL;
    struct curl_slist *hl = NULL, *tmp;
    int rc = 0;
    if (!url || (c->token && !auth)) {
        rc = oom();
        goto out;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        if (!(tmp = curl_slist_append(hl, headers[i]))) {
            rc = oom();
            goto out;
        }
        hl = tmp;
    }
    if (auth) {
        if (!(tmp = curl_slist_append(hl, auth))) {
            rc = oom();
            goto out;
        }
        hl = tmp;
    }
    if (body && !(tmp = curl_slist_append(hl, "Content-Type: application/json"))) {
        rc = oom();
        goto out;
    } else if (body) {
        hl = tmp;
    }
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "trigctl/" PACKAGE_VERSION);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        fprintf(stderr, "trigctl: cannot reach trigd at %s: is it running? (%s)\n", c->url,
                curl_easy_strerror(cc));
        rc = EXIT_UNREACHABLE;
    } else if (cc == CURLE_GOT_NOTHING) {
        fprintf(stderr, "trigctl: %s %s: trigd closed the connection without an answer (is it stopping?)\n",
                method, url);
        rc = EXIT_UNREACHABLE;
    } else if (cc != CURLE_OK) {
        fprintf(stderr, "trigctl: %s %s failed: %s\n", method, url, curl_easy_strerror(cc));
        rc = EXIT_UNREACHABLE;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        if (!r->body.data && trg_buf_add(&r->body, "", 0) != 0)
            rc = oom();
    }
out:
    curl_slist_free_all(hl);
    trg_free(auth);
    trg_free(url);
    return rc;
}

/* Report a non-2xx answer and return EXIT_NO. */
static int http_failed(const struct ctl *c, const char *method, const char *path, const struct resp *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!cJSON_IsString(msg))
        msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (!cJSON_IsString(msg)) /* the Lambda APIs answer AWS's shape */
        msg = cJSON_GetObjectItemCaseSensitive(j, "Message");
    const char *text = cJSON_IsString(msg) ? msg->valuestring : r->body.data;
    fprintf(stderr, "trigctl: %s %s%s: HTTP %ld%s%s%s%s\n", method, c->url, path, r->status,
            r->error_type ? " " : "", r->error_type ? r->error_type : "", text && *text ? ": " : "",
            text ? text : "");
    if (r->status == 401)
        fprintf(stderr, "trigctl: trigd wants the admin token: set TRIGD_ADMIN_TOKEN, or use --token-env or "
                        "--token-file\n");
    cJSON_Delete(j);
    return EXIT_NO;
}

/* GET path and parse the JSON answer; *out is the caller's (cJSON_Delete). With --json, prints it. */
static int get_json(struct ctl *c, const char *path, cJSON **out)
{
    struct resp r = {0};
    int rc = request(c, "GET", path, NULL, 0, NULL, REQUEST_TIMEOUT_S, &r);
    if (rc == 0 && r.status != 200)
        rc = http_failed(c, "GET", path, &r);
    if (rc == 0) {
        *out = cJSON_ParseWithLength(r.body.data, r.body.len);
        if (!*out) {
            fprintf(stderr, "trigctl: GET %s%s: the answer is not JSON\n", c->url, path);
            rc = EXIT_NO;
        } else if (c->json) {
            printf("%s\n", r.body.data);
        }
    }
    resp_free(&r);
    return rc;
}

/* A path segment, %-encoded; caller frees with curl_free(). */
static char *escape(struct ctl *c, const char *s) { return curl_easy_escape(c->curl, s, 0); }

/* --- tables ----------------------------------------------------------------------------------- */

struct table {
    size_t cols;
    struct trg_strlist cells; /* row-major */
    bool failed;
};

static void table_add(struct table *t, const char *const *row)
{
    char **v = trg_realloc(t->cells.v, (t->cells.n + t->cols) * sizeof *v);
    if (!v) {
        t->failed = true;
        return;
    }
    t->cells.v = v;
    for (size_t i = 0; i < t->cols; i++) {
        v[t->cells.n] = trg_strdup(row[i] ? row[i] : "-");
        if (!v[t->cells.n])
            t->failed = true;
        t->cells.n++;
    }
}

static void table_print(const struct table *t)
{
    size_t w[16] = {0};
    for (size_t i = 0; i < t->cells.n; i++) {
        size_t l = t->cells.v[i] ? strlen(t->cells.v[i]) : 1;
        if (l > w[i % t->cols])
            w[i % t->cols] = l;
    }
    for (size_t i = 0; i < t->cells.n; i++) {
        size_t col = i % t->cols;
        const char *s = t->cells.v[i] ? t->cells.v[i] : "?";
        if (col + 1 == t->cols)
            printf("%s\n", s);
        else
            printf("%-*s  ", (int)w[col], s);
    }
}

/* A member as table text: strings as they are, numbers, yes/no, "-" for null or absent. */
static const char *cell(const cJSON *obj, const char *key, char *tmp, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(long long)v->valuedouble)
            snprintf(tmp, n, "%lld", (long long)v->valuedouble);
        else
            snprintf(tmp, n, "%g", v->valuedouble);
        return tmp;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    return "-";
}

/* Print a table of the objects in arr, one column per key. */
static int print_objects(const cJSON *arr, const char *const *keys, const char *const *titles, size_t cols)
{
    struct table t = {.cols = cols};
    table_add(&t, titles);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        char tmp[16][32];
        const char *row[16];
        for (size_t i = 0; i < cols; i++)
            row[i] = cell(it, keys[i], tmp[i], sizeof tmp[i]);
        table_add(&t, row);
    }
    int rc = t.failed ? oom() : 0;
    if (rc == 0)
        table_print(&t);
    trg_strlist_free(&t.cells);
    return rc;
}

static const char *const route_keys[] = {
    "name",       "source",          "function",           "enabled",         "held", "full", "dlq_blocked",
    "batch_size", "batch_window_ms", "max_retry_attempts", "max_record_age_s"};
static const char *const route_titles[] = {"ROUTE",     "SOURCE",  "FUNCTION",    "ENABLED",
                                           "HELD",      "FULL",    "DLQ_BLOCKED", "BATCH",
                                           "WINDOW_MS", "RETRIES", "MAX_AGE_S"};

/* --- commands --------------------------------------------------------------------------------- */

static int cmd_status(struct ctl *c)
{
    cJSON *j = NULL;
    int rc = get_json(c, "/admin/status", &j);
    if (rc == 0 && !c->json) {
        char t1[32], t2[32];
        printf("trigd %s, up %ss, %s, config %s\n\n", cell(j, "version", t1, sizeof t1),
               cell(j, "uptime_s", t2, sizeof t2),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ready")) ? "ready" : "NOT READY",
               cell(j, "config", t1, sizeof t1));
        static const char *const sk[] = {"name", "type", "ready", "paused", "outstanding", "held"};
        static const char *const st[] = {"SOURCE", "TYPE", "READY", "PAUSED", "OUTSTANDING", "HELD"};
        rc = print_objects(cJSON_GetObjectItemCaseSensitive(j, "sources"), sk, st, 6);
        printf("\n");
        static const char *const rk[] = {"name", "source", "function",   "enabled",
                                         "held", "full",   "dlq_blocked"};
        static const char *const rt[] = {"ROUTE", "SOURCE", "FUNCTION",   "ENABLED",
                                         "HELD",  "FULL",   "DLQ_BLOCKED"};
        if (rc == 0)
            rc = print_objects(cJSON_GetObjectItemCaseSensitive(j, "routes"), rk, rt, 7);
        printf("\n");
        static const char *const fk[] = {"name", "type", "inflight", "max_concurrency"};
        static const char *const ft[] = {"FUNCTION", "TYPE", "INFLIGHT", "MAX_CONCURRENCY"};
        if (rc == 0)
            rc = print_objects(cJSON_GetObjectItemCaseSensitive(j, "functions"), fk, ft, 4);
    }
    cJSON_Delete(j);
    return rc;
}

/* --- functions and usage (runtime functions report instances and usage in the status) --- */

/* A member of a member ("instances", "idle"), as table text. */
static const char *cell2(const cJSON *obj, const char *outer, const char *key, char *tmp, size_t n)
{
    return cell(cJSON_GetObjectItemCaseSensitive(obj, outer), key, tmp, n);
}

static int cmd_functions(struct ctl *c)
{
    cJSON *j = NULL;
    int rc = get_json(c, "/admin/status", &j);
    if (rc == 0 && !c->json) {
        static const char *const titles[] = {"FUNCTION", "TYPE",      "INFLIGHT", "MAX_CONCURRENCY", "MIN",
                                             "STARTING", "IDLE",      "BUSY",     "MEMORY_MB",       "LIMIT",
                                             "WAITING",  "BACKING_OFF"};
        struct table t = {.cols = TRG_ARRAY_SIZE(titles)};
        table_add(&t, titles);
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(j, "functions"))
        {
            char tmp[12][32];
            const char *row[] = {cell(f, "name", tmp[0], 32),
                                 cell(f, "type", tmp[1], 32),
                                 cell(f, "inflight", tmp[2], 32),
                                 cell(f, "max_concurrency", tmp[3], 32),
                                 cell(f, "min_instances", tmp[4], 32),
                                 cell2(f, "instances", "initializing", tmp[5], 32),
                                 cell2(f, "instances", "idle", tmp[6], 32),
                                 cell2(f, "instances", "busy", tmp[7], 32),
                                 cell(f, "memory_mb", tmp[8], 32),
                                 cell(f, "memory_limit", tmp[9], 32),
                                 cell(f, "waiting", tmp[10], 32),
                                 cell(f, "backing_off", tmp[11], 32)};
            table_add(&t, row);
        }
        rc = t.failed ? oom() : 0;
        if (rc == 0)
            table_print(&t);
        trg_strlist_free(&t.cells);
    }
    cJSON_Delete(j);
    return rc;
}

static int cmd_usage(struct ctl *c)
{
    cJSON *j = NULL;
    int rc = get_json(c, "/admin/status", &j);
    if (rc == 0 && !c->json) {
        static const char *const titles[] = {"FUNCTION",    "INVOCATIONS", "BILLED_MS",      "GB_SECONDS",
                                             "COLD_STARTS", "INIT_MS",     "USD_PER_GB_S",   "USD_PER_REQUEST",
                                             "EST_COST_USD"};
        struct table t = {.cols = TRG_ARRAY_SIZE(titles)};
        table_add(&t, titles);
        double total = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(j, "functions"))
        {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(f, "usage");
            if (!cJSON_IsObject(u))
                continue;
            char tmp[9][32];
            const cJSON *gbs = cJSON_GetObjectItemCaseSensitive(u, "gb_seconds");
            const cJSON *cost = cJSON_GetObjectItemCaseSensitive(u, "estimated_cost");
            snprintf(tmp[3], 32, "%.3f", cJSON_IsNumber(gbs) ? gbs->valuedouble : 0.0);
            snprintf(tmp[8], 32, "%.6f", cJSON_IsNumber(cost) ? cost->valuedouble : 0.0);
            total += cJSON_IsNumber(cost) ? cost->valuedouble : 0.0;
            const char *row[] = {cell(f, "name", tmp[0], 32),           cell(u, "invocations", tmp[1], 32),
                                 cell(u, "billed_ms", tmp[2], 32),      tmp[3],
                                 cell(u, "cold_starts", tmp[4], 32),    cell(u, "init_ms", tmp[5], 32),
                                 cell(u, "price_gb_s", tmp[6], 32),     cell(u, "price_request", tmp[7], 32),
                                 tmp[8]};
            table_add(&t, row);
        }
        rc = t.failed ? oom() : 0;
        if (rc == 0) {
            table_print(&t);
            printf("\nestimated total: %.6f USD (usage since trigd started or the function was last changed)\n",
                   total);
        }
        trg_strlist_free(&t.cells);
    }
    cJSON_Delete(j);
    return rc;
}

static int cmd_routes(struct ctl *c)
{
    cJSON *j = NULL;
    int rc = get_json(c, "/admin/routes", &j);
    if (rc == 0 && !c->json)
        rc = print_objects(cJSON_GetObjectItemCaseSensitive(j, "routes"), route_keys, route_titles,
                           TRG_ARRAY_SIZE(route_keys));
    cJSON_Delete(j);
    return rc;
}

/* pause ROUTE / resume ROUTE: POST /admin/routes/ROUTE/pause|resume. */
static int cmd_pause(struct ctl *c, const char *what, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("%s: expected ROUTE", what);
    char *r_esc = escape(c, argv[0]);
    char *path = r_esc ? trg_asprintf("/admin/routes/%s/%s", r_esc, what) : NULL;
    struct resp r = {0};
    int rc = path ? request(c, "POST", path, "", 0, NULL, REQUEST_TIMEOUT_S, &r) : oom();
    if (rc == 0 && r.status != 200)
        rc = http_failed(c, "POST", path, &r);
    else if (rc == 0 && c->json)
        printf("%s\n", r.body.data);
    else if (rc == 0)
        printf("route %s %s\n", argv[0], strcmp(what, "pause") == 0 ? "paused" : "resumed");
    resp_free(&r);
    trg_free(path);
    curl_free(r_esc);
    return rc;
}

static int cmd_schedules(struct ctl *c, int argc, char **argv)
{
    long next_n = 5;
    for (int i = 0; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--next") == 0 && i + 1 < argc)
            next_n = strtol(argv[++i], &end, 10);
        if (!end || *end || next_n < 1 || next_n > 100)
            return usage_error("schedules: use --next N with N from 1 to 100%s", "");
    }
    char path[64];
    snprintf(path, sizeof path, "/admin/schedules?next=%ld", next_n);
    cJSON *j = NULL;
    int rc = get_json(c, path, &j);
    if (rc == 0 && !c->json) {
        static const char *const sk[] = {"name", "expression", "timezone", "last_fired", "fires",
                                         "skipped_overlap", "inflight"};
        static const char *const st[] = {"SCHEDULE", "EXPRESSION", "TIMEZONE", "LAST_FIRED", "FIRES",
                                         "SKIPPED", "INFLIGHT"};
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "schedules"), *it;
        rc = print_objects(list, sk, st, TRG_ARRAY_SIZE(sk));
        cJSON_ArrayForEach(it, list)
        {
            char t1[32], t2[32], t3[32];
            printf("\n%s:\n", cell(it, "name", t1, sizeof t1));
            const cJSON *n;
            cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(it, "next"))
                printf("  %s  %s\n", cell(n, "local", t2, sizeof t2), cell(n, "utc", t3, sizeof t3));
            if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(it, "next")))
                printf("  no more fire times\n");
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int cmd_invoke(struct ctl *c, int argc, char **argv)
{
    const char *function = NULL, *file = NULL, *type = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0) {
            if (++i >= argc)
                return usage_error("--type needs RequestResponse, Event or DryRun%s", NULL);
            type = argv[i];
        } else if (strncmp(argv[i], "--", 2) == 0) {
            return usage_error("invoke: unknown option %s", argv[i]);
        } else if (!function) {
            function = argv[i];
        } else if (!file) {
            file = argv[i];
        } else {
            return usage_error("invoke: unexpected argument %s", argv[i]);
        }
    }
    if (!function)
        return usage_error("invoke: which FUNCTION?%s", NULL);
    if (type && strcmp(type, "RequestResponse") != 0 && strcmp(type, "Event") != 0 &&
        strcmp(type, "DryRun") != 0)
        return usage_error("--type must be RequestResponse, Event or DryRun, not %s", type);
    struct trg_buf event = {0};
    int rc = read_all(file ? file : "-", &event);
    char *name = rc == 0 ? escape(c, function) : NULL;
    char *path = name ? trg_asprintf("/2015-03-31/functions/%s/invocations", name) : NULL;
    char *type_hdr = type ? trg_asprintf("X-Amz-Invocation-Type: %s", type) : NULL;
    if (rc == 0 && (!path || (type && !type_hdr)))
        rc = oom();
    struct resp r = {0};
    const char *hdrs[] = {type_hdr, NULL};
    if (rc == 0)
        rc = request(c, "POST", path, event.data, event.len, hdrs, 0, &r);
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        rc = http_failed(c, "POST", path, &r);
    } else if (rc == 0) {
        if (r.body.len > 0) {
            fwrite(r.body.data, 1, r.body.len, stdout);
            if (r.body.data[r.body.len - 1] != '\n')
                putchar('\n');
        } else if (!c->json && r.status == 202) {
            printf("accepted: %s runs in the background\n", function);
        } else if (!c->json && r.status == 204) {
            printf("dry run: %s exists and may be invoked\n", function);
        }
        if (r.function_error) {
            fprintf(stderr, "trigctl: function %s returned an error (X-Amz-Function-Error: %s)\n", function,
                    r.function_error);
            rc = EXIT_NO;
        }
    }
    resp_free(&r);
    trg_free(type_hdr);
    trg_free(path);
    curl_free(name);
    trg_buf_free(&event);
    return rc;
}

static int dlq_list(struct ctl *c, int argc, char **argv)
{
    const char *route = NULL, *after = NULL, *count = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--after") == 0 || strcmp(argv[i], "--count") == 0) {
            if (i + 1 >= argc)
                return usage_error("dlq list: %s needs a value", argv[i]);
            *(argv[i][2] == 'a' ? &after : &count) = argv[i + 1];
            i++;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            return usage_error("dlq list: unknown option %s", argv[i]);
        } else if (!route) {
            route = argv[i];
        } else {
            return usage_error("dlq list: unexpected argument %s", argv[i]);
        }
    }
    if (!route)
        return usage_error("dlq list: which ROUTE?%s", NULL);
    if (count) {
        char *end;
        long n = strtol(count, &end, 10);
        if (*end || end == count || n < 1 || n > 1000)
            return usage_error("dlq list: --count must be from 1 to 1000, not %s", count);
    }
    char *r_esc = escape(c, route), *a_esc = after ? escape(c, after) : NULL;
    char *path = r_esc && (!after || a_esc)
                     ? trg_asprintf("/admin/dlq/%s?count=%s%s%s", r_esc, count ? count : "50",
                                    after ? "&after=" : "", after ? a_esc : "")
                     : NULL;
    cJSON *j = NULL;
    int rc = path ? get_json(c, path, &j) : oom();
    if (rc == 0 && !c->json) {
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(j, "entries");
        struct table t = {.cols = 5};
        static const char *const titles[] = {"ID", "CONDITION", "FUNCTION", "TIMESTAMP", "INVOKES"};
        table_add(&t, titles);
        const cJSON *en;
        cJSON_ArrayForEach(en, entries)
        {
            const cJSON *rec = cJSON_GetObjectItemCaseSensitive(en, "record");
            const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(rec, "requestContext");
            char t1[32], t2[32], t3[32], t4[32], t5[32];
            const char *row[] = {cell(en, "id", t1, sizeof t1), cell(ctx, "condition", t2, sizeof t2),
                                 cell(ctx, "function", t3, sizeof t3), cell(rec, "timestamp", t4, sizeof t4),
                                 cell(ctx, "approximateInvokeCount", t5, sizeof t5)};
            table_add(&t, row);
        }
        if (t.failed)
            rc = oom();
        else if (cJSON_GetArraySize(entries) == 0)
            printf("no entries in the DLQ of route %s%s%s\n", route, after ? " after " : "",
                   after ? after : "");
        else
            table_print(&t);
        trg_strlist_free(&t.cells);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "next");
        if (rc == 0 && cJSON_IsString(next))
            printf("\nmore: trigctl dlq list %s --after %s\n", route, next->valuestring);
    }
    cJSON_Delete(j);
    trg_free(path);
    curl_free(a_esc);
    curl_free(r_esc);
    return rc;
}

static int dlq_show(struct ctl *c, int argc, char **argv)
{
    if (argc != 2)
        return usage_error("dlq show: expected ROUTE ID%s", NULL);
    char *r_esc = escape(c, argv[0]), *i_esc = escape(c, argv[1]);
    char *path = r_esc && i_esc ? trg_asprintf("/admin/dlq/%s/%s", r_esc, i_esc) : NULL;
    cJSON *j = NULL;
    int rc = path ? get_json(c, path, &j) : oom();
    if (rc == 0 && !c->json) {
        char *text = cJSON_Print(cJSON_GetObjectItemCaseSensitive(j, "record"));
        if (!text) {
            rc = oom();
        } else {
            printf("route %s, entry %s\n%s\n", argv[0], argv[1], text);
            cJSON_free(text);
        }
    }
    cJSON_Delete(j);
    trg_free(path);
    curl_free(i_esc);
    curl_free(r_esc);
    return rc;
}

static int dlq_redrive(struct ctl *c, int argc, char **argv)
{
    const char *route = NULL, *id = NULL, *rate = NULL;
    bool all = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 || strcmp(argv[i], "--rate") == 0) {
            if (i + 1 >= argc)
                return usage_error("dlq redrive: %s needs a value", argv[i]);
            *(argv[i][2] == 'i' ? &id : &rate) = argv[i + 1];
            i++;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            return usage_error("dlq redrive: unknown option %s", argv[i]);
        } else if (!route) {
            route = argv[i];
        } else {
            return usage_error("dlq redrive: unexpected argument %s", argv[i]);
        }
    }
    if (!route)
        return usage_error("dlq redrive: which ROUTE?%s", NULL);
    if (!!id == all)
        return usage_error("dlq redrive: give either --id ID or --all%s", NULL);
    if (rate && !all)
        return usage_error("dlq redrive: --rate goes with --all%s", NULL);
    long n = 0;
    if (rate) {
        char *end;
        n = strtol(rate, &end, 10);
        if (*end || end == rate || n < 1 || n > 1000000)
            return usage_error("dlq redrive: --rate must be from 1 to 1000000 entries per second, not %s",
                               rate);
    }
    struct trg_buf body = {0};
    int brc = 0;
    if (id) {
        brc |= trg_buf_adds(&body, "{\"id\":");
        brc |= trg_buf_add_json_str(&body, id, strlen(id));
        brc |= trg_buf_adds(&body, "}");
    } else {
        brc |= trg_buf_addf(&body, "{\"all\":true,\"rate\":%ld}", n);
    }
    char *r_esc = escape(c, route);
    char *path = r_esc ? trg_asprintf("/admin/dlq/%s/redrive", r_esc) : NULL;
    struct resp r = {0};
    int rc = brc || !path ? oom() : request(c, "POST", path, body.data, body.len, NULL, 0, &r);
    cJSON *j = rc == 0 ? cJSON_ParseWithLength(r.body.data, r.body.len) : NULL;
    if (rc == 0 && c->json)
        printf("%s\n", r.body.data);
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(j, "redriven");
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(j, "failed");
    if (rc == 0 && r.status != 200) {
        rc = http_failed(c, "POST", path, &r);
        if (!c->json && cJSON_IsNumber(done) && cJSON_IsNumber(failed) &&
            done->valueint + failed->valueint > 0)
            printf("redriven %d, failed %d before it stopped\n", done->valueint, failed->valueint);
    } else if (rc == 0) {
        if (!cJSON_IsNumber(done) || !cJSON_IsNumber(failed)) {
            fprintf(stderr, "trigctl: POST %s%s: unexpected answer: %s\n", c->url, path, r.body.data);
            rc = EXIT_NO;
        } else {
            if (!c->json)
                printf("redriven %d, failed %d (route %s)\n", done->valueint, failed->valueint, route);
            if (failed->valueint > 0) {
                fprintf(stderr,
                        "trigctl: %d entr%s could not be redriven and stay in the DLQ (see trigd's log)\n",
                        failed->valueint, failed->valueint == 1 ? "y" : "ies");
                rc = EXIT_NO;
            }
        }
    }
    cJSON_Delete(j);
    resp_free(&r);
    trg_free(path);
    curl_free(r_esc);
    trg_buf_free(&body);
    return rc;
}

static int dlq_purge(struct ctl *c, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("dlq purge: expected ROUTE%s", NULL);
    char *r_esc = escape(c, argv[0]);
    char *path = r_esc ? trg_asprintf("/admin/dlq/%s", r_esc) : NULL;
    struct resp r = {0};
    int rc = path ? request(c, "DELETE", path, NULL, 0, NULL, REQUEST_TIMEOUT_S, &r) : oom();
    if (rc == 0 && r.status != 200) {
        rc = http_failed(c, "DELETE", path, &r);
    } else if (rc == 0 && c->json) {
        printf("%s\n", r.body.data);
    } else if (rc == 0) {
        cJSON *j = cJSON_ParseWithLength(r.body.data, r.body.len);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "purged");
        printf("purged %d entr%s from the DLQ of route %s\n", cJSON_IsNumber(n) ? n->valueint : 0,
               cJSON_IsNumber(n) && n->valueint == 1 ? "y" : "ies", argv[0]);
        cJSON_Delete(j);
    }
    resp_free(&r);
    trg_free(path);
    curl_free(r_esc);
    return rc;
}

static int cmd_dlq(struct ctl *c, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("dlq: expected list, show, redrive or purge%s", NULL);
    if (strcmp(argv[0], "list") == 0)
        return dlq_list(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "show") == 0)
        return dlq_show(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "redrive") == 0)
        return dlq_redrive(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "purge") == 0)
        return dlq_purge(c, argc - 1, argv + 1);
    return usage_error("dlq: unknown subcommand %s", argv[0]);
}

static cJSON *load_json(const char *path, int *rc)
{
    struct trg_buf b = {0};
    cJSON *j = NULL;
    *rc = read_all(path, &b);
    if (*rc == 0) {
        const char *end = NULL;
        j = cJSON_ParseWithLengthOpts(b.data, b.len, &end, false);
        size_t at = end && end >= b.data ? (size_t)(end - b.data) : 0;
        if (!j) {
            fprintf(stderr, "trigctl: %s is not JSON (near byte %zu)\n", path, at);
            *rc = EXIT_INPUT;
        } else if (strspn(b.data + at, " \t\r\n") != b.len - at) {
            fprintf(stderr, "trigctl: %s: unexpected text after the JSON value (byte %zu)\n", path, at);
            cJSON_Delete(j);
            j = NULL;
            *rc = EXIT_INPUT;
        }
    }
    trg_buf_free(&b);
    return j;
}

static int cmd_test_pattern(struct ctl *c, int argc, char **argv)
{
    if (argc != 2)
        return usage_error("test-pattern: expected PATTERN.json EVENT.json%s", NULL);
    if (strcmp(argv[0], "-") == 0 && strcmp(argv[1], "-") == 0)
        return usage_error("test-pattern: only one of the files can be stdin%s", NULL);
    int rc;
    cJSON *pattern = load_json(argv[0], &rc);
    cJSON *event = rc == 0 ? load_json(argv[1], &rc) : NULL;
    struct trg_errs errs = {0};
    struct trg_filter *f = NULL;
    if (rc == 0) {
        f = trg_filter_compile(pattern, "$", &errs);
        if (!f) {
            fprintf(stderr, "trigctl: %s is not a valid filter pattern:\n", argv[0]);
            for (size_t i = 0; i < errs.lines.n; i++)
                fprintf(stderr, "  %s\n", errs.lines.v[i]);
            if (errs.lines.n == 0)
                fprintf(stderr, "  (out of memory)\n");
            rc = EXIT_INPUT;
        }
    }
    if (rc == 0) {
        char why[2048];
        bool match = trg_filter_explain(f, event, why, sizeof why);
        if (c->json) {
            cJSON *out = cJSON_CreateObject();
            char *text = NULL;
            if (out && cJSON_AddBoolToObject(out, "match", match) &&
                (match || cJSON_AddStringToObject(out, "why", why)))
                text = cJSON_PrintUnformatted(out);
            if (text)
                printf("%s\n", text);
            else
                rc = oom();
            cJSON_free(text);
            cJSON_Delete(out);
        } else if (match) {
            printf("match\n");
        } else {
            printf("no match: %s\n", why);
        }
        if (rc == 0 && !match)
            rc = EXIT_NO;
    }
    trg_filter_free(f);
    trg_errs_free(&errs);
    cJSON_Delete(event);
    cJSON_Delete(pattern);
    return rc;
}

/* --- main ------------------------------------------------------------------------------------- */

static char *read_token_file(const char *path, int *rc)
{
    struct trg_buf b = {0};
    *rc = read_all(path, &b);
    if (*rc != 0) {
        trg_buf_free(&b);
        return NULL;
    }
    while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        fprintf(stderr, "trigctl: the token file %s is empty\n", path);
        trg_buf_free(&b);
        *rc = EXIT_INPUT;
        return NULL;
    }
    return trg_buf_steal(&b);
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    const char *url = getenv("TRIGD_URL"), *token_env = NULL, *token_file = NULL;
    char **args = NULL;
    int nargs = 0, rc = 0;

    trg_json_init_hooks();
    args = trg_calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return oom();
    /* Global options may come anywhere; everything else is the command and its arguments. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            trg_free(args);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("trigctl %s\n", PACKAGE_VERSION);
            trg_free(args);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--url") == 0 || strcmp(a, "--token-env") == 0 ||
                   strcmp(a, "--token-file") == 0) {
            if (i + 1 >= argc) {
                trg_free(args);
                return usage_error("%s needs a value", a);
            }
            const char *v = argv[++i];
            if (a[2] == 'u')
                url = v;
            else if (a[8] == 'e')
                token_env = v;
            else
                token_file = v;
        } else if (strncmp(a, "--url=", 6) == 0) {
            url = a + 6;
        } else {
            args[nargs++] = argv[i];
        }
    }
    if (nargs == 0) {
        trg_free(args);
        return usage_error("no command given%s", NULL);
    }
    if (token_env && token_file) {
        trg_free(args);
        return usage_error("give --token-env or --token-file, not both%s", NULL);
    }
    if (token_file) {
        c.token = read_token_file(token_file, &rc);
    } else {
        const char *var = token_env ? token_env : "TRIGD_ADMIN_TOKEN";
        const char *v = getenv(var);
        if (token_env && (!v || !*v)) {
            fprintf(stderr, "trigctl: environment variable %s (from --token-env) is not set\n", var);
            rc = EXIT_INPUT;
        } else if (v && *v && !(c.token = trg_strdup(v))) {
            rc = oom();
        }
    }
    if (rc == 0 && !(c.url = trg_strdup(url && *url ? url : DEFAULT_URL)))
        rc = oom();
    if (rc == 0) {
        size_t l = strlen(c.url);
        while (l > 0 && c.url[l - 1] == '/')
            c.url[--l] = '\0';
    }
    bool local = strcmp(args[0], "test-pattern") == 0;
    if (rc == 0 && !local) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c.curl = curl_easy_init())) {
            fprintf(stderr, "trigctl: cannot initialise libcurl\n");
            rc = EXIT_NO;
        }
    }
    if (rc == 0) {
        const char *cmd = args[0];
        int n = nargs - 1;
        char **v = args + 1;
        if (strcmp(cmd, "status") == 0)
            rc = n ? usage_error("status takes no arguments%s", NULL) : cmd_status(&c);
        else if (strcmp(cmd, "functions") == 0)
            rc = n ? usage_error("functions takes no arguments%s", NULL) : cmd_functions(&c);
        else if (strcmp(cmd, "usage") == 0)
            rc = n ? usage_error("usage takes no arguments%s", NULL) : cmd_usage(&c);
        else if (strcmp(cmd, "routes") == 0)
            rc = n ? usage_error("routes takes no arguments%s", NULL) : cmd_routes(&c);
        else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
            rc = cmd_pause(&c, cmd, n, v);
        else if (strcmp(cmd, "schedules") == 0)
            rc = cmd_schedules(&c, n, v);
        else if (strcmp(cmd, "invoke") == 0)
            rc = cmd_invoke(&c, n, v);
        else if (strcmp(cmd, "dlq") == 0)
            rc = cmd_dlq(&c, n, v);
        else if (local)
            rc = cmd_test_pattern(&c, n, v);
        else
            rc = usage_error("unknown command %s", cmd);
    }
    if (c.curl) {
        curl_easy_cleanup(c.curl);
        curl_global_cleanup();
    }
    if (c.token) {
        memset(c.token, 0, strlen(c.token));
        trg_free(c.token);
    }
    trg_free(c.url);
    trg_free(args);
    fflush(stdout);
    return rc;
}
