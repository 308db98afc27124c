/* fuzz_runtime_api.c — libFuzzer entry for the Runtime API an instance's runtime talks to
 * (src/invoke/runtime_api.c): GET next, POST {id}/response and {id}/error (with
 * Lambda-Runtime-Function-Error-Type), init/error, the extension and telemetry routes.
 *
 * The seam: the real listener (rt_api_open: the instance's own libmicrohttpd daemon on loopback, its
 * routes, limits and handlers, driven from the loop) with the pool (runtime.c) replaced by the four
 * calls the API makes into it, defined here: rt_inst_next hands over an invoke at once (or from a
 * 0-timer, so the parked `next` is resumed from the loop as in trigd), rt_inst_answer / too_large /
 * stop move the state as the pool does and check what they are given. rt_valid_error_type is also
 * checked against the reference's rule, (Runtime|Function)\.[A-Z][a-zA-Z]+ as a POSIX regex, on every
 * header value (or line) of the input. No runtime process: a fuzzer
 * that had to spawn one per input would crawl, and the process plays no part in parsing requests.
 *
 * Input: [0] flags: bits 0-2 the instance's state (mod 5), bit 3 an invoke is current
 * (request id ...0001), bit 4 ...0000 was answered already, bit 5 `next` is handed over from the
 * loop rather than at once, bit 6 a big body: [1] [2] when [1] is not 0, a POST .../ID/response of
 * [1] * 32 KiB - 128 + [2] bytes is sent after the rest (6 MiB bodies straddle the limit at
 * [1] = 192); [3..] the raw bytes a runtime sends, over one loopback connection (pipelined requests
 * welcome). Request ids are 8f5ee6b2-5e3f-4d1c-9a57-00000000000N, N counting the invokes handed.
 *
 * Checked: every answer is HTTP with a status the Runtime API documents (reference/lambda-runtime-api.md:
 * 200 202 400 403 404 413 500) or that trigd's HTTP server or libmicrohttpd give a malformed request
 * (100 405 414 431 501 505), each answer framed by its Content-Length; the server neither hangs nor
 * stays silent without closing; an answer reaches the pool only for the current invoke, at most
 * RT_MAX_RESPONSE bytes, an error with a non-empty errorType that is valid or came from the body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "invoke/runtime.h"
#include "log.h"
#include "fuzz_peer.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID_PREFIX "8f5ee6b2-5e3f-4d1c-9a57-00000000000"

static struct ev_loop *loop;
static struct rt_opts opts = {.handler = "index.handler", .region = "us-east-1"};
static struct rt_fn fn = {.name = "fuzzfn", .opts = &opts};
static struct rt_inst inst = {.fn = &fn, .id = 1};
static struct rt_call call;
static unsigned handed;
static bool hand_later;
static ev_timer hand_timer;

static void hand(void)
{
    memset(&call, 0, sizeof call);
    snprintf(call.request_id, sizeof call.request_id, ID_PREFIX "%u", (++handed) % 10);
    call.payload = "{\"key\":\"value\"}";
    call.len = strlen(call.payload);
    call.client_context = handed % 2 ? NULL : "{\"custom\":{\"a\":1}}";
    call.timeout_ms = 3000;
    inst.state = RT_BUSY;
    inst.call = &call;
    if (!rt_api_hand(&inst, &call)) {
        inst.call = NULL; /* its client had gone: the pool keeps the call for the next instance */
        inst.state = RT_IDLE;
    }
}

static void hand_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
    if (inst.next_req)
        hand();
}

/* ---- the pool, as runtime_api.c sees it ---- */

void rt_inst_next(struct rt_inst *in)
{
    if (in != &inst || !in->next_req || in->call)
        abort();
    in->state = RT_IDLE;
    if (hand_later)
        ev_timer_start(loop, &hand_timer);
    else
        hand();
}

static bool body_type_is(const char *body, size_t len, const char *type)
{
    /* the errorType came from the body when the body holds it as a JSON string (checked loosely) */
    size_t n = strlen(type);
    for (size_t i = 0; n && i + n <= len; i++)
        if (memcmp(body + i, type, n) == 0)
            return true;
    return false;
}

