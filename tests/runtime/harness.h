/* harness.h — the in-process test tier: a real engine on a real libev loop, fed by a test source and
 * invoking a test function, both built only into these tests (registered with trg_registry_set_extra),
 * with the engine's clock and random source injected. Nothing waits on time: the clock moves only when
 * a test moves it, the random source makes every backoff 0 (so a retry is due at the next loop pass),
 * and th_run() turns the loop until nothing is left to do now. Every invocation is held until the test
 * answers it, so a test decides each outcome and in which order they arrive.
 *
 * Config: th_start() wraps the test's "functions", "sources" and "routes" with a listener on a free
 * port, a file DLQ in a fresh directory and shutdown_timeout_ms. Source type "test" (options
 * "fail_start": start fails; "fail_create": create fails; "hold": N, the engine holds its events while the
 * routes are full, pausing at N; "refs": what would be held goes as a reference, its event built when the
 * engine hands it on; with "redis" in the config its events go through the durable intake),
 * function type "test" (option "fail_create").
 */
#ifndef TRG_TEST_HARNESS_H
#define TRG_TEST_HARNESS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "invoke/invoke.h"

struct trg_engine;

/* An invocation the test function holds until th_answer(). */
struct th_call {
    char *function;
    char *payload;
    size_t len;
    trg_invoke_cb cb;
    void *arg;
    void *inst;
    struct th_call *next;
};

/* An event the test source heard of in its done callback. */
struct th_done {
    char *json;
    int status;            /* enum trg_done_status */
};

struct th {
    struct ev_loop *loop;
    struct trg_engine *engine;
    char dir[64];          /* state_dir; the file DLQ is dir/dlq/ROUTE.jsonl */
    int64_t now_ms;        /* the engine's wall and monotonic clock */
    struct th_call *calls; /* held invocations, oldest first */
    struct th_done *done;
    size_t n_done, cap_done;
    bool paused;           /* the test source was last told to pause (true) or resume */
    size_t finished;       /* references the engine had the test source finish into events ("refs") */
};

/* Start an engine on config_body (the "functions", "sources" and "routes" members, without braces);
 * fails the test when the engine cannot be built or started. */
struct th *th_start(const char *config_body, int64_t shutdown_timeout_ms);
/* Destroy the engine and everything the harness holds; remove the directory. */
void th_stop(struct th *t);
/* Reload with a new config_body; returns what trg_engine_reload() returned. */
int th_reload(struct th *t, const char *config_body);
/* Create an engine on config_body (with the real clock) and destroy it at once; returns what
 * trg_engine_create() returned. The harness never frees the config: the engine takes it either way. */
int th_create(const char *config_body);

/* Emit one event from source `source` (json copied; item_id and order_key may be NULL); returns what
 * trg_source_emit() returned. */
int th_emit(struct th *t, const char *source, const char *json, const char *item_id, const char *order_key);
/* Turn the loop until nothing more happens now (deferred callbacks, due timers, DLQ writes). */
void th_run(struct th *t);
/* Turn the loop, waiting for I/O and real timers (a Redis server's replies), until cond(t, arg) holds or
 * `seconds` of real time passed; returns cond's last answer. For tests with a real server only. */
bool th_wait(struct th *t, bool (*cond)(struct th *t, void *arg), void *arg, double seconds);
/* Events the engine holds for source `source` (trg_source_held). */
size_t th_held(struct th *t, const char *source);

/* The number of invocations held; the oldest one (NULL when none). */
size_t th_calls(const struct th *t);
struct th_call *th_call(struct th *t);
/* Answer the oldest held invocation (there must be one) and free it: outcome, HTTP status, body (may be
 * NULL), Retry-After (-1: none). Then turns the loop. */
void th_answer(struct th *t, enum trg_outcome outcome, int status, const char *body, int64_t retry_after_ms);

/* How many events reached done with status; and the DLQ lines of a route that contain `needle`. */
size_t th_done_count(const struct th *t, int status);
size_t th_dlq_count(const struct th *t, const char *route, const char *needle);

#endif
