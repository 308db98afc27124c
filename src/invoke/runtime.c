/* runtime.c — the "runtime" function type: trigd runs the function's Lambda runtime itself and speaks
 * the Runtime API to it (DESIGN.md §7, docs/RUNTIMES.md). This file holds the options, the pool of
 * instances of one function, the life of an invoke and the metering; runtime_api.c serves the Runtime
 * API and runtime_spawn.c starts the processes.
 *
 * Scheduling: an invoke takes an idle instance (the one idle most recently, so that the others can
 * expire); when there is none it waits in the function's queue, and a new instance is started when the
 * queue is longer than the instances that will soon be free (starting, or answered and not back at
 * `next`) and fewer than max_concurrency instances live. As the engine never has more than
 * max_concurrency invokes in flight, no more instances than that ever run (min_instances aside, which
 * the config check keeps below it). Idle instances beyond min_instances stop after idle_timeout_s.
 *
 * Failures: a timeout kills the instance's process group (Sandbox.Timedout); an exit mid-invoke is
 * Runtime.ExitError; /init/error, an exit before the first `next` or an init past init_timeout_ms fail
 * one waiting invoke with the init error and make further starts back off (1 s doubling up to 60 s, reset
 * by an answered invoke; an instance dying between invokes backs off the same way):
 * while backing off, invokes that find no instance fail at once with the last init error instead of
 * starting one, so a broken function cannot become a fork storm.
 *
 * Every callback to the engine is the last thing its libev callback does, and at most one is made per
 * libev callback: the engine may destroy the function inside it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../http.h"
#include "../log.h"
#include "../metrics.h"
#include "runtime.h"

#define RT_BACKOFF_BASE_S 1.0
#define RT_BACKOFF_MAX_S 60.0

static const struct trg_opt rt_options[] = {
    {"code_dir", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct rt_opts, code_dir),
     "Directory of the function's code: the process runs there, and it is LAMBDA_TASK_ROOT.", NULL,
     TRG_OPT_REQUIRED},
    {"handler", TRG_OPT_STRING, "\"\"", 0, 0, NULL, offsetof(struct rt_opts, handler),
     "The handler the runtime loads (_HANDLER), e.g. `index.handler`.", NULL, 0},
    {"command", TRG_OPT_STRLIST, NULL, 0, 0, NULL, offsetof(struct rt_opts, command),
     "The runtime to start, without a shell; none = `code_dir/bootstrap` (a custom runtime). A relative path "
     "with a slash is taken from code_dir, a bare name is searched in PATH, e.g. "
     "`[\"node\", \"node_modules/aws-lambda-ric/bin/index.mjs\", \"index.handler\"]`.",
     NULL, 0},
    {"environment", TRG_OPT_KVLIST, NULL, 0, 0, NULL, offsetof(struct rt_opts, environment),
     "Variables added to the Lambda environment the runtime gets (nothing of trigd's own environment is "
     "passed on). Lambda's reserved names cannot be set.",
     NULL, 0},
    {"memory_mb", TRG_OPT_INT, "128", 16, 10240, "MB", offsetof(struct rt_opts, memory_mb),
     "Memory of each instance: a cgroup v2 memory.max where trigd may create one, else RLIMIT_DATA (which "
     "one is logged at start); reported in REPORT lines and AWS_LAMBDA_FUNCTION_MEMORY_SIZE, and the GB "
     "of GB-seconds.",
     NULL, 0},
    {"min_instances", TRG_OPT_INT, "0", 0, 1000, "instances", offsetof(struct rt_opts, min_instances),
     "Instances started at load and kept warm, replaced when they die (provisioned concurrency); at most "
     "max_concurrency.",
     NULL, 0},
    {"idle_timeout_s", TRG_OPT_INT, "300", 1, 86400, "s", offsetof(struct rt_opts, idle_timeout_s),
     "An instance beyond min_instances that has been idle this long is stopped (scale to zero).", NULL, 0},
    {"init_timeout_ms", TRG_OPT_INT, "10000", 1, 900000, "ms", offsetof(struct rt_opts, init_timeout_ms),
     "How long an instance may take from its start to its first `next` (Lambda's init limit).", NULL, 0},
    {"kill_grace_ms", TRG_OPT_INT, "500", 0, 60000, "ms", offsetof(struct rt_opts, kill_grace_ms),
     "A stopping instance gets SIGTERM, then SIGKILL this much later.", NULL, 0},
    {"region", TRG_OPT_STRING, "\"us-east-1\"", 0, 0, NULL, offsetof(struct rt_opts, region),
     "AWS_REGION and AWS_DEFAULT_REGION of the runtime, and the region in the function ARN.", NULL, 0},
    {"price_gb_s", TRG_OPT_STRING, "\"0.0000166667\"", 0, 0, "USD", offsetof(struct rt_opts, price_gb_s),
     "Price of one GB-second for `trigctl usage`'s estimate (a decimal; the default is Lambda's public x86 "
     "price in us-east-1).",
     NULL, 0},
    {"price_request", TRG_OPT_STRING, "\"0.0000002\"", 0, 0, "USD", offsetof(struct rt_opts, price_request),
     "Price of one invocation for `trigctl usage`'s estimate (Lambda: 0.20 USD per million requests).", NULL,
     0},
};

/* Names Lambda reserves: `environment` may not set them. */
static const char *const reserved[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
};

