/* dlq_file.c — DLQ file backend: one JSON-lines file per route, <dir>/<route>.jsonl.
 *
 * A line is {"id":"<ms>-<seq>","record":<record>}\n. put appends and fsync()s; delete and purge
 * write the remaining lines to <dir>/.<route>.jsonl.tmp, fsync it, rename it over the file and
 * fsync the directory, so a crash leaves either the old or the new file. A torn last line (a put
 * that never returned) is skipped by readers and dropped by the next rewrite.
 *
 * The I/O is synchronous (local disk, short); results are queued and delivered from a 0-timer.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dlq_backend.h"
#include "log.h"
#include "util.h"

#define LINE_HEAD "{\"id\":\""
#define LINE_MID "\",\"record\":"

struct route_state {
    char *route;
    uint64_t last_ms, last_seq;
    struct route_state *next;
};

enum op_kind { OP_PUT, OP_LIST, OP_DONE };

struct op {
    enum op_kind kind;
    int err;
    trg_dlq_put_cb put_cb;
    trg_dlq_list_cb list_cb;
    trg_dlq_done_cb done_cb;
    void *arg;
    char id[48];
    struct trg_dlq_entry *entries;
    size_t n;
    long count;
    struct op *next;
};

struct fdlq {
    struct trg_dlq_backend base; /* first */
    struct ev_loop *loop;
    char *dir;
    struct route_state *routes;
    struct op *head, *tail;
    ev_timer deliver;
    bool draining, closing;
};

/* One parsed line of a file. */
struct line {
    const char *start; /* the whole line, newline included */
    size_t len;
    const char *id;
    size_t id_len;
    const char *record;
    size_t record_len;
    uint64_t ms, seq;
    bool valid;
};

/* --- files ----------------------------------------------------------------------------------- */

static bool route_name_ok(const char *route)
{
    if (!route || !route[0] || route[0] == '.' || strlen(route) > 200)
        return false;
    for (const char *p = route; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int mkdir_p(const char *dir)
{
    char *p = trg_strdup(dir);
    if (!p)
        return TRG_ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = TRG_EIO;
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    trg_free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            rc = TRG_EIO;
        }
    }
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return TRG_EIO;
    int rc = fsync(fd) == 0 ? 0 : TRG_EIO;
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return TRG_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The whole file into a buffer (empty when it does not exist). */
static int read_file(const char *path, struct trg_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : TRG_EIO;
    int rc = 0;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = TRG_EIO;
            break;
        }
        if (r == 0)
            break;
        if ((rc = trg_buf_add(out, chunk, (size_t)r)) != 0)
            break;
    }
    close(fd);
    return rc;
}

/* Parse the line at p (up to and including its '\n'); returns false at the end of the data. p and end
 * are both NULL for a file that was not there (callers never compute NULL + 0: undefined behaviour). */
static bool next_line(const char **p, const char *end, struct line *l)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    memset(l, 0, sizeof(*l));
    l->start = *p;
    if (!nl) { /* torn tail: not a line */
        l->len = (size_t)(end - *p);
        *p = end;
        return true;
    }
    l->len = (size_t)(nl + 1 - *p);
    *p = nl + 1;
    const char *s = l->start;
    size_t n = l->len - 1;
    size_t hl = strlen(LINE_HEAD), ml = strlen(LINE_MID);
    if (n < hl + ml + 2 || memcmp(s, LINE_HEAD, hl) != 0 || s[n - 1] != '}')
        return true;
    const char *id = s + hl;
    const char *q = memchr(id, '"', n - hl);
    if (!q || (size_t)(s + n - q) < ml + 1 || memcmp(q, LINE_MID, ml) != 0)
        return true;
    l->id = id;
    l->id_len = (size_t)(q - id);
    l->record = q + ml;
    l->record_len = (size_t)(s + n - 1 - l->record);
    l->valid = l->record_len > 0 && trg_dlq_id_parse(l->id, l->id_len, &l->ms, &l->seq) == 0;
    return true;
}

static int id_cmp(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq)
{
    if (ams != bms)
        return ams < bms ? -1 : 1;
    return aseq < bseq ? -1 : aseq > bseq ? 1 : 0;
}

static char *route_path(const struct fdlq *f, const char *route, bool tmp)
{
    return tmp ? trg_asprintf("%s/.%s.jsonl.tmp", f->dir, route) : trg_asprintf("%s/%s.jsonl", f->dir, route);
}

/* Replace the route's file, through a temp file, by data's complete lines except the one with
 * skip_id (delete), or by nothing (skip_id NULL: purge). */
