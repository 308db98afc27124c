/* invoke_common.h — helpers shared by the invoker tests (one copy per test binary). */
#ifndef INVOKE_COMMON_H
#define INVOKE_COMMON_H

#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "invoke/invoke.h"
#include "log.h"
#include "opt.h"
#include "util.h"

/* What one callback saw (copied, since the result is only borrowed). */
struct got {
    int calls;
    enum trg_outcome outcome;
    int status;
    char *body;
    size_t body_len;
    char *content_type;
    char *function_error;
    int64_t retry_after_ms;
    double duration_ms;
};

static inline void got_clear(struct got *g)
{
    trg_free(g->body);
    trg_free(g->content_type);
    trg_free(g->function_error);
    memset(g, 0, sizeof(*g));
}

static inline void got_cb(void *arg, struct trg_invoke_result *res)
{
    struct got *g = arg;

    g->calls++;
    g->outcome = res->outcome;
    g->status = res->status;
    trg_free(g->body);
    trg_free(g->content_type);
    trg_free(g->function_error);
    g->body = res->body ? trg_strndup(res->body, res->body_len) : NULL;
    g->body_len = res->body_len;
    g->content_type = trg_strdup(res->content_type);
    g->function_error = trg_strdup(res->function_error);
    g->retry_after_ms = res->retry_after_ms;
    g->duration_ms = res->duration_ms;
}

/* Apply ops' option table to the JSON text; fails the test on any error. Free with opts_free(). */
static inline void *opts_from_json(const struct trg_invoker_ops *ops, const char *json)
{
    struct trg_errs errs = {0};
    cJSON *obj = cJSON_Parse(json);
    void *opts = trg_calloc(1, ops->opts_size);

    assert_non_null(obj);
    assert_non_null(opts);
    int bad = trg_opt_apply(ops->options, ops->n_options, opts, obj, "$.functions.t", NULL, &errs);
    if (ops->check)
        ops->check(opts, "$.functions.t", &errs);
    for (size_t i = 0; i < errs.lines.n; i++)
        fprintf(stderr, "config error: %s\n", errs.lines.v[i]);
    assert_int_equal(bad, 0);
    assert_int_equal(errs.lines.n, 0);
    trg_errs_free(&errs);
    cJSON_Delete(obj);
    return opts;
}

/* Number of errors the table plus check() report for the JSON text. */
static inline size_t opts_errors(const struct trg_invoker_ops *ops, const char *json)
{
    struct trg_errs errs = {0};
    cJSON *obj = cJSON_Parse(json);
    void *opts = trg_calloc(1, ops->opts_size);

    assert_non_null(obj);
    assert_non_null(opts);
    trg_opt_apply(ops->options, ops->n_options, opts, obj, "$.functions.t", NULL, &errs);
    if (ops->check)
        ops->check(opts, "$.functions.t", &errs);
    size_t n = errs.lines.n;
    trg_errs_free(&errs);
    trg_opt_free(ops->options, ops->n_options, opts);
    trg_free(opts);
    cJSON_Delete(obj);
    return n;
}

static inline void opts_free(const struct trg_invoker_ops *ops, void *opts)
{
    trg_opt_free(ops->options, ops->n_options, opts);
    trg_free(opts);
}

static inline void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(int *)w->data = 1;
    ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until *counter reaches target or timeout_s passes; true when reached. */
static inline bool run_until(struct ev_loop *loop, const int *counter, int target, double timeout_s)
{
    int expired = 0;
    ev_timer deadline;

    ev_timer_init(&deadline, deadline_cb, timeout_s, 0.0);
    deadline.data = &expired;
    ev_timer_start(loop, &deadline);
    while (*counter < target && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
    return *counter >= target;
}

/* One invoker instance on a loop of its own, created from JSON options, and what its callbacks got. */
struct fixture {
    struct ev_loop *loop;
    const struct trg_invoker_ops *ops;
    void *opts;
    void *inst;
    struct got got;
};

static inline struct fixture *fixture_new(const struct trg_invoker_ops *ops, const char *name, const char *json)
{
    struct fixture *f = trg_calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ops = ops;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(f->loop);
    f->opts = opts_from_json(ops, json);
    assert_int_equal(ops->create(f->loop, name, f->opts, &f->inst), 0);
    return f;
}

static inline void fixture_free(struct fixture *f)
{
    f->ops->destroy(f->inst);
    opts_free(f->ops, f->opts);
    got_clear(&f->got);
    ev_loop_destroy(f->loop);
    trg_free(f);
}

/* Capture log output in a temporary file. */
static inline FILE *log_capture(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, f);
    return f;
}

/* Everything logged so far (caller frees with free()); logging goes back to stderr. */
static inline char *log_release(FILE *f)
{
    long n;
    char *s;

    fflush(f);
    n = ftell(f);
    assert_true(n >= 0);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    trg_log_setup(TRG_LOG_INFO, TRG_LOG_TEXT, stderr);
    return s;
}

#endif
