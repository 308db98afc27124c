/* sink.c — a test and benchmark "function": an HTTP server that records what it receives.
 *
 * Binds 127.0.0.1 on a free port (or --port), prints "PORT <n>" on stdout once listening, and
 * appends one compact JSON line per request to --out:
 *   {"n":1,"t_ms":<wall ms at receipt>,"method":"POST","path":"/x","status":200,
 *    "headers":{"content-type":"..."},"body":<the body parsed as JSON, else as a string>}
 * With --count-only (alias --quiet) a line is only {"t_ms":N,"sent_ms":M}, where sent_ms is the
 * first number after the text "sent_ms" anywhere in the body (also inside an escaped JSON string,
 * as in a webhook event's "body"), or null. --sent-key KEY looks for KEY instead of "sent_ms" (a
 * Kafka batch's first "timestamp", say); --count TEXT adds "count":C, the times TEXT occurs in the
 * body (its records, with '"offset":'). Both cost a scan of the body, not a JSON parse: for benches.
 *
 * How it answers, checked in this order for request number n (1-based, counting every request
 * except GET /_sink/...):
 *   --throttle-first N   n <= N: 429 with Retry-After: 1
 *   --fail-first N       the N requests after the throttled ones: 500
 *   --fail-when-contains STR   500 when the body contains STR (a poison record)
 *   --partial-ids a,b    200 {"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}
 *   otherwise            --status N (default 200) with --body TEXT (default {"ok":true})
 * --delay-ms N delays every answer. GET /_sink/count answers the number of requests so far.
 *
 * A gate holds requests in flight for as long as a test needs, so that a test makes "work is in flight"
 * happen instead of hoping a slow answer lasts long enough: while the gate is closed, every request is
 * recorded at receipt and then held open, unanswered, until GET /_sink/release opens the gate (it
 * answers every held request and lets later ones through). --hold starts with the gate closed;
 * GET /_sink/hold closes it again. GET /_sink/open answers how many requests are open now (received,
 * not yet answered: held, or in --delay-ms) and GET /_sink/max_open the most that were ever open at
 * once. A full record also carries "open":[n,...], the numbers of the other requests open when it
 * was received, oldest first: a request is closed before its answer is queued, so a client that
 * sends a request only after the answer to another one never finds that one in "open".
 * SIGTERM or SIGINT: stop (answering whatever is held) and exit 0.
 *
 * libmicrohttpd runs a thread per connection here; this is a test helper, not trigd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define MAX_BODY (64u * 1024 * 1024)

struct sink_opts {
    const char *out;
    int port;
    unsigned status;
    long fail_first;
    long throttle_first;
    long delay_ms;
    const char *partial_ids;
    const char *fail_when_contains;
    const char *body;
    bool count_only;
    const char *sent_key;
    const char *count;
    bool hold;
};

struct sink {
    struct sink_opts o;
    FILE *out;
    pthread_mutex_t lock; /* guards out, n, the gate and the open set */
    long n;
    char *partial_body;
    pthread_cond_t gate_cv; /* broadcast when the gate opens or the sink stops */
    bool held;              /* the gate is closed */
    bool stopping;
    unsigned long gate_gen; /* bumped by each release: a request waits only for the release after it */
    long *open_n;           /* numbers of the requests open now, oldest first */
    size_t n_open, cap_open;
    size_t max_open;
};

struct sink_req {
    char *buf;
    size_t len;
    size_t cap;
    bool too_big;
};

static int64_t sink_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sink [--out FILE] [--port N] [--status N] [--body TEXT] [--fail-first N]\n"
               "            [--throttle-first N] [--delay-ms N] [--partial-ids a,b]\n"
               "            [--fail-when-contains STR] [--count-only|--quiet] [--sent-key KEY]\n"
               "            [--count TEXT] [--hold]\n");
}