void rt_inst_answer(struct rt_inst *in, bool is_error, const char *errtype, const char *body, size_t len,
                    const char *ctype)
{
    (void)ctype;
    if (in != &inst || !in->call || in->state != RT_BUSY || len > RT_MAX_RESPONSE || (len && !body))
        abort();
    if (is_error) {
        if (!errtype || !errtype[0] ||
            !(rt_valid_error_type(errtype) || strcmp(errtype, "Runtime.Unknown") == 0 ||
              body_type_is(body, len, errtype))) {
            fprintf(stderr, "fuzz_runtime_api: errorType %s\n", errtype ? errtype : "(null)");
            abort();
        }
    } else if (errtype)
        abort();
    snprintf(in->answered_id, sizeof in->answered_id, "%s", in->call->request_id);
    in->call = NULL;
    in->state = RT_FINISHING;
}

void rt_inst_too_large(struct rt_inst *in)
{
    if (in != &inst || !in->call)
        abort();
    snprintf(in->answered_id, sizeof in->answered_id, "%s", in->call->request_id);
    in->call = NULL;
    in->state = RT_FINISHING;
}

void rt_inst_stop(struct rt_inst *in, int sig)
{
    (void)sig;
    if (in != &inst)
        abort();
    in->state = RT_STOPPING;
}

/* ---- the client ---- */

static regex_t type_re;

/* rt_valid_error_type(v) agrees with the reference's rule; v is each line's value (after ": ") */
static void check_type_rule(const uint8_t *data, size_t size)
{
    char v[512];
    for (size_t off = 0; off < size;) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : size - off;
        const uint8_t *line = data + off;
        const uint8_t *colon = memmem(line, n, ": ", 2);
        if (colon)
            n -= (size_t)(colon + 2 - line), line = colon + 2;
        if (n && line[n - 1] == '\r')
            n--;
        if (n < sizeof v && !memchr(line, '\0', n)) {
            memcpy(v, line, n);
            v[n] = '\0';
            bool rule = regexec(&type_re, v, 0, NULL, 0) == 0;
            if (rt_valid_error_type(v) != rule) {
                fprintf(stderr, "fuzz_runtime_api: rt_valid_error_type(\"%s\") is %d, the rule says %d\n", v,
                        !rule, rule);
                abort();
            }
        }
        off += (nl ? (size_t)(nl - (data + off)) + 1 : size - off);
    }
}

static void setup(void)
{
    if (regcomp(&type_re, "^(Runtime|Function)\\.[A-Z][a-zA-Z]+$", REG_EXTENDED | REG_NOSUB) != 0)
        abort();
    trg_log_setup(TRG_LOG_ERROR + 1, TRG_LOG_TEXT, stderr);
    loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop)
        abort();
    fn.loop = loop;
    ev_timer_init(&hand_timer, hand_cb, 0., 0.);
    if (rt_api_open(&inst) != 0)
        abort();
}

static bool allowed(int status)
{
    static const int ok[] = {100, 200, 202, 400, 403, 404, 405, 413, 414, 431, 500, 501, 505};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (ok[i] == status)
            return true;
    return false;
}

/* Every answer in s[0..n) (n < cap: all that came) is an HTTP response with an allowed status. */
static void check_answers(const char *s, size_t n, bool complete)
{
    size_t off = 0;
    while (off < n) {
        const char *r = s + off;
        size_t left = n - off;
        const char *end = memmem(r, left, "\r\n\r\n", 4);
        if (left < 13 || memcmp(r, "HTTP/1.", 7) != 0 || r[8] != ' ' || (end == NULL && complete)) {
            fprintf(stderr, "fuzz_runtime_api: not HTTP: %.*s\n", (int)(left < 200 ? left : 200), r);
            abort();
        }
        int status = atoi(r + 9);
        if (!allowed(status)) {
            fprintf(stderr, "fuzz_runtime_api: status %d: %.*s\n", status, (int)(left < 200 ? left : 200), r);
            abort();
        }
        if (!end)
            return;
        size_t head = (size_t)(end + 4 - r), body = 0;
        const char *cl = NULL;
        for (const char *h = r; h && h < end; h = memchr(h, '\n', (size_t)(end - h))) {
            h += *h == '\n';
            if ((size_t)(end - h) > 15 && strncasecmp(h, "Content-Length:", 15) == 0)
                cl = h + 15;
        }
        if (status >= 200 && cl)
            body = strtoul(cl, NULL, 10);
        else if (status >= 200)
            return; /* no length: the body runs to the close */
        /* a HEAD's answer has the length and no body */
        if (head + body < left && memcmp(r + head + body, "HTTP/1.", 7) != 0 &&
            memcmp(r + head, "HTTP/1.", 7) == 0)
            body = 0;
        off += head + body;
    }
}

