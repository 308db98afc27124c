/* exec.c — the "exec" function type: run a local process per invocation (see invoke.h).
 *
 * The command (an argv, no shell; argv[0] searched in the child's PATH) is started with
 * posix_spawn in its own process group, with the event on stdin, stdout collected (up to 6 MB)
 * as the response and every stderr line logged at info as "[exec:NAME] <request id> line". All
 * pipes are non-blocking on our side and watched with ev_io; the child's exit is watched through a
 * pidfd (pidfd_open) and reaped with wait4() for its rusage (ev_child would need the default loop,
 * which reaps every child itself; trigd runs on ev_loop_new()). The child sees only fds 0-2
 * (posix_spawn_file_actions_addclosefrom_np(3)) and default signal dispositions.
 *
 * memory_mb is applied as RLIMIT_AS before the function's program starts: the child runs util-linux's
 * prlimit(1) (Debian's util-linux is Essential), which sets the limit on itself and execs the program,
 * so the pid, pidfd and rusage are the program's. Where prlimit(1) is missing, the limit is set with
 * prlimit(2) right after posix_spawn returns, which leaves the program's first instructions unlimited.
 *
 * On the deadline the process group gets SIGTERM, then SIGKILL after kill_grace_ms; the outcome
 * is error "Timeout". Exit 0 = success (stdout is the body); another exit code = error
 * "Unhandled" with status = the code; killed by a signal = error "Signal". A command that cannot
 * be started = error "SpawnError", delivered from a 0-timer. Each invocation ends with Lambda's
 * REPORT line at info.
 *
 * Writing to a child that closed its stdin must not kill trigd: create() sets SIGPIPE to
 * SIG_IGN when it is still SIG_DFL (main normally does this already); children get SIG_DFL back.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../util.h"
#include "env.h"
#include "invoke.h"

extern char **environ;

#define EXEC_MAX_STDOUT (6 * 1024 * 1024 + 100) /* Lambda's synchronous response cap (6 MB + 100 bytes) */
#define EXEC_LOG_TAIL 4096                      /* the log kept per call for LogType: Tail */
#define EXEC_MAX_LINE 8192                /* a longer stderr line is logged in pieces */
#define EXEC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct exec_opts {
    struct trg_strlist command;
    struct trg_kvlist env;
    bool inherit_env;
    char *cwd;
    int64_t memory_mb;
    int64_t kill_grace_ms;
};

static const struct trg_opt exec_options[] = {
    {"command", TRG_OPT_STRLIST, NULL, 0, 0, NULL, offsetof(struct exec_opts, command),
     "Program and arguments, run without a shell; the program is searched in PATH unless it contains a "
     "slash. The event is its stdin, its stdout is the response.",
     NULL, TRG_OPT_REQUIRED},
    {"env", TRG_OPT_KVLIST, NULL, 0, 0, NULL, offsetof(struct exec_opts, env),
     "Environment variables added to the process's environment (PATH, HOME, AWS_LAMBDA_FUNCTION_NAME, "
     "AWS_REQUEST_ID, TRIGD_REQUEST_ID, and AWS_LAMBDA_CLIENT_CONTEXT: the Invoke API caller's ClientContext "
     "as one line of JSON, for a synchronous invocation that has one).",
     NULL, 0},
    {"inherit_env", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct exec_opts, inherit_env),
     "Start from trigd's whole environment instead of a minimal one.", NULL, 0},
    {"cwd", TRG_OPT_STRING, NULL, 0, 0, NULL, offsetof(struct exec_opts, cwd),
     "Working directory of the process; none = trigd's.", NULL, 0},
    {"memory_mb", TRG_OPT_INT, "0", 0, 1048576, "MB", offsetof(struct exec_opts, memory_mb),
     "Address-space limit of the process (RLIMIT_AS); 0 = unlimited.", NULL, 0},
    {"kill_grace_ms", TRG_OPT_INT, "2000", 0, 600000, "ms", offsetof(struct exec_opts, kill_grace_ms),
     "After the timeout the process group gets SIGTERM, then SIGKILL this much later.", NULL, 0},
};