static long parse_num(const char *opt, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "sink: %s: expected a number in [%ld, %ld], got '%s'\n", opt, min, max, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, struct sink_opts *o)
{
    o->status = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--count-only") == 0 || strcmp(a, "--quiet") == 0) {
            o->count_only = true;
            continue;
        }
        if (strcmp(a, "--hold") == 0) {
            o->hold = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sink: unknown option or missing value: %s\n", a);
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--port") == 0)
            o->port = (int)parse_num(a, v, 0, 65535);
        else if (strcmp(a, "--status") == 0)
            o->status = (unsigned)parse_num(a, v, 100, 599);
        else if (strcmp(a, "--fail-first") == 0)
            o->fail_first = parse_num(a, v, 0, 1000000000);
        else if (strcmp(a, "--throttle-first") == 0)
            o->throttle_first = parse_num(a, v, 0, 1000000000);
        else if (strcmp(a, "--delay-ms") == 0)
            o->delay_ms = parse_num(a, v, 0, 3600000);
        else if (strcmp(a, "--partial-ids") == 0)
            o->partial_ids = v;
        else if (strcmp(a, "--fail-when-contains") == 0)
            o->fail_when_contains = v;
        else if (strcmp(a, "--body") == 0)
            o->body = v;
        else if (strcmp(a, "--sent-key") == 0)
            o->sent_key = v;
        else if (strcmp(a, "--count") == 0)
            o->count = v;
        else {
            fprintf(stderr, "sink: unknown option: %s\n", a);
            usage(stderr);
            exit(2);
        }
    }
}

/* {"batchItemFailures":[{"itemIdentifier":"a"},...]} from "a,b". */
static char *make_partial_body(const char *ids)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "batchItemFailures") : NULL;
    char *copy = strdup(ids);
    char *out = NULL;
    if (!arr || !copy)
        goto done;
    char *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        cJSON *item = cJSON_CreateObject();
        if (!item || !cJSON_AddStringToObject(item, "itemIdentifier", id)) {
            cJSON_Delete(item);
            goto done;
        }
        cJSON_AddItemToArray(arr, item);
    }
    out = cJSON_PrintUnformatted(root);
done:
    free(copy);
    cJSON_Delete(root);
    return out;
}

/* The first number after key ("sent_ms") in the body, or -1. Skips the quote, colon and escapes between. */
static int64_t find_sent_ms(const char *body, size_t len, const char *key)
{
    const char *p = memmem(body, len, key, strlen(key));
    if (!p)
        return -1;
    const char *end = body + len;
    p += strlen(key);
    for (int skipped = 0; p < end && (*p < '0' || *p > '9'); p++) {
        if (++skipped > 8)
            return -1;
    }
    int64_t v = 0;
    bool any = false;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        any = true;
    }
    return any ? v : -1;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    cJSON *headers = cls;
    char name[256];
    size_t i;
    for (i = 0; key[i] && i + 1 < sizeof(name); i++)
        name[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    name[i] = '\0';
    if (!cJSON_GetObjectItemCaseSensitive(headers, name))
        cJSON_AddStringToObject(headers, name, value ? value : "");
    return MHD_YES;
}

static void record_full(struct sink *s, struct MHD_Connection *conn, long n, int64_t t_ms, const char *method,
                        const char *url, unsigned status, const struct sink_req *r, const long *open_n,
                        size_t n_open)
{
    cJSON *line = cJSON_CreateObject();
    if (!line)
        return;
    cJSON_AddNumberToObject(line, "n", (double)n);
    cJSON_AddNumberToObject(line, "t_ms", (double)t_ms);
    cJSON *open = cJSON_AddArrayToObject(line, "open");
    for (size_t i = 0; open && i < n_open; i++)
        cJSON_AddItemToArray(open, cJSON_CreateNumber((double)open_n[i]));
    cJSON_AddStringToObject(line, "method", method);
    cJSON_AddStringToObject(line, "path", url);
    cJSON_AddNumberToObject(line, "status", status);
    cJSON *headers = cJSON_AddObjectToObject(line, "headers");
    if (headers)
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
    const char *body = r->buf ? r->buf : "";
    cJSON *parsed = r->len ? cJSON_ParseWithLength(body, r->len) : NULL;
    if (parsed)
        cJSON_AddItemToObject(line, "body", parsed);
    else
        cJSON_AddStringToObject(line, "body", body);
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (!text)
        return;
    pthread_mutex_lock(&s->lock);
    fprintf(s->out, "%s\n", text);
    fflush(s->out);
    pthread_mutex_unlock(&s->lock);
    free(text);
}

