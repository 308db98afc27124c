/* harness.c — the test source, the test function and the engine around them (see harness.h). */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "connectors/connector.h"
#include "core.h"
#include "engine.h"
#include "registry.h"
#include "source.h"
#include "util.h"

/* The harness of the running test: the test source and function reach it through this. */
static struct th *current;

/* --- the test source --- */

struct test_source_opts {
    bool fail_start;
    bool fail_create;
    int64_t hold;
    bool refs;
};

static const struct trg_opt test_source_options[] = {
    {"fail_start", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct test_source_opts, fail_start),
     "Make start fail (a source that cannot start).", NULL, 0},
    {"fail_create", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct test_source_opts, fail_create),
     "Make create fail (a source that cannot be built).", NULL, 0},
    {"hold", TRG_OPT_INT, "0", 0, 1000000, "events", offsetof(struct test_source_opts, hold),
     "Above 0: the engine holds what the routes cannot take (trg_source_set_hold), pausing at this many.", NULL,
     0},
    {"refs", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct test_source_opts, refs),
     "With hold: what would be held goes to the engine as a reference (trg_source_hold_ref), its event built "
     "only when it is handed on (ops->finish).", NULL, 0},
};

/* A record the test source hands the engine by reference (option "refs"). */
struct test_ref {
    char *json, *item_id, *order_key;
};

static void ref_free(struct test_ref *r)
{
    free(r->json);
    free(r->item_id);
    free(r->order_key);
    free(r);
}

struct test_source {
    struct trg_source *src;
    const struct test_source_opts *opts;
    struct test_source *next;
};
static struct test_source *sources;

static int ts_create(struct trg_source *src, const void *opts, void **out)
{
    if (((const struct test_source_opts *)opts)->fail_create)
        return TRG_EINVAL;
    struct test_source *s = trg_calloc(1, sizeof *s);
    if (!s)
        return TRG_ENOMEM;
    s->src = src;
    s->opts = opts;
    if (s->opts->hold > 0)
        trg_source_set_hold(src, (size_t)s->opts->hold, (size_t)1 << 30);
    s->next = sources;
    sources = s;
    *out = s;
    return 0;
}

static int ts_start(void *inst) { return ((struct test_source *)inst)->opts->fail_start ? TRG_EIO : 0; }
static void ts_stop(void *inst) { (void)inst; }

static void ts_destroy(void *inst)
{
    for (struct test_source **p = &sources; *p; p = &(*p)->next)
        if (*p == inst) {
            *p = ((struct test_source *)inst)->next;
            break;
        }
    trg_free(inst);
}

static void ts_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    (void)inst;
    (void)res;
    struct th *t = current;
    if (t->n_done == t->cap_done) {
        t->cap_done = t->cap_done ? t->cap_done * 2 : 64;
        t->done = realloc(t->done, t->cap_done * sizeof *t->done);
        assert_non_null(t->done);
    }
    t->done[t->n_done].json = strdup(ev->json);
    t->done[t->n_done++].status = status;
}

static struct trg_event *ts_finish(void *inst, void *ref)
{
    (void)inst;
    struct test_ref *r = ref;
    struct trg_event *ev = trg_event_new_copy(r->json, strlen(r->json));
    assert_non_null(ev);
    ev->item_id = r->item_id ? trg_strdup(r->item_id) : NULL;
    ev->order_key = r->order_key ? trg_strdup(r->order_key) : NULL;
    ref_free(r);
    current->finished++;
    return ev;
}

/* A reference dropped unsent: recorded as done with TRG_DONE_UNSENT. */
static void ts_unsent(void *inst, void *ref)
{
    struct test_ref *r = ref;
    struct trg_event ev = {.json = r->json, .len = strlen(r->json)};
    ts_done(inst, &ev, TRG_DONE_UNSENT, NULL);
    ref_free(r);
}

static void ts_pause(void *inst, bool paused)
{
    (void)inst;
    current->paused = paused;
}

static const struct trg_source_ops test_source_ops = {
    .name = "test",
    .route_defaults = "{\"batch_size\":10}",
    .options = test_source_options,
    .n_options = TRG_ARRAY_SIZE(test_source_options),
    .opts_size = sizeof(struct test_source_opts),
    .create = ts_create,
    .start = ts_start,
    .stop = ts_stop,
    .destroy = ts_destroy,
    .done = ts_done,
    .finish = ts_finish,
    .unsent = ts_unsent,
    .pause = ts_pause,
    .durable_intake = true, /* only with "redis" in the config */
};