static bool parse_price(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0)
        return false;
    if (out)
        *out = v;
    return true;
}

static void rt_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct rt_opts *o = opts;
    const char *p = path ? path : "$";
    char at[512];

    if (o->code_dir && !o->code_dir[0]) {
        snprintf(at, sizeof at, "%s.code_dir", p);
        trg_errs_add(errs, at, "is empty; give the directory of the function's code");
    }
    for (size_t i = 0; i < o->command.n; i++)
        if (!o->command.v[i][0] && i == 0) {
            snprintf(at, sizeof at, "%s.command", p);
            trg_errs_add(errs, at, "the program name is empty");
        }
    snprintf(at, sizeof at, "%s.environment", p);
    for (size_t i = 0; i < o->environment.n; i++) {
        const char *k = o->environment.k[i];
        if (!k[0] || strchr(k, '='))
            trg_errs_add(errs, at, "\"%s\" is not a valid environment variable name", k);
        for (size_t j = 0; j < TRG_ARRAY_SIZE(reserved); j++)
            if (strcmp(k, reserved[j]) == 0)
                trg_errs_add(errs, at, "\"%s\" is reserved by Lambda and set by trigd", k);
    }
    if (!parse_price(o->price_gb_s, NULL)) {
        snprintf(at, sizeof at, "%s.price_gb_s", p);
        trg_errs_add(errs, at, "must be a non-negative decimal number as a string, e.g. \"0.0000166667\"");
    }
    if (!parse_price(o->price_request, NULL)) {
        snprintf(at, sizeof at, "%s.price_request", p);
        trg_errs_add(errs, at, "must be a non-negative decimal number as a string, e.g. \"0.0000002\"");
    }
}

/* ---- small helpers ------------------------------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static const char *const state_labels[RT__STATES] = {"initializing", "idle", "busy", "busy", "stopping"};

static const char *const gauge_labels[3] = {"initializing", "idle", "busy"};

/* trigd_function_instances moves by deltas, so that the old and the new pool of a function changed by a
 * reload (both alive while the old one finishes) add up instead of overwriting each other. */
static void gauges(struct rt_fn *fn)
{
    if (!fn->metrics)
        return;
    double now[3] = {(double)fn->n_state[RT_STARTING], (double)fn->n_state[RT_IDLE],
                     (double)(fn->n_state[RT_BUSY] + fn->n_state[RT_FINISHING])};
    for (int i = 0; i < 3; i++) {
        trg_metrics_add(fn->metrics, TRG_M_INSTANCES, fn->name, gauge_labels[i], now[i] - fn->published[i]);
        fn->published[i] = now[i];
    }
}

static void set_state(struct rt_inst *inst, enum rt_state st)
{
    struct rt_fn *fn = inst->fn;
    fn->n_state[inst->state]--;
    inst->state = st;
    fn->n_state[st]++;
    gauges(fn);
}

static size_t live(const struct rt_fn *fn)
{
    return fn->n_state[RT_STARTING] + fn->n_state[RT_IDLE] + fn->n_state[RT_BUSY] + fn->n_state[RT_FINISHING];
}

static void inst_unlink(struct rt_inst **head, struct rt_inst *i)
{
    if (i->prev)
        i->prev->next = i->next;
    else
        *head = i->next;
    if (i->next)
        i->next->prev = i->prev;
    i->prev = i->next = NULL;
}

static void inst_push(struct rt_inst **head, struct rt_inst *i)
{
    i->prev = NULL;
    i->next = *head;
    if (*head)
        (*head)->prev = i;
    *head = i;
}

static void tail_add(struct trg_buf *t, const char *s, size_t n)
{
    if (trg_buf_add(t, s, n) != 0 || trg_buf_addc(t, '\n') != 0)
        return;
    if (t->len > 2 * RT_TAIL_MAX) { /* keep the last RT_TAIL_MAX bytes, compacting now and then */
        memmove(t->data, t->data + t->len - RT_TAIL_MAX, RT_TAIL_MAX);
        t->len = RT_TAIL_MAX;
    }
}

static void call_free(struct rt_call *c)
{
    if (!c)
        return;
    ev_timer_stop(c->fn->loop, &c->timer);
    trg_free(c->fail_type);
    trg_free(c->fail_body);
    trg_buf_free(&c->tail);
    trg_free(c);
}

static void pump(struct rt_fn *fn);
static void inst_free(struct rt_inst *inst);

/* ---- delivering results --------------------------------------------------------------------------- */

static void fail_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rt_fn *fn = w->data;
    (void)revents;
    struct rt_call *c = fn->deferred;
    if (!c)
        return;
    fn->deferred = c->next;
    if (fn->deferred)
        ev_timer_start(loop, w); /* one callback per turn: the engine may destroy us inside it */
    struct trg_invoke_result res = {.outcome = TRG_OUT_ERROR, .status = -1, .retry_after_ms = -1};
    res.function_error = trg_strdup("Unhandled");
    res.body = c->fail_body;
    res.body_len = c->fail_body ? strlen(c->fail_body) : 0;
    c->fail_body = NULL;
    res.content_type = trg_strdup("application/json");
    trg_invoke_cb cb = c->cb;
    void *arg = c->arg;
    call_free(c);
    cb(arg, &res);
    trg_invoke_result_clear(&res);
}

