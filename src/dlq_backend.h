/* dlq_backend.h — private face of the DLQ storage backends (dlq_file.c, dlq_redis.c) to dlq.c.
 *
 * dlq.c checks the common arguments (callback, record is JSON, id shape, count >= 1) before it calls
 * a backend; a backend checks what is its own (route names for files, the connection for Redis).
 * Contracts are those of the matching trg_dlq_* functions in dlq.h.
 */
#ifndef TRG_DLQ_BACKEND_H
#define TRG_DLQ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "dlq.h"

struct trg_dlq_backend;

struct trg_dlq_backend_ops {
    const char *name;
    int (*put)(struct trg_dlq_backend *b, const char *route, const char *record, size_t len,
               trg_dlq_put_cb cb, void *arg);
    int (*list)(struct trg_dlq_backend *b, const char *route, const char *after, size_t count,
                trg_dlq_list_cb cb, void *arg);
    int (*get)(struct trg_dlq_backend *b, const char *route, const char *id, trg_dlq_list_cb cb, void *arg);
    int (*del)(struct trg_dlq_backend *b, const char *route, const char *id, trg_dlq_done_cb cb, void *arg);
    int (*purge)(struct trg_dlq_backend *b, const char *route, trg_dlq_done_cb cb, void *arg);
    /* Calls every pending callback, then frees (possibly later, when inside a callback). */
    void (*destroy)(struct trg_dlq_backend *b);
};

/* The first member of every backend's own struct. */
struct trg_dlq_backend {
    const struct trg_dlq_backend_ops *ops;
};

/* dir is copied; it is created (mkdir -p, 0700). Caller frees with ops->destroy(). */
int trg_dlq_file_create(struct ev_loop *loop, const char *dir, struct trg_dlq_backend **out);
/* redis is borrowed and must outlive the backend. max_len <= 0 = no MAXLEN. */
int trg_dlq_redis_create(struct ev_loop *loop, struct trg_redis *redis, int64_t max_len,
                         struct trg_dlq_backend **out);

/* An entry id "<ms>-<seq>" (decimal, no sign). Returns 0 or TRG_EINVAL. */
int trg_dlq_id_parse(const char *id, size_t len, uint64_t *ms, uint64_t *seq);
/* Free n entries and the array. */
void trg_dlq_entries_free(struct trg_dlq_entry *e, size_t n);

#endif