static int rewrite(struct fdlq *f, const char *route, const struct trg_buf *data, const char *skip_id,
                   size_t skip_len)
{
    char *path = route_path(f, route, false), *tmp = route_path(f, route, true);
    int rc = TRG_ENOMEM;
    int fd = -1;
    if (!path || !tmp)
        goto out;
    rc = TRG_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    const char *p = data->data, *end = data->data ? data->data + data->len : NULL;
    struct line l;
    while (skip_id && p && next_line(&p, end, &l)) {
        if (l.start[l.len - 1] != '\n')
            continue; /* torn tail */
        if (l.valid && l.id_len == skip_len && memcmp(l.id, skip_id, skip_len) == 0)
            continue;
        if (write_all(fd, l.start, l.len) != 0)
            goto out;
    }
    if (fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    rc = fsync_dir(f->dir);
out:
    if (rc == TRG_EIO)
        trg_error("dlq", route, "cannot rewrite %s: %s; check the directory's permissions and free space",
                  path ? path : f->dir, strerror(errno));
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    trg_free(path);
    trg_free(tmp);
    return rc;
}

/* --- route state ----------------------------------------------------------------------------- */

static struct route_state *route_state(struct fdlq *f, const char *route, int *err)
{
    for (struct route_state *rs = f->routes; rs; rs = rs->next)
        if (strcmp(rs->route, route) == 0)
            return rs;
    struct route_state *rs = trg_calloc(1, sizeof(*rs));
    char *path = route_path(f, route, false);
    struct trg_buf data = {0};
    *err = TRG_ENOMEM;
    if (!rs || !path || !(rs->route = trg_strdup(route)))
        goto fail;
    if ((*err = read_file(path, &data)) != 0) {
        trg_error("dlq", route, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    const char *p = data.data, *end = data.data ? data.data + data.len : NULL;
    struct line l;
    while (p && next_line(&p, end, &l))
        if (l.valid && id_cmp(l.ms, l.seq, rs->last_ms, rs->last_seq) > 0)
            rs->last_ms = l.ms, rs->last_seq = l.seq;
    trg_buf_free(&data);
    trg_free(path);
    rs->next = f->routes;
    f->routes = rs;
    return rs;
fail:
    trg_buf_free(&data);
    trg_free(path);
    if (rs)
        trg_free(rs->route);
    trg_free(rs);
    return NULL;
}

/* --- delivery -------------------------------------------------------------------------------- */

static void deliver(struct op *o)
{
    switch (o->kind) {
    case OP_PUT:
        o->put_cb(o->arg, o->err, o->err == 0 ? o->id : NULL);
        break;
    case OP_LIST:
        o->list_cb(o->arg, o->err, o->entries, o->n);
        break;
    case OP_DONE:
        o->done_cb(o->arg, o->err, o->count);
        break;
    }
    trg_dlq_entries_free(o->entries, o->n);
    trg_free(o);
}

static struct op *pop(struct fdlq *f)
{
    struct op *o = f->head;
    if (o) {
        f->head = o->next;
        if (!f->head)
            f->tail = NULL;
    }
    return o;
}

static void really_free(struct fdlq *f)
{
    ev_timer_stop(f->loop, &f->deliver);
    struct route_state *rs;
    while ((rs = f->routes)) {
        f->routes = rs->next;
        trg_free(rs->route);
        trg_free(rs);
    }
    trg_free(f->dir);
    trg_free(f);
}

static void deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fdlq *f = w->data;
    struct op *o;
    f->draining = true;
    while (!f->closing && (o = pop(f)))
        deliver(o);
    f->draining = false;
    if (f->closing)
        really_free(f);
}

static struct op *op_new(enum op_kind kind, void *arg)
{
    struct op *o = trg_calloc(1, sizeof(*o));
    if (o) {
        o->kind = kind;
        o->arg = arg;
    }
    return o;
}

static void enqueue(struct fdlq *f, struct op *o)
{
    if (f->tail)
        f->tail->next = o;
    else
        f->head = o;
    f->tail = o;
    if (!ev_is_active(&f->deliver)) {
        ev_timer_set(&f->deliver, 0., 0.);
        ev_timer_start(f->loop, &f->deliver);
    }
}

/* --- operations ------------------------------------------------------------------------------ */

static int append_line(struct fdlq *f, const char *route, const char *line, size_t len)
{
    char *path = route_path(f, route, false);
    if (!path)
        return TRG_ENOMEM;
    int rc = TRG_EIO;
    bool created = access(path, F_OK) != 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out;
    if (st.st_size > 0) {
        /* a torn last line must not swallow this one */
        char last;
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (rfd < 0)
            goto out;
        ssize_t r = pread(rfd, &last, 1, st.st_size - 1);
        close(rfd);
        if (r != 1)
            goto out;
        if (last != '\n' && write_all(fd, "\n", 1) != 0)
            goto out;
    }
    if (write_all(fd, line, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        if (ftruncate(fd, st.st_size) == 0) /* best effort: keep the file clean */
            (void)fsync(fd);
        errno = e;
        goto out;
    }
    rc = created ? fsync_dir(f->dir) : 0;
out:
    if (rc == TRG_EIO)
        trg_error("dlq", route, "cannot append to %s: %s; check the directory's permissions and free space",
                  path, strerror(errno));
    if (fd >= 0)
        close(fd);
    trg_free(path);
    return rc;
}

static int f_put(struct trg_dlq_backend *b, const char *route, const char *record, size_t len,
                 trg_dlq_put_cb cb, void *arg)
{
    struct fdlq *f = (struct fdlq *)b;
    if (f->closing)
        return TRG_ESTATE;
    if (!route_name_ok(route))
        return TRG_EINVAL;
    int rc;
    struct route_state *rs = route_state(f, route, &rc);
    if (!rs)
        return rc;
    struct op *o = op_new(OP_PUT, arg);
    if (!o)
        return TRG_ENOMEM;
    o->put_cb = cb;
    uint64_t now = (uint64_t)trg_wall_ms(), ms, seq;
    if (now > rs->last_ms)
        ms = now, seq = 0;
    else
        ms = rs->last_ms, seq = rs->last_seq + 1;
    snprintf(o->id, sizeof(o->id), "%" PRIu64 "-%" PRIu64, ms, seq);

    struct trg_buf line = {0};
    char *min = NULL;
    if (memchr(record, '\n', len) || memchr(record, '\r', len)) {
        if (!(min = trg_strndup(record, len))) {
            trg_free(o);
            return TRG_ENOMEM;
        }
        cJSON_Minify(min);
        record = min;
        len = strlen(min);
    }
    rc = trg_buf_addf(&line, LINE_HEAD "%s" LINE_MID, o->id);
    if (rc == 0)
        rc = trg_buf_add(&line, record, len);
    if (rc == 0)
        rc = trg_buf_adds(&line, "}\n");
    trg_free(min);
    if (rc != 0) {
        trg_buf_free(&line);
        trg_free(o);
        return rc;
    }
    o->err = append_line(f, route, line.data, line.len);
    trg_buf_free(&line);
    if (o->err == 0)
        rs->last_ms = ms, rs->last_seq = seq;
    enqueue(f, o);
    return 0;
}

static int load(struct fdlq *f, const char *route, struct trg_buf *data)
{
    char *path = route_path(f, route, false);
    if (!path)
        return TRG_ENOMEM;
    int rc = read_file(path, data);
    if (rc == TRG_EIO)
        trg_error("dlq", route, "cannot read %s: %s", path, strerror(errno));
    trg_free(path);
    return rc;
}

static int add_entry(struct op *o, const struct line *l)
{
    struct trg_dlq_entry *e = trg_realloc(o->entries, (o->n + 1) * sizeof(*e));
    if (!e)
        return TRG_ENOMEM;
    o->entries = e;
    e = &o->entries[o->n];
    e->id = trg_strndup(l->id, l->id_len);
    e->record = trg_strndup(l->record, l->record_len);
    e->len = l->record_len;
    if (!e->id || !e->record) {
        trg_free(e->id);
        trg_free(e->record);
        return TRG_ENOMEM;
    }
    o->n++;
    return 0;
}

/* list (after/count) and get (id) share the scan. */
static int scan(struct fdlq *f, const char *route, const char *after, size_t count, const char *id,
                trg_dlq_list_cb cb, void *arg)
{
    if (f->closing)
        return TRG_ESTATE;
    if (!route_name_ok(route))
        return TRG_EINVAL;
    uint64_t ams = 0, aseq = 0;
    const char *key = after ? after : id;
    if (key && trg_dlq_id_parse(key, strlen(key), &ams, &aseq) != 0)
        return TRG_EINVAL;
    struct op *o = op_new(OP_LIST, arg);
    if (!o)
        return TRG_ENOMEM;
    o->list_cb = cb;
    struct trg_buf data = {0};
    int rc = load(f, route, &data);
    const char *p = data.data, *end = data.data ? data.data + data.len : NULL;
    struct line l;
    while (rc == 0 && p && o->n < count && next_line(&p, end, &l)) {
        if (!l.valid)
            continue;
        int c = id_cmp(l.ms, l.seq, ams, aseq);
        if (!(id ? c == 0 : (!after || c > 0)))
            continue;
        /* a line edited or damaged by hand: its record is not JSON, and a redrive would send garbage */
        cJSON *j = cJSON_ParseWithLength(l.record, l.record_len);
        if (!j) {
            trg_warn("dlq", route, "skipped entry %.*s of %s.jsonl: its record is not JSON (damaged file?)",
                     (int)(l.id_len > 40 ? 40 : l.id_len), l.id, route);
            continue;
        }
        cJSON_Delete(j);
        rc = add_entry(o, &l);
    }
    trg_buf_free(&data);
    if (rc == TRG_ENOMEM) {
        trg_dlq_entries_free(o->entries, o->n);
        trg_free(o);
        return rc;
    }
    o->err = rc != 0 ? rc : (id && o->n == 0) ? TRG_ENOTFOUND : 0;
    if (o->err != 0) {
        trg_dlq_entries_free(o->entries, o->n);
        o->entries = NULL;
        o->n = 0;
    }
    enqueue(f, o);
    return 0;
}

static int f_list(struct trg_dlq_backend *b, const char *route, const char *after, size_t count,
                  trg_dlq_list_cb cb, void *arg)
{
    return scan((struct fdlq *)b, route, after, count, NULL, cb, arg);
}

static int f_get(struct trg_dlq_backend *b, const char *route, const char *id, trg_dlq_list_cb cb, void *arg)
{
    return scan((struct fdlq *)b, route, NULL, 1, id, cb, arg);
}

/* delete (id) and purge (id NULL) share the rewrite. */
static int remove_lines(struct fdlq *f, const char *route, const char *id, trg_dlq_done_cb cb, void *arg)
{
    if (f->closing)
        return TRG_ESTATE;
    if (!route_name_ok(route))
        return TRG_EINVAL;
    uint64_t ims = 0, iseq = 0;
    if (id && trg_dlq_id_parse(id, strlen(id), &ims, &iseq) != 0)
        return TRG_EINVAL;
    struct op *o = op_new(OP_DONE, arg);
    if (!o)
        return TRG_ENOMEM;
    o->done_cb = cb;
    struct trg_buf data = {0};
    int rc = load(f, route, &data);
    const char *p = data.data, *end = data.data ? data.data + data.len : NULL, *hit = NULL;
    size_t hit_len = 0;
    struct line l;
    long count = 0;
    while (rc == 0 && p && next_line(&p, end, &l)) {
        if (!l.valid)
            continue;
        if (!id) {
            count++;
        } else if (id_cmp(l.ms, l.seq, ims, iseq) == 0) {
            count++;
            hit = l.id, hit_len = l.id_len;
        }
    }
    bool need = rc == 0 && (count > 0 || (!id && data.len > 0));
    if (need) {
        /* purge rewrites to an empty file; delete keeps every other complete line */
        if (id)
            rc = rewrite(f, route, &data, hit, hit_len);
        else
            rc = rewrite(f, route, &data, NULL, 0);
    }
    trg_buf_free(&data);
    if (rc == TRG_ENOMEM) {
        trg_free(o);
        return rc;
    }
    o->err = rc;
    o->count = rc == 0 ? count : 0;
    enqueue(f, o);
    return 0;
}

static int f_del(struct trg_dlq_backend *b, const char *route, const char *id, trg_dlq_done_cb cb, void *arg)
{
    return remove_lines((struct fdlq *)b, route, id, cb, arg);
}

static int f_purge(struct trg_dlq_backend *b, const char *route, trg_dlq_done_cb cb, void *arg)
{
    return remove_lines((struct fdlq *)b, route, NULL, cb, arg);
}

static void f_destroy(struct trg_dlq_backend *b)
{
    struct fdlq *f = (struct fdlq *)b;
    if (f->closing)
        return;
    f->closing = true;
    struct op *o;
    while ((o = pop(f)))
        deliver(o);
    if (!f->draining)
        really_free(f);
}

static const struct trg_dlq_backend_ops file_ops = {
    .name = "file",
    .put = f_put,
    .list = f_list,
    .get = f_get,
    .del = f_del,
    .purge = f_purge,
    .destroy = f_destroy,
};

int trg_dlq_file_create(struct ev_loop *loop, const char *dir, struct trg_dlq_backend **out)
{
    *out = NULL;
    if (!loop || !dir || !dir[0])
        return TRG_EINVAL;
    struct fdlq *f = trg_calloc(1, sizeof(*f));
    int rc = TRG_ENOMEM;
    if (!f || !(f->dir = trg_strdup(dir)))
        goto fail;
    if ((rc = mkdir_p(dir)) != 0) {
        if (rc == TRG_EIO)
            trg_error("dlq", NULL, "cannot create the DLQ directory %s: %s; check dlq.path / state_dir and "
                      "permissions", dir, strerror(errno));
        goto fail;
    }
    f->base.ops = &file_ops;
    f->loop = loop;
    ev_timer_init(&f->deliver, deliver_cb, 0., 0.);
    f->deliver.data = f;
    *out = &f->base;
    return 0;
fail:
    if (f)
        trg_free(f->dir);
    trg_free(f);
    return rc;
}