/* Fail c later (from a 0-timer) with errorType type and body (taken; NULL = built from msg). */
static void defer_failure(struct rt_call *c, const char *type, char *body, const char *msg)
{
    struct rt_fn *fn = c->fn;
    c->fail_body = body ? body : rt_error_body(type, msg);
    c->next = NULL;
    struct rt_call **pp = &fn->deferred;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    ev_timer_start(fn->loop, &fn->fail_timer);
}

/* The invoke handed to inst is over: END and REPORT, metering, then the callback (last). */
static void finish(struct rt_inst *inst, struct rt_call *c, enum trg_outcome outcome, char *body, size_t len,
                   const char *ctype)
{
    struct rt_fn *fn = inst->fn;
    double dur = now_ms() - c->started;
    long long billed = (long long)ceil(dur);
    if (billed < 1)
        billed = 1;
    double gbs = (double)fn->opts->memory_mb / 1024.0 * (double)billed / 1000.0;
    long used = rt_max_memory_mb(inst);
    char line[512], init[64] = "";

    ev_timer_stop(fn->loop, &c->timer);
    inst->call = NULL;
    c->inst = NULL;
    snprintf(inst->answered_id, sizeof inst->answered_id, "%s", c->request_id);
    if (c->cold)
        snprintf(init, sizeof init, "\tInit Duration: %.2f ms", c->init_ms);
    int n = snprintf(line, sizeof line, "END RequestId: %s", c->request_id);
    trg_info("runtime", fn->name, "%s", line);
    tail_add(&c->tail, line, (size_t)n);
    n = snprintf(line, sizeof line,
                 "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld ms\tMemory Size: %lld MB\t"
                 "Max Memory Used: %ld MB%s",
                 c->request_id, dur, billed, (long long)fn->opts->memory_mb, used, init);
    trg_info("runtime", fn->name, "%s", line);
    tail_add(&c->tail, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));

    fn->invocations++;
    fn->billed_ms += (uint64_t)billed;
    fn->gb_seconds += gbs;
    if (fn->metrics) {
        trg_metrics_add(fn->metrics, TRG_M_BILLED_MS, fn->name, NULL, (double)billed);
        trg_metrics_add(fn->metrics, TRG_M_GB_SECONDS, fn->name, NULL, gbs);
    }

    struct trg_invoke_result res = {
        .outcome = outcome, .status = -1, .retry_after_ms = -1, .duration_ms = dur};
    res.body = body;
    res.body_len = len;
    res.content_type = trg_strdup(ctype ? ctype : "application/json");
    if (outcome == TRG_OUT_ERROR)
        res.function_error = trg_strdup("Unhandled");
    else
        res.status = 200;
    size_t keep = c->tail.len > RT_TAIL_MAX ? RT_TAIL_MAX : c->tail.len;
    res.log_tail = keep ? trg_strndup(c->tail.data + c->tail.len - keep, keep) : NULL;
    res.log_tail_len = res.log_tail ? keep : 0;
    trg_invoke_cb cb = c->cb;
    void *arg = c->arg;
    call_free(c);
    pump(fn);
    cb(arg, &res);
    trg_invoke_result_clear(&res);
}

/* ---- output of an instance ------------------------------------------------------------------------ */

void rt_inst_log_line(struct rt_inst *inst, bool is_stderr, const char *line, size_t n)
{
    (void)is_stderr;
    const char *id = inst->call ? inst->call->request_id : "-";
    trg_info("runtime", inst->fn->name, "%s %.*s", id, (int)n, line);
    if (inst->call)
        tail_add(&inst->call->tail, line, n);
}

static void out_feed(struct rt_out *o, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (o->line.len + k > RT_MAX_LINE)
            k = RT_MAX_LINE - o->line.len;
        if (trg_buf_add(&o->line, p, k) != 0) {
            trg_buf_reset(&o->line);
            return;
        }
        p += k;
        n -= k;
        bool full = o->line.len >= RT_MAX_LINE;
        if (n > 0 && *p == '\n') {
            p++;
            n--;
            full = true;
        }
        if (full) {
            rt_inst_log_line(o->inst, o == &o->inst->err, o->line.data, o->line.len);
            trg_buf_reset(&o->line);
        }
    }
}

