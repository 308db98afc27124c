/* invoke.h — the interface every function invoker implements (http, lambda, exec).
 *
 * An invoker instance is created per configured function. The engine calls invoke() with a
 * payload; the invoker calls back exactly once, always later from the loop (never from inside
 * invoke()), with the raw result. The engine interprets batchItemFailures and decides retries;
 * an invoker only classifies transport-level outcomes.
 */
#ifndef TRG_INVOKE_H
#define TRG_INVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../opt.h"

struct ev_loop;

/* Outcomes of one invocation (DESIGN.md §4). Values are logged and used as metric labels. */
enum trg_outcome {
    TRG_OUT_SUCCESS = 0,   /* the function ran and returned normally */
    TRG_OUT_PARTIAL = 1,   /* success with batchItemFailures (set by the engine, never an invoker) */
    TRG_OUT_ERROR = 2,     /* function error: non-2xx, X-Amz-Function-Error, non-zero exit, timeout */
    TRG_OUT_THROTTLED = 3, /* 429/503 or concurrency limit: retry without consuming an attempt */
    TRG_OUT_REJECTED = 4,  /* will never succeed as is (payload too large, malformed): to the DLQ */
};
_Static_assert(TRG_OUT_SUCCESS == 0, "success must be 0");
const char *trg_outcome_name(enum trg_outcome o); /* "success", "partial", "error", ... */

struct trg_invoke_result {
    enum trg_outcome outcome;
    int status;             /* HTTP status, or the process exit status; -1 when there is none */
    char *body;             /* response body (stdout for exec), NUL-terminated; may be NULL */
    size_t body_len;
    char *content_type;     /* response Content-Type, or NULL */
    char *function_error;   /* "Unhandled", "Timeout", "Signal", ...: why it is an error; or NULL */
    int64_t retry_after_ms; /* from Retry-After when throttled; -1 when absent */
    double duration_ms;
    char *log_tail;         /* the last 4 KB of the invocation's log lines (runtime functions; for the
                               Invoke API's LogType: Tail), or NULL */
    size_t log_tail_len;
};
/* Free the strings in r (not r itself). */
void trg_invoke_result_clear(struct trg_invoke_result *r);

/* res is borrowed until the callback returns. */
typedef void (*trg_invoke_cb)(void *arg, struct trg_invoke_result *res);

struct trg_invoke_req {
    const char *function;    /* function name, for logs */
    const char *request_id;  /* UUID, sent as a header / in the REPORT line */
    const char *payload;     /* the event JSON; borrowed until the callback returns */
    size_t len;
    int64_t timeout_ms;      /* deadline for this invocation */
    const char *client_context; /* the caller's client context (Invoke API's X-Amz-Client-Context, decoded):
                                   one line of JSON (an object), borrowed until the callback; NULL: none.
                                   runtime: Lambda-Runtime-Client-Context of next; exec:
                                   AWS_LAMBDA_CLIENT_CONTEXT; http and lambda do not pass it */
};

/* A direct invocation of a function (Invoke API, Event invocations, trigctl invoke), as the engine takes it. */
struct trg_direct_call {
    const char *payload;        /* the event JSON; copied */
    size_t len;
    const char *request_id;     /* at most 39 characters, the id the function sees; NULL or "": a new UUID */
    bool no_wait;               /* at max_concurrency, refuse (TRG_EFULL) rather than wait for capacity:
                                   Lambda throttles a synchronous invoke at once */
    const char *client_context; /* trg_invoke_req's client_context (copied); NULL: none */
};

struct trg_buf;
struct trg_metrics;

/* What the engine knows of a function beyond the invoker's own options (for the optional bind op). */
struct trg_invoke_host {
    struct trg_metrics *metrics; /* borrowed for the instance's lifetime */
    int64_t max_concurrency;     /* the engine never has more invocations in flight */
    int64_t timeout_ms;
};

struct trg_invoker_ops {
    const char *name;                 /* the function "type" in the config */
    const struct trg_opt *options;    /* type-specific options (the common ones live in engine) */
    size_t n_options;
    size_t opts_size;                 /* sizeof the struct the table fills */
    /* Extra validation after the table was applied; append errors with trg_errs_add(). May be NULL. */
    void (*check)(const void *opts, const char *path, struct trg_errs *errs);
    /* Create an instance. opts is borrowed for the instance's lifetime. On failure everything is
     * freed and a negative trg_err returned. */
    int (*create)(struct ev_loop *loop, const char *name, const void *opts, void **out);
    /* Start one invocation. Returns 0, or a negative trg_err (and then cb is never called). */
    int (*invoke)(void *inst, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg);
    /* Destroy the instance: in-flight invocations are cancelled and their callbacks are NOT called. */
    void (*destroy)(void *inst);
    /* Optional (NULL = not needed): called once right after create with the function's common settings. */
    void (*bind)(void *inst, const struct trg_invoke_host *host);
    /* Optional: append members (",\"key\":value...", starting with a comma) to the function's object in
     * the admin status (GET /admin/status). Returns 0 or TRG_ENOMEM. */
    int (*status_json)(void *inst, struct trg_buf *out);
};

extern const struct trg_invoker_ops trg_invoke_http;
extern const struct trg_invoker_ops trg_invoke_lambda;
extern const struct trg_invoker_ops trg_invoke_exec;
extern const struct trg_invoker_ops trg_invoke_runtime;

#endif
