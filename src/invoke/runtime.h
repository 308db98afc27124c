/* runtime.h — the "runtime" function type's private parts, shared by runtime.c (options, the pool of
 * instances, invokes, metering), runtime_api.c (the Runtime API each instance talks to) and
 * runtime_spawn.c (environment, process start, memory limit). Only trg_invoke_runtime (invoke.h)
 * leaves src/invoke/.
 *
 * An instance is one runtime process and its own loopback Runtime API listener (a libmicrohttpd
 * daemon on the loop, opened before the process starts, so the port alone says which process asks).
 * States: STARTING (spawned, no `next` yet) -> IDLE (a `next` is parked) -> BUSY (an invoke was handed
 * over) -> FINISHING (answered, no `next` yet) -> IDLE ... -> STOPPING (signalled; freed once reaped).
 */
#ifndef TRG_INVOKE_RUNTIME_H
#define TRG_INVOKE_RUNTIME_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../util.h"
#include "invoke.h"

#define RT_MAX_RESPONSE (6 * 1024 * 1024 + 100) /* Lambda's response limit: 6291556 bytes */
#define RT_TAIL_MAX 4096                        /* log bytes kept per invoke for LogType: Tail */
#define RT_MAX_LINE 8192                        /* a longer output line is logged in pieces */

struct trg_http;
struct trg_http_req;
struct trg_metrics;

struct rt_opts {
    char *code_dir;
    char *handler;
    struct trg_strlist command;
    struct trg_kvlist environment;
    int64_t memory_mb;
    int64_t min_instances;
    int64_t idle_timeout_s;
    int64_t init_timeout_ms;
    int64_t kill_grace_ms;
    char *region;
    char *price_gb_s; /* decimal text, checked by rt_check */
    char *price_request;
};

enum rt_state {
    RT_STARTING,
    RT_IDLE,
    RT_BUSY,
    RT_FINISHING,
    RT_STOPPING,
    RT__STATES
};

/* How memory_mb is enforced (decided once per process, logged at the first runtime function). */
enum rt_limit_mode {
    RT_LIMIT_NONE,
    RT_LIMIT_CGROUP,
    RT_LIMIT_RLIMIT
};

struct rt_fn;
struct rt_inst;

/* One invocation. */
struct rt_call {
    struct rt_fn *fn;
    struct rt_inst *inst; /* while handed to an instance */
    trg_invoke_cb cb;
    void *arg;
    char request_id[40];
    const char *payload; /* borrowed until cb */
    size_t len;
    const char *client_context; /* borrowed until cb; NULL: none */
    int64_t timeout_ms;
    double started;  /* ev_now when handed to an instance */
    bool cold;       /* the instance's first invoke */
    double init_ms;  /* the instance's init duration, for a cold start's REPORT */
    ev_timer timer;  /* the timeout while handed over; a 0-timer for a deferred failure */
    char *fail_type; /* deferred failure: errorType and body */
    char *fail_body;
    struct trg_buf tail;  /* log lines of this invoke (last RT_TAIL_MAX bytes) */
    struct rt_call *next; /* in the function's waiting queue or deferred list */
};

struct rt_out { /* one of an instance's stdout/stderr pipes */
    struct rt_inst *inst;
    int fd;
    ev_io w;
    struct trg_buf line;
};

struct rt_inst {
    struct rt_fn *fn;
    unsigned id;
    enum rt_state state;
    bool provisioned;
    pid_t pid;
    int pidfd;
    int status_fd;       /* /proc/PID/status, for VmHWM */
    long exit_maxrss_kb; /* from wait4 once reaped */
    char *cgroup;        /* its cgroup directory (RT_LIMIT_CGROUP), or NULL */
    ev_io pid_w;
    struct rt_out out, err;
    ev_timer timer; /* init timeout, idle timeout, or kill grace */
    struct trg_http *api;
    int port;
    struct trg_http_req *next_req; /* the parked GET next */
    struct rt_call *call;          /* the invoke handed over and not answered */
    char answered_id[40];          /* the last request id answered (403 for a second answer) */
    double spawned;                /* now_ms() at spawn */
    double idle_since;             /* now_ms() at its last next */
    double init_ms;                /* -1 until the first next */
    bool first_served;             /* has had its first invoke */
    char *init_error;              /* body posted to /runtime/init/error, or NULL */
    char *init_error_type;
    bool timed_out_init;
    struct rt_inst *prev, *next;
};