/* Read what the pipe holds now; on EOF stop watching it. */
static void out_drain(struct rt_out *o)
{
    char buf[16384];
    while (o->fd >= 0) {
        ssize_t n = read(o->fd, buf, sizeof buf);
        if (n > 0) {
            out_feed(o, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (o->line.len) {
            rt_inst_log_line(o->inst, o == &o->inst->err, o->line.data, o->line.len);
            trg_buf_reset(&o->line);
        }
        ev_io_stop(o->inst->fn->loop, &o->w);
        close(o->fd);
        o->fd = -1;
    }
}

static void out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    out_drain(w->data);
}

/* ---- instance life ---------------------------------------------------------------------------- */

static void inst_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void inst_pid_cb(struct ev_loop *loop, ev_io *w, int revents);

void rt_inst_stop(struct rt_inst *inst, int sig)
{
    struct rt_fn *fn = inst->fn;
    if (inst->state != RT_STOPPING)
        set_state(inst, RT_STOPPING);
    if (inst->pid > 0 && kill(-inst->pid, sig) != 0)
        kill(inst->pid, sig);
    ev_timer_stop(fn->loop, &inst->timer);
    if (sig != SIGKILL) {
        ev_timer_set(&inst->timer, (double)fn->opts->kill_grace_ms / 1000.0, 0.);
        ev_timer_start(fn->loop, &inst->timer);
    }
}

static void backoff(struct rt_fn *fn)
{
    double s = RT_BACKOFF_BASE_S * pow(2.0, fn->init_failures > 7 ? 7 : fn->init_failures);
    if (s > RT_BACKOFF_MAX_S)
        s = RT_BACKOFF_MAX_S;
    fn->init_failures++;
    fn->backoff_until = ev_now(fn->loop) + s;
    trg_warn("runtime", fn->name,
             "the runtime failed %d time%s in a row (init error or exit); no new instance for %.0f s "
             "(invokes that find none fail with the last error meanwhile)",
             fn->init_failures, fn->init_failures == 1 ? "" : "s", s);
}

static bool backing_off(const struct rt_fn *fn) { return ev_now(fn->loop) < fn->backoff_until; }

static void remember_init_error(struct rt_fn *fn, const char *type, const char *body);

/* An instance could not be started (a missing code_dir or command, no fd left...): an init failure,
 * with why as the errorMessage of the invokes it fails, and a backoff before the next attempt. */
static void spawn_failed(struct rt_fn *fn, const char *why)
{
    char *b = rt_error_body("Runtime.InitError", why);
    remember_init_error(fn, "Runtime.InitError", b ? b : "");
    trg_free(b);
    backoff(fn);
}

/* Start one instance. false when it could not be started (logged, remembered as the init error, backing
 * off). */
static bool spawn(struct rt_fn *fn, bool provisioned)
{
    char why[PATH_MAX + 256];
    struct rt_inst *inst = trg_calloc(1, sizeof *inst);
    if (!inst) {
        spawn_failed(fn, "the runtime could not be started: out of memory");
        return false;
    }
    inst->fn = fn;
    inst->id = ++fn->next_id;
    inst->provisioned = provisioned;
    inst->pidfd = inst->status_fd = inst->out.fd = inst->err.fd = -1;
    inst->init_ms = -1;
    inst->out.inst = inst->err.inst = inst;
    ev_io_init(&inst->out.w, out_cb, -1, EV_READ);
    ev_io_init(&inst->err.w, out_cb, -1, EV_READ);
    inst->out.w.data = &inst->out;
    inst->err.w.data = &inst->err;
    ev_io_init(&inst->pid_w, inst_pid_cb, -1, EV_READ);
    inst->pid_w.data = inst;
    ev_init(&inst->timer, inst_timer_cb);
    inst->timer.data = inst;
    fn->spawns++;
    if (rt_api_open(inst) != 0) {
        trg_error("runtime", fn->name, "cannot open a Runtime API listener on 127.0.0.1 for a new instance");
        trg_free(inst);
        spawn_failed(fn, "the runtime could not be started: no Runtime API listener (see trigd's log)");
        return false;
    }
    inst->spawned = now_ms();
    if (rt_spawn(inst, why, sizeof why) != 0) {
        rt_api_close(inst);
        trg_free(inst);
        spawn_failed(fn, why);
        return false;
    }
    rt_watchdog_note(inst->pid);
    inst->state = RT_STARTING;
    fn->n_state[RT_STARTING]++;
    inst_push(&fn->insts, inst);
    gauges(fn);
    fn->cold_starts++;
    if (fn->metrics)
        trg_metrics_add(fn->metrics, TRG_M_COLD_STARTS, fn->name, NULL, 1);
    ev_io_set(&inst->out.w, inst->out.fd, EV_READ);
    ev_io_start(fn->loop, &inst->out.w);
    ev_io_set(&inst->err.w, inst->err.fd, EV_READ);
    ev_io_start(fn->loop, &inst->err.w);
    ev_io_set(&inst->pid_w, inst->pidfd, EV_READ);
    ev_io_start(fn->loop, &inst->pid_w);
    ev_timer_set(&inst->timer, (double)fn->opts->init_timeout_ms / 1000.0, 0.);
    ev_timer_start(fn->loop, &inst->timer);
    trg_info("runtime", fn->name, "instance %u starting (pid %d, %s)", inst->id, (int)inst->pid,
             provisioned ? "provisioned" : "cold start");
    return true;
}

static void remember_init_error(struct rt_fn *fn, const char *type, const char *body)
{
    char *t = trg_strdup(type), *b = trg_strdup(body);
    if (!t || !b) {
        trg_free(t);
        trg_free(b);
        return;
    }
    trg_free(fn->last_init_type);
    trg_free(fn->last_init_body);
    fn->last_init_type = t;
    fn->last_init_body = b;
}

/* Fail a waiting call with the last init error. */
static void fail_waiting_one(struct rt_fn *fn)
{
    struct rt_call *c = fn->waiting;
    if (!c)
        return;
    fn->waiting = c->next;
    if (!fn->waiting)
        fn->waiting_tail = &fn->waiting;
    fn->n_waiting--;
    const char *type = fn->last_init_type ? fn->last_init_type : "Runtime.InitError";
    char *body = fn->last_init_body ? trg_strdup(fn->last_init_body) : NULL;
    defer_failure(c, type, body, "Runtime failed to start");
}

/* Hand waiting invokes to idle instances, start instances for the rest, or fail them while backing off. */
static void pump(struct rt_fn *fn)
{
    while (fn->waiting && fn->n_state[RT_IDLE] > 0) {
        struct rt_inst *best = NULL;
        for (struct rt_inst *i = fn->insts; i; i = i->next)
            if (i->state == RT_IDLE && (!best || i->idle_since > best->idle_since))
                best = i;
        if (!best)
            break;
        struct rt_call *c = fn->waiting;
        ev_timer_stop(fn->loop, &best->timer);
        if (!rt_api_hand(best, c)) {
            trg_debug("runtime", fn->name, "instance %u left its next; waiting for it to ask again",
                      best->id);
            set_state(best, RT_FINISHING);
            continue;
        }
        fn->waiting = c->next;
        if (!fn->waiting)
            fn->waiting_tail = &fn->waiting;
        fn->n_waiting--;
        c->next = NULL;
        c->inst = best;
        best->call = c;
        c->cold = !best->first_served;
        c->init_ms = best->init_ms;
        best->first_served = true;
        set_state(best, RT_BUSY);
        c->started = now_ms();
        char line[128];
        int n = snprintf(line, sizeof line, "START RequestId: %s Version: $LATEST", c->request_id);
        trg_info("runtime", fn->name, "%s", line);
        tail_add(&c->tail, line, (size_t)n);
        if (c->timeout_ms > 0) {
            ev_timer_set(&c->timer, (double)c->timeout_ms / 1000.0, 0.);
            ev_timer_start(fn->loop, &c->timer);
        }
    }
    size_t coming = fn->n_state[RT_STARTING] + fn->n_state[RT_FINISHING];
    while (fn->n_waiting > coming && live(fn) < (size_t)fn->max_concurrency && !backing_off(fn)) {
        if (spawn(fn, false)) {
            coming++;
            continue;
        }
        fail_waiting_one(fn);
    }
    if (backing_off(fn))
        while (fn->n_waiting > coming + fn->n_state[RT_BUSY])
            fail_waiting_one(fn);
}

static size_t min_instances(const struct rt_fn *fn)
{
    return (size_t)(fn->opts->min_instances < fn->max_concurrency ? fn->opts->min_instances
                                                                  : fn->max_concurrency);
}

static void provision(struct rt_fn *fn)
{
    while (live(fn) < min_instances(fn)) {
        if (backing_off(fn)) {
            ev_timer_stop(fn->loop, &fn->provision);
            ev_timer_set(&fn->provision, fn->backoff_until - ev_now(fn->loop) + 0.001, 0.);
            ev_timer_start(fn->loop, &fn->provision);
            return;
        }
        if (!spawn(fn, true))
            continue; /* backing off now: the loop sets the provision timer */
    }
}

static void provision_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    provision(w->data);
}

