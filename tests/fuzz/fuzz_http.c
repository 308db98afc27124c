/* fuzz_http.c — libFuzzer entry for what arrives over HTTP: a webhook request made into an event, and
 * the Invoke API request (path, function name and qualifier, headers, body).
 *
 * Input: the raw bytes a client sends (request line, headers, body; anything). They are sent, over
 * loopback TCP, to
 *   1. trigd's HTTP server with a handler that builds the webhook event, with the default redact list:
 *      the event must be JSON, carry none of the redacted headers, and rawPath must be the request's;
 *   2. a whole engine (webhook source, Invoke API at /2015-03-31/functions/..., admin API, /healthz),
 *      whose function's endpoint is a closed port: invocations fail fast and are retried in memory.
 * Each exchange ends when the server closes the connection, 50 ms after its answer stopped coming (a
 * kept-alive connection), or after 100 ms without a byte from the server (a request cut short before
 * the client's half-close: libmicrohttpd only closes it at the request deadline, request_timeout_s 1
 * here, and waiting for that would make the fuzzer crawl). Whatever the server sends is HTTP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <ftw.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "admin.h"
#include "config.h"
#include "fuzz_peer.h"
#include "connectors/webhook/webhook_event.h"
#include "engine.h"
#include "http.h"
#include "lambda_api.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct trg_http *plain;
static struct trg_engine *engine;
static int plain_port, engine_port;
static char *redact_names[] = {"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"};
static const struct trg_strlist redact = {redact_names, 4};

static void build_event(void *arg, struct trg_http_req *req)
{
    struct trg_buf b = {0};
    (void)arg;
    if (trg_webhook_event_build(req, "c0ffee00-0000-4000-8000-000000000001", 1749893467563LL, &redact, &b) < 0)
        abort();
    cJSON *ev = cJSON_ParseWithLength(b.data, b.len);
    if (!ev)
        abort();
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, "headers");
    for (const cJSON *it = h ? h->child : NULL; it; it = it->next)
        for (size_t i = 0; i < redact.n; i++)
            if (!strcasecmp(it->string, redact.v[i]))
                abort(); /* a redacted header reached the event */
    if (cJSON_GetObjectItemCaseSensitive(ev, "cookies"))
        abort(); /* Cookie is on the list */
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(ev, "rawPath");
    if (!cJSON_IsString(raw) || strcmp(raw->valuestring, trg_http_req_raw_path(req)) != 0)
        abort();
    cJSON_Delete(ev);
    trg_buf_free(&b);
    trg_http_respond(req, 200, "text/plain", "ok", 2, NULL);
}

static const char config_text[] =
    "{\"http\":{\"listen\":\"127.0.0.1:0\",\"request_timeout_s\":1,\"max_connections\":4096,\"max_connections_per_address\":4096},\"state_dir\":\"%s\",\"log\":{\"level\":\"error\"},"
    "\"functions\":{\"fn\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:1/fn\",\"timeout_ms\":200}},"
    "\"sources\":{\"hook\":{\"type\":\"webhook\",\"path\":\"/hook\",\"max_body_bytes\":65536},"
    "\"sync\":{\"type\":\"webhook\",\"path\":\"/sync\",\"mode\":\"sync\",\"sync_timeout_ms\":300}},"
    "\"routes\":{\"r\":{\"source\":\"hook\",\"function\":\"fn\",\"max_retry_attempts\":0},"
    "\"s\":{\"source\":\"sync\",\"function\":\"fn\",\"max_retry_attempts\":0}}}";

static char dir[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The state dir (DLQ files) goes when the process ends: make check runs this too. */
static void cleanup(void) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void setup(void)
{
    char *text;
    struct trg_config *conf = NULL;
    struct trg_errs errs = {0};

    trg_log_setup(TRG_LOG_ERROR + 1, TRG_LOG_TEXT, stderr);
    loop = ev_loop_new(EVFLAG_AUTO);
    /* request_timeout_s 1: a request cut short (no final CRLF) before the half-close is only noticed by
     * the deadline (libmicrohttpd does not see that FIN), so it must come soon */
    const struct trg_http_opts lim = {
        .max_connections = 4096, .max_connections_per_address = 4096, .request_timeout_s = 1, .reserved_connections = 4};
    if (!loop || trg_http_create_with(loop, "127.0.0.1:0", &lim, &plain) != 0 ||
        trg_http_route(plain, NULL, "/", 1 << 20, build_event, NULL) != 0)
        abort();
    plain_port = trg_http_port(plain);
    snprintf(dir, sizeof dir, "%s/trigd-fuzz-http-%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    atexit(cleanup);
    text = trg_asprintf(config_text, dir);
    if (!text || trg_config_load_text(text, strlen(text), "fuzz", &conf, &errs) != 0)
        abort();
    trg_free(text);
    struct trg_lambda_api *lambda_api = NULL; /* lives as long as the process */
    if (trg_engine_create(loop, conf, NULL, &engine) != 0 ||
        trg_admin_register(engine, trg_engine_http(engine)) != 0 ||
        trg_lambda_api_register(engine, trg_engine_http(engine), &lambda_api) != 0 || trg_engine_start(engine) != 0)
        abort();
    engine_port = trg_http_port(trg_engine_http(engine));
}

static void exchange(int port, const uint8_t *data, size_t size)
{
    struct fuzz_peer p = {.keep = 64, .deadline = 5., .quiet = 0.05};
    fuzz_peer_exchange(loop, port, &(struct fuzz_part){data, size}, 1, &p);
    if (p.expired)
        abort(); /* the server neither answered nor closed: a hang */
    if (p.in.len >= 5 && memcmp(p.in.data, "HTTP/", 5) != 0) {
        fprintf(stderr, "fuzz_http: port %d answered %.*s\n", port, (int)p.in.len, p.in.data);
        abort();
    }
    trg_buf_free(&p.in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    exchange(plain_port, data, size);
    exchange(engine_port, data, size);
    return 0;
}