struct exec_inst;

struct exec_call {
    struct exec_inst *inst;
    trg_invoke_cb cb;
    void *arg;
    char request_id[40];
    pid_t pid;          /* 0 when the spawn failed */
    int spawn_err;      /* errno of a failed spawn */
    int in_fd, out_fd, err_fd, pidfd;
    ev_io in_w, out_w, err_w, pid_w;
    ev_timer timer;     /* deadline, then the kill grace, or the 0-timer of a failed spawn */
    const char *payload;
    size_t len, off;
    struct trg_buf out;
    bool out_too_large;
    struct trg_buf line; /* the stderr line being collected */
    struct trg_buf tail; /* the call's last log lines (at most 2 * EXEC_LOG_TAIL, trimmed to EXEC_LOG_TAIL) */
    struct timespec start;
    bool timed_out, killed;
    struct exec_call *prev, *next;
};

struct exec_inst {
    struct ev_loop *loop;
    char *name;
    const struct exec_opts *opts;
    struct exec_call *calls; /* running */
    struct exec_call *dead;  /* finished, freed by the reap timer */
    ev_timer reap;
};

/* ---- options ---------------------------------------------------------------------------- */

static void exec_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct exec_opts *o = opts;
    const char *p = path ? path : "$";
    char at[512];

    snprintf(at, sizeof(at), "%s.command", p);
    if (o->command.n == 0)
        trg_errs_add(errs, at, "needs at least the program to run, e.g. [\"/usr/bin/python3\", \"handler.py\"]");
    else if (!o->command.v[0][0])
        trg_errs_add(errs, at, "the program name is empty");
    for (size_t i = 0; i < o->env.n; i++) {
        if (!o->env.k[i][0] || strchr(o->env.k[i], '=')) {
            snprintf(at, sizeof(at), "%s.env", p);
            trg_errs_add(errs, at, "\"%s\" is not a valid environment variable name", o->env.k[i]);
        }
    }
}

/* ---- environment and program lookup ----------------------------------------------------- */