static void reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rt_fn *fn = w->data;
    (void)loop;
    (void)revents;
    while (fn->dead) {
        struct rt_inst *i = fn->dead;
        inst_unlink(&fn->dead, i);
        inst_free(i);
    }
}

void rt_inst_next(struct rt_inst *inst)
{
    struct rt_fn *fn = inst->fn;

    if (inst->state == RT_STARTING) {
        inst->init_ms = now_ms() - inst->spawned;
        fn->init_ms_total += inst->init_ms;
        if (fn->metrics)
            trg_metrics_observe(fn->metrics, TRG_M_INIT_DURATION, fn->name, inst->init_ms / 1000.0);
        trg_info("runtime", fn->name, "instance %u ready after %.2f ms", inst->id, inst->init_ms);
    }
    ev_timer_stop(fn->loop, &inst->timer);
    inst->idle_since = now_ms();
    set_state(inst, RT_IDLE);
    if (live(fn) > min_instances(fn) || !inst->provisioned) {
        ev_timer_set(&inst->timer, (double)fn->opts->idle_timeout_s, 0.);
        ev_timer_start(fn->loop, &inst->timer);
    }
    pump(fn);
}

void rt_inst_answer(struct rt_inst *inst, bool is_error, const char *errtype, const char *body, size_t len,
                    const char *ctype)
{
    struct rt_call *c = inst->call;
    char *copy;

    out_drain(&inst->out); /* lines written before the answer belong to this invoke */
    out_drain(&inst->err);
    set_state(inst, RT_FINISHING);
    inst->fn->init_failures = 0; /* the runtime works: the next failure backs off from the start again */
    if (is_error) {
        cJSON *j = cJSON_ParseWithLength(body, len);
        bool lambda_shaped = cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "errorMessage");
        cJSON_Delete(j);
        copy = lambda_shaped ? trg_strndup(body, len) : NULL;
        if (!lambda_shaped) {
            char *msg = trg_strndup(body, len);
            copy = rt_error_body(errtype, msg ? msg : "");
            trg_free(msg);
        }
        trg_info("runtime", inst->fn->name, "%s failed: %s: %.*s", c->request_id, errtype,
                 (int)(len > 300 ? 300 : len), body);
        finish(inst, c, TRG_OUT_ERROR, copy, copy ? strlen(copy) : 0, "application/json");
        return;
    }
    copy = trg_strndup(body, len);
    finish(inst, c, copy ? TRG_OUT_SUCCESS : TRG_OUT_ERROR, copy, copy ? len : 0, ctype);
}