/* --- the test function --- */

struct test_function_opts {
    bool fail_create;
};

static const struct trg_opt test_function_options[] = {
    {"fail_create", TRG_OPT_BOOL, "false", 0, 0, NULL, offsetof(struct test_function_opts, fail_create),
     "Make create fail (a function that cannot be built).", NULL, 0},
};

static int tf_create(struct ev_loop *loop, const char *name, const void *opts, void **out)
{
    (void)loop;
    if (((const struct test_function_opts *)opts)->fail_create)
        return TRG_EINVAL;
    char *inst = strdup(name);
    if (!inst)
        return TRG_ENOMEM;
    *out = inst;
    return 0;
}

static int tf_invoke(void *inst, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct th_call *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->function = strdup(req->function);
    c->payload = strndup(req->payload, req->len);
    c->len = req->len;
    c->cb = cb;
    c->arg = arg;
    c->inst = inst;
    struct th_call **p = &current->calls;
    while (*p)
        p = &(*p)->next;
    *p = c;
    return 0;
}

static void call_free(struct th_call *c)
{
    free(c->function);
    free(c->payload);
    free(c);
}

/* Cancelled: the held invocations of this instance are dropped without their callbacks. */
static void tf_destroy(void *inst)
{
    for (struct th_call **p = &current->calls; *p;) {
        struct th_call *c = *p;
        if (c->inst == inst) {
            *p = c->next;
            call_free(c);
        } else {
            p = &c->next;
        }
    }
    free(inst);
}

static const struct trg_invoker_ops test_invoker_ops = {
    .name = "test",
    .options = test_function_options,
    .n_options = TRG_ARRAY_SIZE(test_function_options),
    .opts_size = sizeof(struct test_function_opts),
    .create = tf_create,
    .invoke = tf_invoke,
    .destroy = tf_destroy,
};

/* --- the engine --- */

static int64_t clock_ms(void *arg) { return ((struct th *)arg)->now_ms; }
static uint64_t no_jitter(void *arg)
{
    (void)arg;
    return 0;
}

static struct trg_config *load(struct th *t, const char *body, int64_t shutdown_timeout_ms)
{
    char *text = trg_asprintf("{\"http\":{\"listen\":\"127.0.0.1:0\"},\"log\":{\"level\":\"error\"},"
                              "\"state_dir\":\"%s\",\"dlq\":{\"backend\":\"file\"},\"shutdown_timeout_ms\":%lld,%s}",
                              t->dir, (long long)shutdown_timeout_ms, body);
    assert_non_null(text);
    struct trg_config *c = NULL;
    struct trg_errs errs = {0};
    if (trg_config_load_text(text, strlen(text), "test.json", &c, &errs) != 0)
        fail_msg("config rejected: %s\n%s", errs.lines.n ? errs.lines.v[0] : "?", text);
    trg_errs_free(&errs);
    trg_free(text);
    return c;
}