static int exec_env(const struct exec_inst *inst, const struct trg_invoke_req *req, struct trg_envv *e)
{
    const struct exec_opts *o = inst->opts;
    const char *path = getenv("PATH");
    const char *home = getenv("HOME");
    int rc = 0;

    if (o->inherit_env) {
        for (char **ep = environ; ep && *ep && rc == 0; ep++)
            rc = trg_envv_put(e, trg_strdup(*ep));
    } else {
        rc = trg_envv_set(e, "PATH", path ? path : EXEC_DEFAULT_PATH);
        if (rc == 0)
            rc = trg_envv_set(e, "HOME", home ? home : "/");
    }
    for (size_t i = 0; i < o->env.n && rc == 0; i++)
        rc = trg_envv_set(e, o->env.k[i], o->env.v[i]);
    if (rc == 0)
        rc = trg_envv_set(e, "AWS_LAMBDA_FUNCTION_NAME", req->function ? req->function : inst->name);
    if (rc == 0 && o->memory_mb > 0)
        rc = trg_envv_put(e, trg_asprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%lld", (long long)o->memory_mb));
    if (rc == 0)
        rc = trg_envv_set(e, "TRIGD_REQUEST_ID", req->request_id ? req->request_id : "");
    if (rc == 0)
        rc = trg_envv_set(e, "AWS_REQUEST_ID", req->request_id ? req->request_id : "");
    if (rc == 0 && req->client_context)
        rc = trg_envv_set(e, "AWS_LAMBDA_CLIENT_CONTEXT", req->client_context);
    return rc;
}

/* Resolve the program through the child's PATH (EXEC_DEFAULT_PATH when it has none); a name with a
 * slash is taken as is. Returns a new string, or NULL with errno set (trg_path_search). */
static char *exec_resolve(const char *prog, const char *path)
{
    if (strchr(prog, '/')) {
        char *r = trg_strdup(prog);
        if (!r)
            errno = ENOMEM;
        return r;
    }
    return trg_path_search(prog, path ? path : EXEC_DEFAULT_PATH);
}

/* ---- the running call ------------------------------------------------------------------- */

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1000.0 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void call_stop(struct exec_call *c)
{
    struct ev_loop *loop = c->inst->loop;

    ev_io_stop(loop, &c->in_w);
    ev_io_stop(loop, &c->out_w);
    ev_io_stop(loop, &c->err_w);
    ev_io_stop(loop, &c->pid_w);
    ev_timer_stop(loop, &c->timer);
    close_fd(&c->in_fd);
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    close_fd(&c->pidfd);
}

static void call_free(struct exec_call *c)
{
    trg_buf_free(&c->out);
    trg_buf_free(&c->line);
    trg_buf_free(&c->tail);
    trg_free(c);
}

static void list_unlink(struct exec_call **head, struct exec_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void list_push(struct exec_call **head, struct exec_call *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void exec_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct exec_inst *inst = w->data;

    (void)loop;
    (void)revents;
    while (inst->dead) {
        struct exec_call *c = inst->dead;
        list_unlink(&inst->dead, c);
        call_free(c);
    }
}

/* Keep a log line in the call's tail (what LogType: Tail returns). Out of memory: the tail is dropped. */
static void tail_add(struct exec_call *c, const char *line, size_t n)
{
    if (trg_buf_add(&c->tail, line, n) != 0 || trg_buf_addc(&c->tail, '\n') != 0) {
        trg_buf_reset(&c->tail);
        return;
    }
    if (c->tail.len > 2 * EXEC_LOG_TAIL) {
        memmove(c->tail.data, c->tail.data + c->tail.len - EXEC_LOG_TAIL, EXEC_LOG_TAIL);
        c->tail.len = EXEC_LOG_TAIL;
        c->tail.data[c->tail.len] = '\0';
    }
}

/* The last EXEC_LOG_TAIL bytes of the tail into res (nothing when there is none or memory is short). */
static void tail_take(struct exec_call *c, struct trg_invoke_result *res)
{
    size_t off = c->tail.len > EXEC_LOG_TAIL ? c->tail.len - EXEC_LOG_TAIL : 0;
    if (c->tail.len == 0 || !(res->log_tail = trg_strndup(c->tail.data + off, c->tail.len - off)))
        return;
    res->log_tail_len = c->tail.len - off;
}

static void line_flush(struct exec_call *c)
{
    if (c->line.len == 0)
        return;
    tail_add(c, c->line.data, c->line.len);
    trg_info("exec", c->inst->name, "%s %.*s", c->request_id, (int)c->line.len, c->line.data);
    trg_buf_reset(&c->line);
}

static void stderr_feed(struct exec_call *c, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (c->line.len + k > EXEC_MAX_LINE)
            k = EXEC_MAX_LINE - c->line.len;
        if (trg_buf_add(&c->line, p, k) != 0) {
            trg_buf_reset(&c->line); /* out of memory: drop the line rather than the invocation */
            return;
        }
        p += k;
        n -= k;
        if (n > 0 && *p == '\n') {
            p++;
            n--;
            if (c->line.len > 0 && c->line.data[c->line.len - 1] == '\r')
                c->line.len--;
            line_flush(c);
        } else if (c->line.len >= EXEC_MAX_LINE) {
            line_flush(c);
        }
    }
}

/* Read what is available on fd; returns true at EOF or a read error (the fd is then closed). */
static bool pipe_drain(struct exec_call *c, int *fd, bool is_stdout)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            if (!is_stdout) {
                stderr_feed(c, buf, (size_t)n);
            } else if (c->out_too_large || c->out.len + (size_t)n > EXEC_MAX_STDOUT) {
                c->out_too_large = true; /* keep reading so the child never blocks on a full pipe */
            } else if (trg_buf_add(&c->out, buf, (size_t)n) != 0) {
                c->out_too_large = true;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        close_fd(fd);
        return true;
    }
}

static void exec_out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct exec_call *c = w->data;

    (void)revents;
    if (pipe_drain(c, &c->out_fd, true))
        ev_io_stop(loop, w);
}