void rt_inst_too_large(struct rt_inst *inst)
{
    struct rt_call *c = inst->call;
    trg_warn("runtime", inst->fn->name, "%s: the response is larger than %d bytes; the invoke fails",
             c->request_id, RT_MAX_RESPONSE);
    set_state(inst, RT_FINISHING);
    char *body =
        rt_error_body("Function.ResponseSizeTooLarge",
                      "Response payload size exceeded maximum allowed payload size (6291556 bytes).");
    finish(inst, c, TRG_OUT_ERROR, body, body ? strlen(body) : 0, "application/json");
}

/* The call handed to an instance ran out of time: kill the instance, fail the call. */
static void call_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rt_call *c = w->data;
    struct rt_inst *inst = c->inst;
    (void)loop;
    (void)revents;
    if (!inst)
        return;
    char msg[200];
    snprintf(msg, sizeof msg, "RequestId: %s Error: Task timed out after %.2f seconds", c->request_id,
             (double)c->timeout_ms / 1000.0);
    trg_warn("runtime", inst->fn->name, "%s; killing instance %u (pid %d)", msg, inst->id, (int)inst->pid);
    tail_add(&c->tail, msg, strlen(msg));
    rt_inst_stop(inst, SIGKILL);
    char *body = rt_error_body("Sandbox.Timedout", msg);
    finish(inst, c, TRG_OUT_ERROR, body, body ? strlen(body) : 0, "application/json");
}

static void inst_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rt_inst *inst = w->data;
    struct rt_fn *fn = inst->fn;
    (void)loop;
    (void)revents;
    switch (inst->state) {
    case RT_STARTING:
        trg_warn("runtime", fn->name,
                 "instance %u did not call next within init_timeout_ms (%lld ms); killing it", inst->id,
                 (long long)fn->opts->init_timeout_ms);
        inst->timed_out_init = true;
        rt_inst_stop(inst, SIGKILL);
        break;
    case RT_IDLE:
        if (live(fn) > min_instances(fn)) {
            trg_info("runtime", fn->name, "instance %u idle for %lld s: stopping it", inst->id,
                     (long long)fn->opts->idle_timeout_s);
            rt_inst_stop(inst, SIGTERM);
        }
        break;
    case RT_STOPPING:
        trg_info("runtime", fn->name, "instance %u still running %lld ms after SIGTERM: SIGKILL", inst->id,
                 (long long)fn->opts->kill_grace_ms);
        rt_inst_stop(inst, SIGKILL);
        break;
    default:
        break;
    }
}