/* How many times text occurs in the body (without overlaps). */
static long count_text(const char *body, size_t len, const char *text)
{
    size_t tl = strlen(text);
    long n = 0;
    for (const char *p = body, *end = body + len; tl && (p = memmem(p, (size_t)(end - p), text, tl)); p += tl)
        n++;
    return n;
}

static void record_compact(struct sink *s, int64_t t_ms, const struct sink_req *r)
{
    int64_t sent = r->buf ? find_sent_ms(r->buf, r->len, s->o.sent_key ? s->o.sent_key : "sent_ms") : -1;
    char count[48] = "";
    if (s->o.count)
        snprintf(count, sizeof count, ",\"count\":%ld", r->buf ? count_text(r->buf, r->len, s->o.count) : 0L);
    pthread_mutex_lock(&s->lock);
    if (sent >= 0)
        fprintf(s->out, "{\"t_ms\":%" PRId64 ",\"sent_ms\":%" PRId64 "%s}\n", t_ms, sent, count);
    else
        fprintf(s->out, "{\"t_ms\":%" PRId64 ",\"sent_ms\":null%s}\n", t_ms, count);
    fflush(s->out);
    pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                               const char *retry_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /_sink/WHAT: count, open, max_open (numbers), hold and release (the gate; answer "ok"). */
static enum MHD_Result control(struct sink *s, struct MHD_Connection *conn, const char *what)
{
    char text[32];
    long v;
    pthread_mutex_lock(&s->lock);
    if (strcmp(what, "count") == 0) {
        v = s->n;
    } else if (strcmp(what, "open") == 0) {
        v = (long)s->n_open;
    } else if (strcmp(what, "max_open") == 0) {
        v = (long)s->max_open;
    } else if (strcmp(what, "hold") == 0) {
        s->held = true;
        v = -1;
    } else if (strcmp(what, "release") == 0) {
        s->held = false;
        s->gate_gen++;
        pthread_cond_broadcast(&s->gate_cv);
        v = -1;
    } else {
        pthread_mutex_unlock(&s->lock);
        return respond(conn, 404, "{\"error\":\"unknown /_sink/ request\"}", NULL);
    }
    pthread_mutex_unlock(&s->lock);
    if (v < 0)
        return respond(conn, 200, "ok", NULL);
    snprintf(text, sizeof(text), "%ld", v);
    return respond(conn, 200, text, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct sink *s = cls;
    struct sink_req *r = *con_cls;

    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t add = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_big || r->len + add > MAX_BODY) {
            r->too_big = true;
            return MHD_YES;
        }
        if (r->len + add + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + add + 1)
                cap *= 2;
            char *nb = realloc(r->buf, cap);
            if (!nb)
                return MHD_NO;
            r->buf = nb;
            r->cap = cap;
        }
        memcpy(r->buf + r->len, upload_data, add);
        r->len += add;
        r->buf[r->len] = '\0';
        return MHD_YES;
    }

    int64_t t_ms = sink_now_ms();
    if (strcmp(method, "GET") == 0 && strncmp(url, "/_sink/", 7) == 0)
        return control(s, conn, url + 7);
    if (r->too_big)
        return respond(conn, 413, "{\"error\":\"body too large\"}", NULL);

    /* Number it and open it; "open" in its record is what was open before it. */
    long *open_before = NULL;
    size_t n_before = 0;
    pthread_mutex_lock(&s->lock);
    long n = ++s->n;
    if (s->n_open == s->cap_open) {
        size_t cap = s->cap_open ? s->cap_open * 2 : 64;
        long *grown = realloc(s->open_n, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            return MHD_NO;
        }
        s->open_n = grown;
        s->cap_open = cap;
    }
    if (s->n_open && s->out && !s->o.count_only && (open_before = malloc(s->n_open * sizeof(*open_before)))) {
        memcpy(open_before, s->open_n, s->n_open * sizeof(*open_before));
        n_before = s->n_open;
    }
    s->open_n[s->n_open++] = n;
    if (s->n_open > s->max_open)
        s->max_open = s->n_open;
    bool wait_gate = s->held;
    unsigned long gen = s->gate_gen;
    pthread_mutex_unlock(&s->lock);

    unsigned status = s->o.status;
    const char *body = s->o.body ? s->o.body : "{\"ok\":true}";
    const char *retry_after = NULL;
    if (n <= s->o.throttle_first) {
        status = 429;
        body = "{\"error\":\"throttled\"}";
        retry_after = "1";
    } else if (n <= s->o.throttle_first + s->o.fail_first) {
        status = 500;
        body = "{\"error\":\"fail-first\"}";
    } else if (s->o.fail_when_contains && r->buf && strstr(r->buf, s->o.fail_when_contains)) {
        status = 500;
        body = "{\"error\":\"poison record\"}";
    } else if (s->partial_body) {
        status = 200;
        body = s->partial_body;
    }

    if (s->out) {
        if (s->o.count_only)
            record_compact(s, t_ms, r);
        else
            record_full(s, conn, n, t_ms, method, url, status, r, open_before, n_before);
    }
    free(open_before);
    if (wait_gate) {
        pthread_mutex_lock(&s->lock);
        while (s->held && s->gate_gen == gen && !s->stopping)
            pthread_cond_wait(&s->gate_cv, &s->lock);
        pthread_mutex_unlock(&s->lock);
    }
    if (s->o.delay_ms)
        sink_sleep_ms(s->o.delay_ms);
    /* Closed before the answer is queued: its client cannot send a follow-up that finds it open. */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_open; i++) {
        if (s->open_n[i] == n) {
            memmove(&s->open_n[i], &s->open_n[i + 1], (s->n_open - i - 1) * sizeof(*s->open_n));
            s->n_open--;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return respond(conn, status, body, retry_after);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sink_req *r = *con_cls;
    if (r) {
        free(r->buf);
        free(r);
        *con_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    struct sink s = {0};
    parse_args(argc, argv, &s.o);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.gate_cv, NULL);
    s.held = s.o.hold;
    if (s.o.partial_ids && !(s.partial_body = make_partial_body(s.o.partial_ids))) {
        fprintf(stderr, "sink: out of memory\n");
        return 1;
    }
    if (s.o.out && !(s.out = fopen(s.o.out, "a"))) {
        fprintf(stderr, "sink: cannot open %s: %s\n", s.o.out, strerror(errno));
        return 1;
    }

    /* Block the stop signals before MHD starts its threads, so only sigwait() below sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.o.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "sink: cannot listen on 127.0.0.1:%d\n", s.o.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) {
        fprintf(stderr, "sink: cannot tell the bound port\n");
        MHD_stop_daemon(d);
        return 1;
    }
    printf("PORT %u\n", (unsigned)info->port);
    fflush(stdout);

    int sig;
    while (sigwait(&stop, &sig) != 0) {
    }
    pthread_mutex_lock(&s.lock);
    s.stopping = true; /* answer what is held, so the connection threads end */
    pthread_cond_broadcast(&s.gate_cv);
    pthread_mutex_unlock(&s.lock);
    MHD_stop_daemon(d);
    if (s.out)
        fclose(s.out);
    free(s.partial_body);
    free(s.open_n);
    pthread_cond_destroy(&s.gate_cv);
    pthread_mutex_destroy(&s.lock);
    return 0;
}