static void exec_err_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct exec_call *c = w->data;

    (void)revents;
    if (pipe_drain(c, &c->err_fd, false)) {
        ev_io_stop(loop, w);
        line_flush(c);
    }
}

static void exec_in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct exec_call *c = w->data;

    (void)revents;
    while (c->off < c->len) {
        ssize_t n = write(c->in_fd, c->payload + c->off, c->len - c->off);
        if (n > 0) {
            c->off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EPIPE: the child does not read its stdin; that is its business */
        trg_debug("exec", c->inst->name, "%s stdin closed after %zu of %zu bytes: %s", c->request_id, c->off,
                  c->len, n < 0 ? strerror(errno) : "short write");
        break;
    }
    ev_io_stop(loop, w);
    close_fd(&c->in_fd);
}

static void exec_signal(struct exec_call *c, int sig)
{
    /* the whole process group (the child leads it), then the child itself in case it left */
    if (kill(-c->pid, sig) != 0)
        kill(c->pid, sig);
}


static void exec_report(struct exec_call *c, double duration_ms, const struct rusage *ru)
{
    long long billed = (long long)ceil(duration_ms);
    long used_mb = ru ? (ru->ru_maxrss + 1023) / 1024 : 0;
    char *line = trg_asprintf("REPORT RequestId: %s Duration: %.2f ms Billed Duration: %lld ms Memory Size: %lld "
                              "MB Max Memory Used: %ld MB",
                              c->request_id, duration_ms, billed < 1 ? 1 : billed,
                              (long long)c->inst->opts->memory_mb, used_mb);

    if (line) {
        tail_add(c, line, strlen(line));
        trg_info("exec", c->inst->name, "%s", line);
    }
    trg_free(line);
}

static void result_error(struct trg_invoke_result *res, const char *function_error)
{
    res->outcome = TRG_OUT_ERROR;
    res->function_error = trg_strdup(function_error);
}

/* Deliver the result. The call goes to the dead list before the callback, which may destroy the
 * instance (and with it the call); nothing here touches c or its instance after the callback. */
static void exec_finish(struct exec_call *c, int status, const struct rusage *ru)
{
    struct exec_inst *inst = c->inst;
    struct trg_invoke_result res = {.status = -1, .retry_after_ms = -1};

    res.duration_ms = elapsed_ms(&c->start);
    if (c->pid == 0) {
        result_error(&res, "SpawnError");
    } else {
        if (c->out_fd >= 0)
            pipe_drain(c, &c->out_fd, true);
        if (c->err_fd >= 0)
            pipe_drain(c, &c->err_fd, false);
        line_flush(c);
        if (WIFEXITED(status))
            res.status = WEXITSTATUS(status);
        if (c->timed_out) {
            trg_warn("exec", inst->name, "%s timed out after %.0f ms and was %s; raise timeout_ms or make "
                     "the function faster", c->request_id, res.duration_ms, c->killed ? "killed" : "terminated");
            result_error(&res, "Timeout");
        } else if (WIFSIGNALED(status)) {
            trg_warn("exec", inst->name, "%s killed by signal %d (%s)", c->request_id, WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
            result_error(&res, "Signal");
        } else if (res.status != 0) {
            trg_info("exec", inst->name, "%s exited with status %d", c->request_id, res.status);
            result_error(&res, "Unhandled");
        } else if (c->out_too_large) {
            trg_warn("exec", inst->name, "%s wrote more than %d bytes to stdout; failing the invocation",
                     c->request_id, EXEC_MAX_STDOUT);
            result_error(&res, "ResponseSizeTooLarge");
        } else {
            res.outcome = TRG_OUT_SUCCESS;
        }
        if (!c->out_too_large) {
            res.body_len = c->out.len;
            res.body = trg_buf_steal(&c->out);
        }
        exec_report(c, res.duration_ms, ru);
        tail_take(c, &res);
    }
    call_stop(c);
    list_unlink(&inst->calls, c);
    list_push(&inst->dead, c);
    ev_timer_start(inst->loop, &inst->reap);
    c->cb(c->arg, &res);
    trg_invoke_result_clear(&res);
}

static void exec_pid_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct exec_call *c = w->data;
    struct rusage ru;
    int status = 0;
    pid_t r;

    (void)loop;
    (void)revents;
    memset(&ru, 0, sizeof(ru));
    do {
        r = wait4(c->pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        trg_error("exec", c->inst->name, "%s wait4(%d): %s; was the child reaped elsewhere (ev_child on the "
                  "default loop)?", c->request_id, (int)c->pid, strerror(errno));
        status = 0;
        c->timed_out = true; /* report it as a failure rather than a success without an exit code */
    }
    exec_finish(c, status, r < 0 ? NULL : &ru);
}

static void exec_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct exec_call *c = w->data;

    (void)revents;
    if (c->pid == 0) { /* the deferred report of a failed spawn */
        exec_finish(c, 0, NULL);
        return;
    }
    if (!c->timed_out && c->inst->opts->kill_grace_ms > 0) {
        c->timed_out = true;
        trg_debug("exec", c->inst->name, "%s deadline reached, SIGTERM to pid %d", c->request_id, (int)c->pid);
        exec_signal(c, SIGTERM);
        ev_timer_set(w, (double)c->inst->opts->kill_grace_ms / 1000.0, 0.0);
        ev_timer_start(loop, w);
        return;
    }
    c->timed_out = true;
    c->killed = true;
    trg_debug("exec", c->inst->name, "%s still running, SIGKILL to pid %d", c->request_id, (int)c->pid);
    exec_signal(c, SIGKILL);
}