/* "exit status 1" / "signal: killed" */
static void exit_text(int status, char *out, size_t size)
{
    if (WIFEXITED(status)) {
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *s = sig == SIGKILL ? "killed" : sig == SIGTERM ? "terminated" : strsignal(sig);
        snprintf(out, size, "signal: %s", s ? s : "unknown");
        for (char *p = out; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    } else {
        snprintf(out, size, "status %d", status);
    }
}

static void inst_pid_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rt_inst *inst = w->data;
    struct rt_fn *fn = inst->fn;
    struct rusage ru;
    int status = 0;
    pid_t r;
    (void)revents;

    /* The runtime is gone: so is what it started in its group (killed while its unreaped leader still
     * holds the group id). */
    kill(-inst->pid, SIGKILL);
    do {
        r = wait4(inst->pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    ev_io_stop(loop, w);
    if (r == inst->pid) {
        rt_watchdog_forget(r);
        inst->exit_maxrss_kb = ru.ru_maxrss;
        if (inst->status_fd >= 0) {
            close(inst->status_fd);
            inst->status_fd = -1;
        }
    }
    out_drain(&inst->out);
    out_drain(&inst->err);
    char how[64];
    exit_text(status, how, sizeof how);
    bool in_init = inst->state == RT_STARTING || inst->init_error || inst->timed_out_init;
    enum rt_state was = inst->state;
    struct rt_call *c = inst->call;
    inst->pid = 0;
    if (inst->state != RT_STOPPING)
        set_state(inst, RT_STOPPING);
    ev_timer_stop(loop, &inst->timer);
    inst_unlink(&fn->insts, inst);
    fn->n_state[RT_STOPPING]--;
    gauges(fn);
    inst_push(&fn->dead, inst);
    ev_timer_start(loop, &fn->reap);

    if (c) {
        char msg[200];
        snprintf(msg, sizeof msg, "RequestId: %s Error: Runtime exited with error: %s", c->request_id, how);
        trg_warn("runtime", fn->name, "instance %u (pid %d) exited during an invoke: %s", inst->id, (int)r,
                 how);
        tail_add(&c->tail, msg, strlen(msg));
        char *body = rt_error_body("Runtime.ExitError", msg);
        provision(fn);
        finish(inst, c, TRG_OUT_ERROR, body, body ? strlen(body) : 0, "application/json");
        return;
    }
    if (in_init) {
        char msg[200];
        if (inst->timed_out_init)
            snprintf(msg, sizeof msg, "Init timed out after %lld ms", (long long)fn->opts->init_timeout_ms);
        else
            snprintf(msg, sizeof msg, "Runtime exited during init: %s", how);
        if (inst->init_error) {
            const char *body = inst->init_error;
            cJSON *j = cJSON_Parse(body);
            bool shaped = cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "errorMessage");
            cJSON_Delete(j);
            char *b = shaped ? trg_strdup(body) : rt_error_body(inst->init_error_type, body);
            remember_init_error(fn, inst->init_error_type, b ? b : "");
            trg_free(b);
        } else {
            char *b = rt_error_body("Runtime.InitError", msg);
            remember_init_error(fn, "Runtime.InitError", b ? b : "");
            trg_free(b);
        }
        trg_warn("runtime", fn->name, "instance %u failed to initialize: %s", inst->id,
                 inst->init_error ? inst->init_error_type : msg);
        backoff(fn);
        fail_waiting_one(fn);
    } else if (was != RT_STOPPING) {
        /* A runtime that dies between invokes would be replaced at once (min_instances) and could die
         * again: it backs off like an init failure. */
        char msg[200];
        snprintf(msg, sizeof msg, "Runtime exited with error: %s", how);
        trg_warn("runtime", fn->name, "instance %u (pid %d) exited while %s: %s", inst->id, (int)r,
                 was == RT_IDLE ? "idle" : "finishing", how);
        char *b = rt_error_body("Runtime.ExitError", msg);
        remember_init_error(fn, "Runtime.ExitError", b ? b : "");
        trg_free(b);
        backoff(fn);
    } else {
        trg_debug("runtime", fn->name, "instance %u (pid %d) stopped: %s", inst->id, (int)r, how);
    }
    provision(fn);
    pump(fn);
}

static void inst_free(struct rt_inst *inst)
{
    struct ev_loop *loop = inst->fn->loop;
    ev_io_stop(loop, &inst->pid_w);
    ev_io_stop(loop, &inst->out.w);
    ev_io_stop(loop, &inst->err.w);
    ev_timer_stop(loop, &inst->timer);
    if (inst->out.fd >= 0)
        close(inst->out.fd);
    if (inst->err.fd >= 0)
        close(inst->err.fd);
    if (inst->pidfd >= 0)
        close(inst->pidfd);
    if (inst->status_fd >= 0)
        close(inst->status_fd);
    trg_buf_free(&inst->out.line);
    trg_buf_free(&inst->err.line);
    rt_api_close(inst);
    rt_cgroup_remove(inst);
    trg_free(inst->init_error);
    trg_free(inst->init_error_type);
    trg_free(inst);
}

/* ---- the invoker ---------------------------------------------------------------------------------- */

static int rt_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    const struct rt_opts *o = opts;
    struct rt_fn *fn = trg_calloc(1, sizeof *fn);

    *out = NULL;
    if (!fn)
        return TRG_ENOMEM;
    fn->loop = loop;
    fn->opts = o;
    fn->max_concurrency = 1000;
    fn->waiting_tail = &fn->waiting;
    fn->name = trg_strdup(name);
    if (!fn->name)
        goto fail;
    /* code_dir is resolved at each spawn, not here: a function whose code is not there (yet) must not
     * stop trigd from starting; its instances fail to start, as init errors, until it is. */
    if (access(o->code_dir, R_OK | X_OK) != 0)
        trg_warn("runtime", name,
                 "code_dir %s: %s; instances will fail to start (Runtime.InitError) until it is there",
                 o->code_dir, strerror(errno));
    parse_price(o->price_gb_s, &fn->price_gb_s);
    parse_price(o->price_request, &fn->price_request);
    fn->limit = rt_limit_mode();
    ev_init(&fn->reap, reap_cb);
    ev_timer_set(&fn->reap, 0., 0.);
    fn->reap.data = fn;
    ev_init(&fn->fail_timer, fail_timer_cb);
    ev_timer_set(&fn->fail_timer, 0., 0.);
    fn->fail_timer.data = fn;
    ev_init(&fn->provision, provision_cb);
    ev_timer_set(&fn->provision, 0., 0.);
    fn->provision.data = fn;
    if (o->min_instances > 0)
        ev_timer_start(loop, &fn->provision);
    *out = fn;
    return 0;
fail:
    trg_free(fn->name);
    trg_free(fn);
    return TRG_ENOMEM;
}

static void rt_bind(void *instp, const struct trg_invoke_host *host)
{
    struct rt_fn *fn = instp;
    fn->metrics = host->metrics;
    fn->max_concurrency = host->max_concurrency;
    if (fn->opts->min_instances > fn->max_concurrency)
        trg_warn("runtime", fn->name, "min_instances (%lld) is above max_concurrency (%lld): keeping %lld",
                 (long long)fn->opts->min_instances, (long long)fn->max_concurrency,
                 (long long)fn->max_concurrency);
    gauges(fn);
}

static int rt_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct rt_fn *fn = instp;
    struct rt_call *c = trg_calloc(1, sizeof *c);
    if (!c)
        return TRG_ENOMEM;
    c->fn = fn;
    c->cb = cb;
    c->arg = arg;
    c->payload = req->payload;
    c->len = req->payload ? req->len : 0;
    c->client_context = req->client_context;
    c->timeout_ms = req->timeout_ms;
    snprintf(c->request_id, sizeof c->request_id, "%s", req->request_id ? req->request_id : "");
    ev_init(&c->timer, call_timer_cb);
    c->timer.data = c;
    *fn->waiting_tail = c;
    fn->waiting_tail = &c->next;
    fn->n_waiting++;
    pump(fn);
    return 0;
}