static void exchange(const uint8_t *data, size_t size, const uint8_t *big_head, size_t big_head_len,
                     size_t big_body)
{
    /* libmicrohttpd rarely closes on the half-close of a kept-alive connection: the exchange is over
     * 20 ms after the last byte came, or after 40 ms without any (loopback answers take well under 1 ms;
     * a late byte is only not checked) */
    struct fuzz_peer p = {.keep = 1 << 20, .deadline = 10., .quiet = 0.02};
    const struct fuzz_part parts[] = {{data, size}, {big_head, big_head_len}, {NULL, big_body}};
    fuzz_peer_exchange(loop, inst.port, parts, 3, &p);
    if (p.expired) { /* the server neither answered nor closed: a hang */
        unsigned fds = 0;
        for (int fd = 0; fd < 1024; fd++)
            fds += fcntl(fd, F_GETFD) != -1;
        fprintf(stderr,
                "fuzz_runtime_api: no answer and no close in 10 s: sent %zu of %zu bytes, got %zu, state %d, "
                "call %s, next parked %d, %u fds open\n",
                p.sent, p.total, p.got, (int)inst.state, inst.call ? inst.call->request_id : "none",
                inst.next_req != NULL, fds);
        /* the listener's sockets as the kernel sees them: st 01 ESTABLISHED, 08 CLOSE_WAIT, 0A LISTEN;
         * tx_queue:rx_queue says whether the listener reads */
        FILE *tcp = fopen("/proc/self/net/tcp", "r");
        char line[256], port[8];
        snprintf(port, sizeof port, ":%04X", (unsigned)inst.port);
        while (tcp && fgets(line, sizeof line, tcp))
            if (strstr(line, port))
                fputs(line, stderr);
        if (tcp)
            fclose(tcp);
        abort();
    }
    check_answers(p.in.data, p.in.len, p.eof && p.in.len < (1 << 20));
    trg_buf_free(&p.in);
    /* let the server see the close (a parked `next` is then answered into the void) */
    for (int i = 0; i < 3; i++)
        ev_run(loop, EVRUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    uint8_t flags = size > 0 ? data[0] : 0, k = size > 1 ? data[1] : 0, j = size > 2 ? data[2] : 0;
    size_t skip = size < 3 ? size : 3;

    /* the instance as the flags say (the listener stays: opening one per input would be slow) */
    ev_timer_stop(loop, &hand_timer);
    if (inst.next_req) {
        trg_http_respond(inst.next_req, 500, "application/json", "{}", 2, NULL);
        inst.next_req = NULL;
    }
    trg_free(inst.init_error);
    trg_free(inst.init_error_type);
    inst.init_error = inst.init_error_type = NULL;
    inst.state = (enum rt_state)((flags & 7) % RT__STATES);
    handed = 0;
    inst.call = NULL;
    inst.answered_id[0] = '\0';
    if (flags & 16)
        snprintf(inst.answered_id, sizeof inst.answered_id, ID_PREFIX "0");
    if (flags & 8) {
        memset(&call, 0, sizeof call);
        snprintf(call.request_id, sizeof call.request_id, ID_PREFIX "%u", ++handed);
        inst.call = &call;
        inst.state = RT_BUSY;
    }
    hand_later = flags & 32;

    char head[256];
    size_t head_len = 0, big = 0;
    if ((flags & 64) && k) {
        big = (size_t)k * 32768 - 128 + j;
        head_len = (size_t)snprintf(head, sizeof head,
                                    "POST /2018-06-01/runtime/invocation/" ID_PREFIX
                                    "1/response HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n",
                                    big);
    }
    check_type_rule(data + skip, size - skip);
    exchange(data + skip, size - skip, (const uint8_t *)head, head_len, big);
    return 0;
}