/* ---- spawning --------------------------------------------------------------------------- */

static int pipe_pair(int fds[2], int nonblock_end)
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return TRG_EIO;
    int fl = fcntl(fds[nonblock_end], F_GETFL);
    if (fl < 0 || fcntl(fds[nonblock_end], F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
        return TRG_EIO;
    }
    return 0;
}

/* Signals whose disposition the child gets back to default (trigd may ignore or catch them). */
static const int exec_default_signals[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1,
                                           SIGUSR2, SIGALRM, SIGTTIN, SIGTTOU, SIGTSTP, SIGXFSZ};

/* Spawn the child with the given pipe ends as its stdio. Returns 0 or an errno value. */
static int exec_spawn(struct exec_call *c, const char *prog, char *const argv[], char *const envp[], int in_r,
                      int out_w, int err_w)
{
    const struct exec_opts *o = c->inst->opts;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defs;
    int err;

    if ((err = posix_spawn_file_actions_init(&fa)) != 0)
        return err;
    if ((err = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return err;
    }
    sigemptyset(&none);
    sigemptyset(&defs);
    for (size_t i = 0; i < TRG_ARRAY_SIZE(exec_default_signals); i++)
        sigaddset(&defs, exec_default_signals[i]);
    if ((err = posix_spawn_file_actions_adddup2(&fa, in_r, 0)) == 0 &&
        (err = posix_spawn_file_actions_adddup2(&fa, out_w, 1)) == 0 &&
        (err = posix_spawn_file_actions_adddup2(&fa, err_w, 2)) == 0 &&
        (!o->cwd || (err = posix_spawn_file_actions_addchdir_np(&fa, o->cwd)) == 0) &&
        (err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
        (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                   POSIX_SPAWN_SETPGROUP)) == 0 &&
        (err = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
        (err = posix_spawnattr_setsigdefault(&attr, &defs)) == 0 &&
        (err = posix_spawnattr_setpgroup(&attr, 0)) == 0)
        err = posix_spawn(&c->pid, prog, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
        c->pid = 0;
    return err;
}

static void exec_limit(struct exec_call *c)
{
    int64_t mb = c->inst->opts->memory_mb;

    if (mb <= 0)
        return;
    struct rlimit rl = {.rlim_cur = (rlim_t)mb << 20, .rlim_max = (rlim_t)mb << 20};
    if (prlimit(c->pid, RLIMIT_AS, &rl, NULL) != 0)
        trg_warn("exec", c->inst->name, "%s could not limit memory to %lld MB: %s; the function runs unlimited",
                 c->request_id, (long long)mb, strerror(errno));
}

/* Run the program under prlimit(1) so RLIMIT_AS holds from its first instruction: *prog becomes
 * prlimit's path and *argv {"prlimit", "--as=BYTES", "--", PROG, ARGS...}. Returns 0, or -1 (nothing
 * changed) when prlimit(1) is not installed or memory runs out. The program's path and the --as text
 * move to *keep[0] and *keep[1], for the caller to free with the new argv. */
static int limit_argv(const struct exec_opts *o, char **prog, char ***argv, char *keep[2])
{
    char *tool = exec_resolve("prlimit", "/usr/bin:/bin");
    char *as = trg_asprintf("--as=%lld", (long long)o->memory_mb << 20);
    char **v = trg_calloc(o->command.n + 4, sizeof(*v));
    if (!tool || !as || !v) {
        trg_free(tool);
        trg_free(as);
        trg_free(v);
        return -1;
    }
    v[0] = (char *)"prlimit";
    v[1] = as;
    v[2] = (char *)"--";
    v[3] = *prog;
    for (size_t i = 1; i < o->command.n; i++)
        v[3 + i] = o->command.v[i];
    trg_free(*argv);
    keep[0] = *prog;
    keep[1] = as;
    *argv = v;
    *prog = tool;
    return 0;
}

/* The spawn failed (err is an errno): report it from a 0-timer, never from inside invoke(). */
static void exec_defer_failure(struct exec_call *c, const char *prog, int err)
{
    struct exec_inst *inst = c->inst;

    trg_error("exec", inst->name, "%s cannot run %s: %s; check command, cwd and PATH", c->request_id,
              prog, strerror(err));
    c->spawn_err = err;
    c->pid = 0;
    ev_timer_set(&c->timer, 0.0, 0.0);
    ev_timer_start(inst->loop, &c->timer);
}

static int exec_invoke(void *instp, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct exec_inst *inst = instp;
    const struct exec_opts *o = inst->opts;
    struct trg_envv env = {0};
    char *prog = NULL;
    char **argv = NULL;
    char *keep[2] = {NULL, NULL}; /* strings argv points to when it runs under prlimit(1) */
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int rc = TRG_ENOMEM;
    struct exec_call *c = trg_calloc(1, sizeof(*c));

    if (!c)
        return TRG_ENOMEM;
    c->inst = inst;
    c->cb = cb;
    c->arg = arg;
    c->payload = req->payload;
    c->len = req->payload ? req->len : 0;
    c->in_fd = c->out_fd = c->err_fd = c->pidfd = -1;
    snprintf(c->request_id, sizeof(c->request_id), "%s", req->request_id ? req->request_id : "");
    ev_io_init(&c->in_w, exec_in_cb, -1, EV_WRITE);
    ev_io_init(&c->out_w, exec_out_cb, -1, EV_READ);
    ev_io_init(&c->err_w, exec_err_cb, -1, EV_READ);
    ev_io_init(&c->pid_w, exec_pid_cb, -1, EV_READ);
    ev_init(&c->timer, exec_timer_cb);
    c->in_w.data = c->out_w.data = c->err_w.data = c->pid_w.data = c->timer.data = c;

    if (exec_env(inst, req, &env) != 0)
        goto fail;
    prog = exec_resolve(o->command.v[0], trg_envv_get(&env, "PATH"));
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    if (!prog) {
        if (errno == ENOMEM)
            goto fail;
        exec_defer_failure(c, o->command.v[0], errno);
        goto started;
    }
    rc = TRG_EIO;
    if (pipe_pair(in, 1) != 0 || pipe_pair(out, 0) != 0 || pipe_pair(err, 0) != 0) {
        trg_error("exec", inst->name, "%s cannot create pipes: %s; raise the fd limit (ulimit -n)",
                  c->request_id, strerror(errno));
        goto fail_pipes;
    }
    /* the option's list carries no NULL terminator: spawn from a terminated copy of the pointers */
    argv = trg_calloc(o->command.n + 1, sizeof(*argv));
    if (!argv) {
        rc = TRG_ENOMEM;
        goto fail_pipes;
    }
    memcpy(argv, o->command.v, o->command.n * sizeof(*argv));
    bool limited = false;
    if (o->memory_mb > 0 && limit_argv(o, &prog, &argv, keep) == 0)
        limited = true;
    int e = exec_spawn(c, prog, argv, env.v, in[0], out[1], err[1]);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (e != 0) {
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        if (e == ENOMEM || e == EAGAIN) {
            trg_error("exec", inst->name, "%s posix_spawn: %s", c->request_id, strerror(e));
            rc = e == ENOMEM ? TRG_ENOMEM : TRG_EIO;
            goto fail;
        }
        exec_defer_failure(c, prog, e);
        goto started;
    }
    if (!limited)
        exec_limit(c);
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (c->pidfd < 0) {
        trg_error("exec", inst->name, "%s pidfd_open: %s; trigd needs Linux 5.3 or later", c->request_id,
                  strerror(errno));
        exec_signal(c, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        goto fail;
    }
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    trg_debug("exec", inst->name, "%s started pid %d: %s", c->request_id, (int)c->pid, prog);
    if (c->len > 0) {
        ev_io_set(&c->in_w, c->in_fd, EV_WRITE);
        ev_io_start(inst->loop, &c->in_w);
    } else {
        close_fd(&c->in_fd);
    }
    ev_io_set(&c->out_w, c->out_fd, EV_READ);
    ev_io_start(inst->loop, &c->out_w);
    ev_io_set(&c->err_w, c->err_fd, EV_READ);
    ev_io_start(inst->loop, &c->err_w);
    ev_io_set(&c->pid_w, c->pidfd, EV_READ);
    ev_io_start(inst->loop, &c->pid_w);
    if (req->timeout_ms > 0) {
        ev_timer_set(&c->timer, (double)req->timeout_ms / 1000.0, 0.0);
        ev_timer_start(inst->loop, &c->timer);
    }
started:
    list_push(&inst->calls, c);
    trg_envv_free(&env);
    trg_free(prog);
    trg_free(argv);
    trg_free(keep[0]);
    trg_free(keep[1]);
    return 0;
fail_pipes:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&err[i]);
    }
fail:
    trg_envv_free(&env);
    trg_free(prog);
    trg_free(argv);
    trg_free(keep[0]);
    trg_free(keep[1]);
    call_free(c);
    return rc;
}

/* ---- instance --------------------------------------------------------------------------- */

static int exec_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    struct exec_inst *inst = trg_calloc(1, sizeof(*inst));
    struct sigaction sa;

    *out = NULL;
    if (!inst)
        return TRG_ENOMEM;
    inst->loop = loop;
    inst->opts = opts;
    inst->name = trg_strdup(name);
    if (!inst->name)
        goto fail;
    ev_init(&inst->reap, exec_reap_cb);
    ev_timer_set(&inst->reap, 0.0, 0.0);
    inst->reap.data = inst;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
        trg_debug("exec", name, "SIGPIPE is now ignored (writes to a closed stdin must not kill trigd)");
    }
    *out = inst;
    return 0;
fail:
    trg_free(inst);
    return TRG_ENOMEM;
}

static void exec_destroy(void *instp)
{
    struct exec_inst *inst = instp;

    if (!inst)
        return;
    while (inst->calls) {
        struct exec_call *c = inst->calls;
        list_unlink(&inst->calls, c);
        if (c->pid > 0) {
            exec_signal(c, SIGKILL);
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
            trg_info("exec", inst->name, "%s cancelled: killed pid %d", c->request_id, (int)c->pid);
        }
        call_stop(c);
        call_free(c);
    }
    ev_timer_stop(inst->loop, &inst->reap);
    exec_reap_cb(inst->loop, &inst->reap, 0);
    trg_free(inst->name);
    trg_free(inst);
}

const struct trg_invoker_ops trg_invoke_exec = {
    .name = "exec",
    .options = exec_options,
    .n_options = TRG_ARRAY_SIZE(exec_options),
    .opts_size = sizeof(struct exec_opts),
    .check = exec_check,
    .create = exec_create,
    .invoke = exec_invoke,
    .destroy = exec_destroy,
};