/* Stop every instance without waiting: SIGTERM to its process group, then hand it to the reaper
 * (runtime_reap.c), which sends SIGKILL when its kill_grace_ms is over and reaps it, while the loop goes
 * on serving the other functions. An instance stopping already keeps what is left of its grace; one
 * killed already (a timeout, an init past init_timeout_ms) is just reaped. */
static void stop_all(struct rt_fn *fn)
{
    for (struct rt_inst *i = fn->insts; i; i = i->next) {
        if (i->pid <= 0)
            continue;
        double grace = (double)fn->opts->kill_grace_ms / 1000.0;
        if (i->state == RT_STOPPING)
            grace = ev_is_active(&i->timer) ? ev_timer_remaining(fn->loop, &i->timer) : 0.;
        else if (kill(-i->pid, SIGTERM) != 0)
            kill(i->pid, SIGTERM);
        ev_io_stop(fn->loop, &i->pid_w);
        ev_io_stop(fn->loop, &i->out.w);
        ev_io_stop(fn->loop, &i->err.w);
        ev_timer_stop(fn->loop, &i->timer);
        trg_debug("runtime", fn->name, "instance %u (pid %d) stopping after its pool was destroyed", i->id,
                  (int)i->pid);
        rt_reap_adopt(fn->loop, fn->name, i->id, i->pid, i->pidfd, i->out.fd, i->err.fd, i->cgroup, grace);
        i->pid = 0;
        i->pidfd = i->out.fd = i->err.fd = -1;
        i->cgroup = NULL;
    }
}

static void rt_destroy(void *instp)
{
    struct rt_fn *fn = instp;
    if (!fn)
        return;
    stop_all(fn);
    while (fn->insts) {
        struct rt_inst *i = fn->insts;
        inst_unlink(&fn->insts, i);
        if (i->call)
            call_free(i->call);
        inst_free(i);
    }
    reap_cb(fn->loop, &fn->reap, 0);
    while (fn->waiting) {
        struct rt_call *c = fn->waiting;
        fn->waiting = c->next;
        call_free(c);
    }
    while (fn->deferred) {
        struct rt_call *c = fn->deferred;
        fn->deferred = c->next;
        call_free(c);
    }
    for (int i = 0; fn->metrics && i < 3; i++)
        trg_metrics_add(fn->metrics, TRG_M_INSTANCES, fn->name, gauge_labels[i], -fn->published[i]);
    ev_timer_stop(fn->loop, &fn->reap);
    ev_timer_stop(fn->loop, &fn->fail_timer);
    ev_timer_stop(fn->loop, &fn->provision);
    trg_free(fn->last_init_type);
    trg_free(fn->last_init_body);
    free(fn->task_root); /* from realpath() */
    trg_free(fn->name);
    trg_free(fn);
}

static int rt_status_json(void *instp, struct trg_buf *out)
{
    struct rt_fn *fn = instp;
    double cost = fn->gb_seconds * fn->price_gb_s + (double)fn->invocations * fn->price_request;
    int rc = trg_buf_addf(out,
                          ",\"memory_mb\":%lld,\"min_instances\":%lld,\"memory_limit\":\"%s\","
                          "\"instances\":{\"initializing\":%zu,\"idle\":%zu,\"busy\":%zu,\"stopping\":%zu},"
                          "\"waiting\":%zu,\"backing_off\":%s,",
                          (long long)fn->opts->memory_mb, (long long)fn->opts->min_instances,
                          fn->limit == RT_LIMIT_CGROUP ? "cgroup" : "rlimit", fn->n_state[RT_STARTING],
                          fn->n_state[RT_IDLE], fn->n_state[RT_BUSY] + fn->n_state[RT_FINISHING],
                          fn->n_state[RT_STOPPING], fn->n_waiting, backing_off(fn) ? "true" : "false");
    rc |= trg_buf_addf(
        out,
        "\"usage\":{\"invocations\":%llu,\"billed_ms\":%llu,\"gb_seconds\":%.6f,\"cold_starts\":%llu,"
        "\"init_ms\":%.2f,\"price_gb_s\":%s,\"price_request\":%s,\"estimated_cost\":%.8f}",
        (unsigned long long)fn->invocations, (unsigned long long)fn->billed_ms, fn->gb_seconds,
        (unsigned long long)fn->cold_starts, fn->init_ms_total, fn->opts->price_gb_s, fn->opts->price_request,
        cost);
    rc |= trg_buf_adds(out, ",\"instance_list\":[");
    bool first = true;
    for (struct rt_inst *i = fn->insts; i; i = i->next) {
        rc |= trg_buf_addf(out, "%s{\"id\":%u,\"pid\":%d,\"state\":\"%s\",\"port\":%d}", first ? "" : ",",
                           i->id, (int)i->pid, state_labels[i->state], i->port);
        first = false;
    }
    rc |= trg_buf_adds(out, "]");
    return rc ? TRG_ENOMEM : 0;
}

const struct trg_invoker_ops trg_invoke_runtime = {
    .name = "runtime",
    .options = rt_options,
    .n_options = TRG_ARRAY_SIZE(rt_options),
    .opts_size = sizeof(struct rt_opts),
    .check = rt_check,
    .create = rt_create,
    .invoke = rt_invoke,
    .destroy = rt_destroy,
    .bind = rt_bind,
    .status_json = rt_status_json,
};