struct th *th_start(const char *config_body, int64_t shutdown_timeout_ms)
{
    struct th *t = calloc(1, sizeof *t);
    assert_non_null(t);
    current = t;
    trg_registry_set_extra(&test_source_ops, &test_invoker_ops);
    snprintf(t->dir, sizeof t->dir, "/tmp/trigd-runtime-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    t->now_ms = 1700000000000LL;
    t->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(t->loop);
    struct trg_config *c = load(t, config_body, shutdown_timeout_ms);
    struct trg_core_hooks hooks = {.wall_ms = clock_ms, .mono_ms = clock_ms, .random = no_jitter, .arg = t};
    assert_int_equal(trg_engine_create(t->loop, c, &hooks, &t->engine), 0);
    assert_int_equal(trg_engine_start(t->engine), 0);
    th_run(t);
    return t;
}

int th_reload(struct th *t, const char *config_body)
{
    struct trg_config *c = load(t, config_body, 1000);
    int rc = trg_engine_reload(t->engine, c); /* takes c, also when it fails */
    th_run(t);
    return rc;
}

int th_create(const char *config_body)
{
    struct th t = {.now_ms = 1700000000000LL};
    current = &t;
    trg_registry_set_extra(&test_source_ops, &test_invoker_ops);
    snprintf(t.dir, sizeof t.dir, "/tmp/trigd-runtime-XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    t.loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(t.loop);
    struct trg_config *c = load(&t, config_body, 1000);
    int rc = trg_engine_create(t.loop, c, NULL, &t.engine); /* takes c, also when it fails */
    if (rc == 0)
        trg_engine_destroy(t.engine);
    ev_loop_destroy(t.loop);
    char *cmd = trg_asprintf("rm -rf '%s'", t.dir);
    assert_int_equal(system(cmd), 0);
    trg_free(cmd);
    current = NULL;
    return rc;
}

void th_stop(struct th *t)
{
    trg_engine_destroy(t->engine);
    ev_loop_destroy(t->loop);
    while (t->calls) {
        struct th_call *c = t->calls;
        t->calls = c->next;
        call_free(c);
    }
    for (size_t i = 0; i < t->n_done; i++)
        free(t->done[i].json);
    free(t->done);
    char *cmd = trg_asprintf("rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    trg_free(cmd);
    current = NULL;
    free(t);
}

static struct test_source *find_source(const char *name)
{
    struct test_source *s = sources;
    while (s && strcmp(trg_source_name(s->src), name) != 0)
        s = s->next;
    assert_non_null(s);
    return s;
}

size_t th_held(struct th *t, const char *source)
{
    (void)t;
    return trg_source_held(find_source(source)->src);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

bool th_wait(struct th *t, bool (*cond)(struct th *t, void *arg), void *arg, double seconds)
{
    ev_timer tick; /* so that the loop never blocks for long */
    ev_timer_init(&tick, tick_cb, 0.01, 0.01);
    ev_timer_start(t->loop, &tick);
    ev_tstamp end = ev_time() + seconds;
    bool ok;
    while (!(ok = cond(t, arg)) && ev_time() < end)
        ev_run(t->loop, EVRUN_ONCE);
    ev_timer_stop(t->loop, &tick);
    th_run(t);
    return ok;
}

int th_emit(struct th *t, const char *source, const char *json, const char *item_id, const char *order_key)
{
    (void)t;
    struct test_source *s = find_source(source);
    if (s->opts->refs && trg_source_would_hold(s->src)) {
        struct test_ref *r = calloc(1, sizeof *r);
        assert_non_null(r);
        r->json = strdup(json);
        r->item_id = item_id ? strdup(item_id) : NULL;
        r->order_key = order_key ? strdup(order_key) : NULL;
        int rc = trg_source_hold_ref(s->src, r, order_key, strlen(json));
        if (rc != 0)
            ref_free(r);
        return rc;
    }
    struct trg_event *ev = trg_event_new_copy(json, strlen(json));
    assert_non_null(ev);
    ev->item_id = item_id ? trg_strdup(item_id) : NULL;
    ev->order_key = order_key ? trg_strdup(order_key) : NULL;
    ev->created_ms = 0; /* dated by the engine's (injected) clock at emit */
    int rc = trg_source_emit(s->src, ev);
    if (rc != 0)
        trg_event_free(ev);
    return rc;
}

void th_run(struct th *t)
{
    for (int i = 0; i < 64; i++)
        ev_run(t->loop, EVRUN_NOWAIT);
}

size_t th_calls(const struct th *t)
{
    size_t n = 0;
    for (const struct th_call *c = t->calls; c; c = c->next)
        n++;
    return n;
}

struct th_call *th_call(struct th *t) { return t->calls; }

void th_answer(struct th *t, enum trg_outcome outcome, int status, const char *body, int64_t retry_after_ms)
{
    struct th_call *c = t->calls;
    assert_non_null(c);
    t->calls = c->next;
    struct trg_invoke_result res = {
        .outcome = outcome,
        .status = status,
        .body = (char *)body,
        .body_len = body ? strlen(body) : 0,
        .function_error = outcome == TRG_OUT_ERROR ? (char *)"Unhandled" : NULL,
        .retry_after_ms = retry_after_ms,
    };
    c->cb(c->arg, &res);
    call_free(c);
    th_run(t);
}

size_t th_done_count(const struct th *t, int status)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_done; i++)
        n += t->done[i].status == status;
    return n;
}

size_t th_dlq_count(const struct th *t, const char *route, const char *needle)
{
    char *path = trg_asprintf("%s/dlq/%s.jsonl", t->dir, route);
    assert_non_null(path);
    FILE *f = fopen(path, "r");
    trg_free(path);
    if (!f)
        return 0;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0)
        n += strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return n;
}