struct rt_fn {
    struct ev_loop *loop;
    char *name;
    const struct rt_opts *opts;
    char *task_root; /* code_dir made absolute at the last spawn (NULL before), from realpath() */
    struct trg_metrics *metrics;
    int64_t max_concurrency;
    enum rt_limit_mode limit;
    struct rt_inst *insts; /* every instance, STOPPING ones included until reaped */
    struct rt_inst *dead;  /* reaped, freed by the reap timer */
    unsigned next_id;
    size_t n_state[RT__STATES];
    double published[3]; /* what this pool added to trigd_function_instances: initializing, idle, busy */
    struct rt_call *waiting, **waiting_tail; /* invokes for which no instance was idle, oldest first */
    size_t n_waiting;
    struct rt_call *deferred; /* failed before they started: answered from a 0-timer */
    ev_timer reap, fail_timer, provision;
    /* init failures back off: no spawn before backoff_until (ev_now); meanwhile invokes fail at once */
    int init_failures;
    double backoff_until;
    char *last_init_type, *last_init_body;
    /* usage, for the admin status */
    uint64_t invocations, cold_starts, spawns;
    uint64_t billed_ms;
    double gb_seconds, init_ms_total;
    double price_gb_s, price_request;
};

/* ---- runtime.c: what the API and the spawner tell the pool ---- */
/* The instance called next (req parked in inst->next_req): init ends, or the last invoke is over. */
void rt_inst_next(struct rt_inst *inst);
/* The runtime answered the current invoke: body (len bytes, copied) with content type ctype, or an
 * error (is_error: errtype is the errorType that the body says or the header gave). */
void rt_inst_answer(struct rt_inst *inst, bool is_error, const char *errtype, const char *body, size_t len,
                    const char *ctype);
/* The response was beyond RT_MAX_RESPONSE: the invoke fails with Function.ResponseSizeTooLarge. */
void rt_inst_too_large(struct rt_inst *inst);
/* A line of the instance's output (without the newline). */
void rt_inst_log_line(struct rt_inst *inst, bool is_stderr, const char *line, size_t n);
/* Start a child on stop: SIGTERM to its group, SIGKILL after kill_grace_ms; freed once reaped. */
void rt_inst_stop(struct rt_inst *inst, int sig);

/* ---- runtime_api.c ---- */
/* Open the instance's Runtime API on 127.0.0.1 (a free port in inst->port). 0 or a negative trg_err. */
int rt_api_open(struct rt_inst *inst);
/* Answer the parked next with the call's event and headers. Returns false (and drops the parked
 * request) when its client had gone away. */
bool rt_api_hand(struct rt_inst *inst, struct rt_call *call);
void rt_api_close(struct rt_inst *inst);
/* Does t match (Runtime|Function)\.[A-Z][a-zA-Z]+ (the Lambda-Runtime-Function-Error-Type rule: "Runtime.X"
 * is not)? */
bool rt_valid_error_type(const char *t);
/* Lambda's error object {"errorMessage": msg, "errorType": type} as a new string (trg_free it), or NULL
 * when memory runs out. */
char *rt_error_body(const char *type, const char *msg);

/* ---- runtime_spawn.c ---- */
/* Decide (once per process) how memory_mb is enforced and log it; returns the mode. */
enum rt_limit_mode rt_limit_mode(void);
/* Start the instance's process (inst->port open already): code_dir is resolved again (into
 * fn->task_root), stdout/stderr pipes in inst->out/err, pid, pidfd and status_fd set. 0, or a negative
 * trg_err with the reason logged, nothing left, and in why a message for the invoke's errorMessage
 * (a missing or unreadable code_dir or command names the path). */
int rt_spawn(struct rt_inst *inst, char *why, size_t why_size);
/* Peak memory of the instance in MB (cgroup memory.peak, else the process's VmHWM); 0 when unknown. */
long rt_max_memory_mb(const struct rt_inst *inst);
/* Remove the instance's cgroup (after its processes are gone). */
void rt_cgroup_remove(struct rt_inst *inst);

/* ---- runtime_reap.c ---- */
/* Take over a process whose pool is destroyed, without waiting for it: its group has had SIGTERM (or
 * grace_s is 0: SIGKILL now); after grace_s seconds it gets SIGKILL (its group, and cgroup.kill), its
 * output is logged until it exits, and once it has, what is left of its group is killed, it is reaped
 * and cgroup removed. pidfd, out_fd, err_fd (-1 if none) and cgroup (NULL if none) are taken over. At
 * trigd's exit, processes still adopted are waited for until their grace is over, then SIGKILLed and
 * reaped (an atexit handler): none outlives trigd. */
void rt_reap_adopt(struct ev_loop *loop, const char *name, unsigned id, pid_t pid, int pidfd, int out_fd,
                   int err_fd, char *cgroup, double grace_s);
/* Processes adopted and not reaped yet. */
size_t rt_reap_pending(void);

/* ---- runtime_watchdog.c ---- */
/* Note an instance's process group (its leader's pid, just started) with the watchdog, a small
 * detached process started at the first call that SIGKILLs every group still noted when trigd is gone,
 * even by kill -9: so what a runtime started itself does not outlive trigd. Failures are logged (once)
 * and only lose that cover. */
void rt_watchdog_note(pid_t pgid);
/* Forget it: once its leader is reaped and the rest of its group killed. */
void rt_watchdog_forget(pid_t pgid);

#endif
