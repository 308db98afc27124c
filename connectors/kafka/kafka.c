/* kafka.c — the "kafka" source: a librdkafka consumer-group member whose records become Lambda's
 * self-managed Kafka event, one batch per partition, with offsets stored only behind finished records.
 *
 * librdkafka runs on trigd's loop through its consumer queue: every callback (rebalance, commit, error,
 * log) is forwarded to that queue, the queue signals a pipe (rd_kafka_queue_io_event_enable), an ev_io
 * on the pipe drains it with rd_kafka_consumer_poll(rk, 0), a bounded number of records per pass.
 *
 * Offsets: every emitted record is kept, in offset order, in its partition's list (struct krec). The
 * done callback marks it; the finished prefix of the list is popped and the offset after it stored
 * (enable.auto.offset.store=false), at most once per loop pass (ev_prepare). Stored offsets are committed
 * every commit_interval_ms, at revoke, and at shutdown. An abandoned record stops the partition's
 * stores until it is reassigned: a crash or a rebalance replays it, nothing is skipped.
 *
 * Backpressure: the engine holds what the routes cannot take yet, in order, the partitions taking turns
 * (trg_source_set_hold, max_buffered and max_buffered_bytes); when its hold is full it says pause, and the
 * assigned partitions are paused (rd_kafka_pause_partitions) until it says resume, at half. A held record
 * dropped unsent (at a revoke, at stop) is never stored past: whoever reads the partition next reads it.
 *
 * A partition's records out are kafka_partition.c's; the options kafka_conf.c's; the batch views
 * kafka_batch.c's (kafka.h lists what each file offers the others).
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../connector.h"
#include "kafka.h"
#include "kafka_event.h"

static void commit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kafka *k = w->data;
    trg_kafka_commit(k, false);
    trg_kafka_update_lag(k);
}

/* ---- pausing ----------------------------------------------------------------------------------- */

static void poke(struct kafka *k)
{
    /* the queue's io event fires on new ops only: wake our own watcher to drain what is left */
    ssize_t n = write(k->pipe_wr, "1", 1);
    (void)n;
}

/* librdkafka 2.0 decides again whether to fetch a partition it stopped fetching (paused, or its queue at
 * queued.min.messages) only on its broker thread's one-second tick; 2.4 made that fetch.queue.backoff.ms.
 * A seek wakes that thread at once: each assigned partition is sought to the record after the last one
 * polled. Called with the consumer queue empty, so the seek discards nothing; records of a fetch already on
 * its way when the seek lands are delivered again and dropped by on_message (offset < fetch_next). */
static void wake_fetcher(struct kafka *k)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_error_t *error;
    k->fetch_idle = false;
    if (!l)
        return;
    for (struct kpart *p = k->parts; p; p = p->next)
        if (p->assigned && !p->reset && p->fetch_next >= 0)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->fetch_next;
    if (l->cnt > 0) {
        trg_source_count(k->src, "fetch_restarts", 1);
        if ((error = rd_kafka_seek_partitions(k->rk, l, 0))) {
            trg_debug("kafka", k->name, "cannot restart fetching: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void set_kafka_paused(struct kafka *k, bool paused)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (!k->rk || paused == k->paused_kafka)
        return;
    if (rd_kafka_assignment(k->rk, &l) == 0 && l) {
        trg_source_count(k->src, paused ? "partitions_paused" : "partitions_resumed", l->cnt);
        if (l->cnt > 0) {
            rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(k->rk, l) : rd_kafka_resume_partitions(k->rk, l);
            if (err)
                trg_warn("kafka", k->name, "cannot %s partitions: %s", paused ? "pause" : "resume",
                         rd_kafka_err2str(err));
        }
        trg_source_set_gauge(k->src, TRG_GAUGE_PAUSED_PARTITIONS, NULL, paused ? l->cnt : 0);
        trg_info("kafka", k->name, "%s %d partition(s)%s", paused ? "paused" : "resumed", l->cnt,
                 !paused     ? ""
                 : k->stopping ? ": stopping"
                               : ": the routes are full and max_buffered records wait; resumed at half");
        rd_kafka_topic_partition_list_destroy(l);
    }
    k->paused_kafka = paused;
}

/* ---- records ----------------------------------------------------------------------------------- */

/* A new krec for the record at offset, at the end of p's list; NULL: out of memory. */
static struct krec *link_record(struct kpart *p, int64_t offset)
{
    struct krec *rec = trg_pool_get(&p->k->recs);
    if (!rec)
        return NULL;
    rec->p = p;
    rec->offset = offset;
    if (p->tail)
        p->tail->next = rec;
    else
        p->head = rec;
    p->tail = rec;
    p->next_offset = offset + 1;
    return rec;
}

/* A record that is final without being emitted (a skipped MinIO value, a record before starting_timestamp):
 * like a filtered record, its offset may be stored once the records before it are. false: out of memory. */
static bool skip_record(struct kpart *p, int64_t offset)
{
    struct krec *rec = link_record(p, offset);
    if (!rec)
        return false;
    rec->done = true;
    trg_kafka_part_advance(p);
    return true;
}

/* Not emitted, out of memory: no offset of p is stored past it any more (p->stuck), so it is read again
 * after the next rebalance or restart. */
static void lose_record(struct kafka *k, struct kpart *p, const rd_kafka_message_t *m)
{
    p->stuck = true;
    trg_error("kafka", k->name, "out of memory taking %s@%" PRId64 ": it is read again after the next rebalance "
              "or restart (no offset of the partition is stored past it until then)", p->tp, m->offset);
}

/* The order key of record m of partition p: the partition, or with parallelization above 1 its key lane
 * ("topic-partition/lane"), in k->scratch_key; NULL when out of memory. */
static const char *order_key(struct kafka *k, const struct kpart *p, const rd_kafka_message_t *m, size_t *len)
{
    struct trg_buf *key = &k->scratch_key;
    if (k->opts->parallelization <= 1) {
        *len = strlen(p->tp);
        return p->tp;
    }
    trg_buf_reset(key);
    if (trg_buf_adds(key, p->tp) || trg_buf_addc(key, '/') ||
        trg_buf_add_int(key, trg_kafka_key_lane(m->key, m->key_len, (unsigned)k->opts->parallelization)))
        return NULL;
    *len = key->len;
    return key->data;
}

/* The event of record m of partition p (token NULL). NULL: out of memory, or *skip set when the record is
 * final without an event (format "minio" and not a notification: logged). */
static struct trg_event *build_event(struct kafka *k, const struct kpart *p, const rd_kafka_message_t *m,
                                     bool *skip)
{
    struct trg_kafka_header *hdrs = NULL;
    rd_kafka_headers_t *rh = NULL;
    rd_kafka_timestamp_type_t tstype;
    struct trg_event *ev = NULL;
    size_t nh = 0, klen = 0;
    const char *key;
    struct trg_kafka_record r = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
    };
    r.timestamp = rd_kafka_message_timestamp(m, &tstype);
    r.ts_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? TRG_KAFKA_TS_CREATE
                : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? TRG_KAFKA_TS_LOG_APPEND
                                                               : TRG_KAFKA_TS_NONE;
    if (rd_kafka_message_headers(m, &rh) == 0 && rh && (nh = rd_kafka_header_cnt(rh)) > 0) {
        hdrs = trg_calloc(nh, sizeof *hdrs);
        if (!hdrs)
            return NULL;
        for (size_t i = 0; i < nh; i++)
            if (rd_kafka_header_get_all(rh, i, &hdrs[i].name, &hdrs[i].value, &hdrs[i].len))
                hdrs[i].name = "";
        r.headers = hdrs;
        r.n_headers = nh;
    }
    struct trg_buf *json = &k->scratch, *id = &k->scratch_id;
    trg_buf_reset(json);
    trg_buf_reset(id);
    if (k->opts->format == KAFKA_FORMAT_MINIO) {
        int mrc = trg_event_minio_records(m->payload, m->len, json);
        if (mrc == TRG_EINVAL) {
            trg_warn("kafka", k->name, "%s@%" PRId64 " is not a MinIO notification (format \"minio\"): skipped",
                     p->tp, m->offset);
            *skip = true;
        }
        if (mrc < 0)
            goto out;
    } else if (trg_kafka_record_json(&r, json) < 0) {
        goto out;
    }
    if (trg_buf_adds(id, p->tp) || trg_buf_addc(id, '@') || trg_buf_add_int(id, m->offset) ||
        !(key = order_key(k, p, m, &klen)))
        goto out;
    ev = trg_event_new_packed_n(json->data, json->len, id->data, id->len, key, klen, 0);
    if (ev && r.timestamp > 0)
        ev->created_ms = r.timestamp;
out:
    trg_free(hdrs);
    return ev;
}

/* The assigned partition of record m, or NULL; the one of c (the last lookup) first: a fetch brings runs of
 * one partition's records, and the engine hands held records on in turns of one partition's. */
static struct kpart *part_of(struct kafka *k, const rd_kafka_message_t *m, struct kpart_cache *c)
{
    struct kpart *p = c->p;
    if (!p || p->partition != m->partition || c->rkt != m->rkt || !p->assigned) {
        p = m->rkt ? trg_kafka_part_find(k, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        c->p = p;
        c->rkt = m->rkt;
    }
    return p;
}

/* Record m's krec at the end of p's list, as ev's token; false: out of memory. */
static bool link_event(struct kpart *p, const rd_kafka_message_t *m, struct trg_event *ev)
{
    struct krec *rec = link_record(p, m->offset);
    if (!rec)
        return false;
    rec->ts = ev->created_ms;
    ev->token = rec;
    return true;
}

/* Hand one record of partition p to the engine (which takes it, or holds it while the routes are full).
 * While the engine would hold it (format lambda), it holds the record itself instead (m, kept), and its
 * event and krec are made only when the engine hands it on (kafka_finish): a full hold costs what
 * librdkafka holds of the records anyway, and a record's krec is made warm, not read back cold. Held
 * records are not in p's list, and are handed on in order after everything in it: no offset is stored
 * past them. Returns true when m is kept (the caller must not destroy it). */
static bool emit_record(struct kafka *k, struct kpart *p, rd_kafka_message_t *m)
{
    struct trg_event *ev = NULL;
    bool skip = false;

    if (p->skip_ts) {
        if (rd_kafka_message_timestamp(m, NULL) < k->opts->starting_timestamp) {
            trg_source_count(k->src, "skipped_before_timestamp", 1);
            if (!skip_record(p, m->offset))
                lose_record(k, p, m);
            return false;
        }
        p->skip_ts = false;
        trg_info("kafka", k->name, "%s starts at offset %" PRId64 " (the first record at or after "
                 "starting_timestamp)", p->tp, m->offset);
    }
    if (k->opts->format == KAFKA_FORMAT_LAMBDA && trg_source_would_hold(k->src)) {
        size_t klen = 0;
        const char *key = order_key(k, p, m, &klen);
        if (key && trg_source_hold_ref(k->src, m, key, m->len + m->key_len) == 0)
            return true;
        /* out of memory (or stopping): not built as an event either, whose krec would go into p's list
         * ahead of the held records before it, and let an offset be stored past them */
        lose_record(k, p, m);
        return false;
    }
    if (!(ev = build_event(k, p, m, &skip))) {
        if (!skip || !skip_record(p, m->offset))
            lose_record(k, p, m);
        return false;
    }
    /* linked before it goes: done may follow from the engine's deferred work any time after */
    if (!link_event(p, m, ev)) {
        trg_event_free(ev);
        lose_record(k, p, m);
        return false;
    }
    if (trg_source_emit(k->src, ev) < 0) { /* the engine holds what the routes cannot take: out of memory */
        struct krec *rec = ev->token, **pp = &p->head, *prev = NULL;
        while (*pp != rec) { /* unlink the tail again */
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = NULL;
        p->tail = prev;
        trg_pool_put(&k->recs, rec);
        trg_event_free(ev);
        lose_record(k, p, m);
    }
    return false;
}

/* Destroy the records handed on since the last call. Each destroy drops a reference to the partition's
 * state that librdkafka's fetch thread takes one of per record: done one after another, they share that
 * cache line instead of pulling it over from the fetch thread every time (perf: a third of the cost). */
static void let_go_spent(struct kafka *k)
{
    for (int i = 0; i < k->n_spent; i++)
        rd_kafka_message_destroy(k->spent[i]);
    k->n_spent = 0;
}

/* ops->finish: the engine hands on a record it held (m): its event and krec now, m let go. NULL: out of
 * memory (unsent follows; p stores nothing past it from now on). */
static struct trg_event *kafka_finish(void *inst, void *ref)
{
    struct kafka *k = inst;
    rd_kafka_message_t *m = ref;
    struct kpart *p = part_of(k, m, &k->handed); /* assigned: a revoke drops its held records first */
    bool skip = false;
    struct trg_event *ev = p ? build_event(k, p, m, &skip) : NULL; /* format lambda: never skipped */
    if (ev && !link_event(p, m, ev)) {
        trg_event_free(ev);
        ev = NULL;
    }
    if (!ev) {
        if (p)
            lose_record(k, p, m);
        return NULL;
    }
    k->spent[k->n_spent++] = m;
    if (k->n_spent == KAFKA_SPENT)
        let_go_spent(k);
    return ev;
}

/* ops->unsent: a held record is dropped (a revoke, a stop, or it could not be built). It is not in its
 * partition's list and nothing after it is handed on, so no offset is stored past it: whoever reads the
 * partition next reads it again. */
static void kafka_unsent(void *inst, void *ref)
{
    (void)inst;
    rd_kafka_message_destroy(ref);
}

/* AT_TIMESTAMP: the partition has no committed offset (auto.offset.reset "error" said so, and left it
 * stopped). It is read from the oldest record, skipping the ones before starting_timestamp (librdkafka 2.0's
 * offsets-for-times blocks, so it is not used on the loop): marked here, re-assigned after the drain. */
static void start_at_timestamp(struct kafka *k, const char *topic, int32_t partition)
{
    struct kpart *p = trg_kafka_part_find(k, topic, partition);
    if (!p)
        return;
    p->skip_ts = true;
    p->reset = true;
    k->need_reset = true;
    trg_info("kafka", k->name, "%s has no committed offset: reading it from the oldest record and skipping to "
             "starting_timestamp %" PRId64, p->tp, k->opts->starting_timestamp);
}

/* Restart the partitions marked by start_at_timestamp at their oldest record (asynchronous calls only).
 * Cooperative: unassign and assign them again. Eager (assign() replaces the whole assignment): every other
 * partition is assigned again at its position (the record after the last one polled) or, when none was
 * polled yet, at its committed offset. */
static void reset_partitions(struct kafka *k)
{
    rd_kafka_topic_partition_list_t *cur = NULL, *mine = NULL;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(k->rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = 0;
    k->need_reset = false;
    if (k->stopping || rd_kafka_assignment(k->rk, &cur) != 0 || !cur)
        return;
    if (!(mine = rd_kafka_topic_partition_list_new(cur->cnt)))
        goto out;
    if (!coop)
        rd_kafka_position(k->rk, cur);
    for (int i = 0; i < cur->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &cur->elems[i];
        struct kpart *p = trg_kafka_part_find(k, tp->topic, tp->partition);
        if (p && !p->reset && p->fetch_next >= 0)
            tp->offset = p->fetch_next; /* rd_kafka_position knows nothing after a seek */
        if (p && p->reset) {
            p->reset = false;
            p->fetch_next = -1;
            tp->offset = RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_topic_partition_list_add(mine, tp->topic, tp->partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    if (mine->cnt == 0)
        goto out;
    if (coop) {
        if (!(error = rd_kafka_incremental_unassign(k->rk, mine)))
            error = rd_kafka_incremental_assign(k->rk, mine);
    } else {
        aerr = rd_kafka_assign(k->rk, cur);
    }
    if (error || aerr)
        trg_warn("kafka", k->name, "cannot restart %d partition(s) at their oldest record: %s", mine->cnt,
                 error ? rd_kafka_error_string(error) : rd_kafka_err2str(aerr));
    else if (k->paused_kafka)
        rd_kafka_pause_partitions(k->rk, coop ? mine : cur);
    if (error)
        rd_kafka_error_destroy(error);
out:
    if (mine)
        rd_kafka_topic_partition_list_destroy(mine);
    rd_kafka_topic_partition_list_destroy(cur);
}

static void on_message(struct kafka *k, rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt &&
        k->opts->starting_position == KAFKA_AT_TIMESTAMP) {
        start_at_timestamp(k, rd_kafka_topic_name(m->rkt), m->partition);
        rd_kafka_message_destroy(m);
        return;
    }
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            trg_warn("kafka", k->name, "consumer error%s%s: %s", m->rkt ? " on " : "",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : "", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    struct kpart *p = part_of(k, m, &k->polled);
    if (p) {
        if (m->offset < p->fetch_next) {
            rd_kafka_message_destroy(m); /* fetched again after wake_fetcher's seek: already polled */
            return;
        }
        p->fetch_next = m->offset + 1;
    }
    if (k->stopping) {
        rd_kafka_message_destroy(m); /* not emitted, not stored: the next owner reads it again */
        return;
    }
    if (!p || !emit_record(k, p, m))
        rd_kafka_message_destroy(m); /* without p: revoked since it was fetched */
}

static void drain(struct kafka *k)
{
    let_go_spent(k);
    if ((int64_t)rd_kafka_queue_length(k->queue) >= k->queued_min)
        k->fetch_idle = true;
    for (int i = 0; i < KAFKA_DRAIN_MAX; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);
        if (!m) {
            if (k->need_reset)
                reset_partitions(k);
            if (rd_kafka_queue_length(k->queue) > 0)
                continue; /* a callback was served */
            if (k->fetch_idle && !k->paused_kafka && !k->stopping)
                wake_fetcher(k);
            return;
        }
        on_message(k, m);
        if (k->need_reset)
            reset_partitions(k);
    }
    poke(k);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kafka *k = w->data;
    char buf[256];
    while (read(k->pipe_rd, buf, sizeof buf) > 0)
        ;
    drain(k);
}

/* ---- librdkafka callbacks (all served from the loop, inside rd_kafka_consumer_poll) ------------- */

/* trg_source_drop_held's match: a held event or record of partition arg. */
static bool held_of(const struct trg_event *ev, void *ref, void *arg)
{
    const struct kpart *p = arg;
    if (ev)
        return ev->token && ((const struct krec *)ev->token)->p == p;
    const rd_kafka_message_t *m = ref;
    return m->partition == p->partition && m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), p->topic);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    struct kafka *k = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = 0;

    k->rebalances++;
    k->joined = true;
    trg_source_count(k->src, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "rebalance_assign" : "rebalance_revoke", 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            struct kpart *p = trg_kafka_part_find(k, tp->topic, tp->partition);
            if (p)
                p->fetch_next = -1; /* fetching starts again at the committed offset */
            else if (!trg_kafka_part_add(k, tp->topic, tp->partition))
                trg_error("kafka", k->name, "out of memory tracking %s [%" PRId32 "]", tp->topic, tp->partition);
        }
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        if ((k->paused_kafka || k->stopping) && parts->cnt > 0)
            rd_kafka_pause_partitions(rk, parts);
        trg_info("kafka", k->name, "assigned %d partition(s) (%s rebalance)", parts->cnt, coop ? "cooperative" : "eager");
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            trg_warn("kafka", k->name, "rebalance failed: %s; giving up the assignment", rd_kafka_err2str(err));
        /* commit what is finished before the partitions go to another member */
        trg_kafka_commit(k, false);
        for (int i = 0; i < parts->cnt; i++) {
            struct kpart *p = trg_kafka_part_find(k, parts->elems[i].topic, parts->elems[i].partition);
            if (!p)
                continue;
            trg_source_drop_held(k->src, held_of, p); /* not emitted yet: the next owner reads them */
            p->assigned = false;
            trg_source_set_gauge(k->src, TRG_GAUGE_PARTITION_LAG, p->tp, -1);
            trg_kafka_part_advance(p); /* frees p once nothing of it is out */
        }
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        trg_info("kafka", k->name, "revoked %d partition(s); their records in flight finish without storing "
                 "offsets", parts->cnt);
    }
    if (error) {
        trg_warn("kafka", k->name, "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        trg_warn("kafka", k->name, "rebalance: %s", rd_kafka_err2str(aerr));
    }
}

void trg_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka *k = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        trg_error("kafka", k->name, "fatal client error: %s; restart trigd", reason);
    else
        trg_warn("kafka", k->name, "%s: %s (librdkafka retries; check the brokers if it lasts)",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

void trg_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct kafka *k = rd_kafka_opaque(rk);
    const char *name = k ? k->name : NULL;
    if (level <= 3)
        trg_error("kafka", name, "librdkafka %s: %s", fac, buf);
    else if (level <= 4)
        trg_warn("kafka", name, "librdkafka %s: %s", fac, buf);
    else if (level <= 6)
        trg_info("kafka", name, "librdkafka %s: %s", fac, buf);
    else
        trg_debug("kafka", name, "librdkafka %s: %s", fac, buf);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
                             void *opaque)
{
    struct kafka *k = opaque;
    (void)rk;
    (void)offsets;
    if (err == 0) {
        k->commits++;
        trg_source_count(k->src, "commits", 1);
    } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        trg_source_count(k->src, "commit_errors", 1);
        trg_warn("kafka", k->name, "offset commit failed: %s (retried at the next commit)", rd_kafka_err2str(err));
        k->need_commit = true;
    }
}

/* ---- ops --------------------------------------------------------------------------------------- */

static void kafka_destroy(void *inst);

static int kafka_create(struct trg_source *src, const void *opts, void **out)
{
    struct kafka *k = trg_calloc(1, sizeof *k);
    *out = NULL;
    if (!k)
        return TRG_ENOMEM;
    k->src = src;
    k->opts = opts;
    k->name = trg_source_name(src);
    k->loop = trg_source_loop(src);
    k->recs = (struct trg_pool)TRG_POOL_INIT(struct krec, 262144);
    k->pipe_rd = k->pipe_wr = -1;
    k->ppipe_rd = k->ppipe_wr = -1;
    ev_prepare_init(&k->store, trg_kafka_store_cb);
    k->store.data = k;
    ev_timer_init(&k->commit, commit_cb, (double)k->opts->commit_interval_ms / 1000.,
                  (double)k->opts->commit_interval_ms / 1000.);
    k->commit.data = k;
    trg_source_set_hold(src, (size_t)k->opts->max_buffered, (size_t)k->opts->max_buffered_bytes);
    *out = k;
    return 0;
}

static int kafka_start(void *inst)
{
    struct kafka *k = inst;
    char err[512];
    int fds[2];
    rd_kafka_conf_t *conf = trg_kafka_build_conf(k->opts, NULL, NULL);
    rd_kafka_topic_partition_list_t *topics = NULL;
    rd_kafka_resp_err_t rerr;

    if (!conf) {
        trg_error("kafka", k->name, "invalid librdkafka settings (trigd --check-config shows which)");
        return TRG_EINVAL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, trg_kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, trg_kafka_log_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        trg_error("kafka", k->name, "cannot create the consumer: %s", err);
        return TRG_EINVAL;
    }
    rd_kafka_set_log_queue(k->rk, NULL); /* logs join the main queue, forwarded below */
    rd_kafka_poll_set_consumer(k->rk);
    k->queue = rd_kafka_queue_get_consumer(k->rk);
    if (!k->queue || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        trg_error("kafka", k->name, "cannot set up the consumer queue: %s", strerror(errno));
        return TRG_EIO; /* destroy releases what exists */
    }
    k->pipe_rd = fds[0];
    k->pipe_wr = fds[1];
    char qmin[32];
    size_t qlen = sizeof qmin;
    k->queued_min = 100000;
    if (rd_kafka_conf_get(rd_kafka_conf(k->rk), "queued.min.messages", qmin, &qlen) == RD_KAFKA_CONF_OK)
        k->queued_min = strtoll(qmin, NULL, 10);
    rd_kafka_queue_io_event_enable(k->queue, k->pipe_wr, "1", 1);
    ev_io_init(&k->io, io_cb, k->pipe_rd, EV_READ);
    k->io.data = k;
    ev_io_start(k->loop, &k->io);
    ev_timer_start(k->loop, &k->commit);

    topics = rd_kafka_topic_partition_list_new((int)k->opts->topics.n);
    if (!topics)
        return TRG_ENOMEM;
    for (size_t i = 0; i < k->opts->topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, k->opts->topics.v[i], RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(k->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        trg_error("kafka", k->name, "cannot subscribe: %s (check topics)", rd_kafka_err2str(rerr));
        return TRG_EINVAL;
    }
    k->started = true;
    poke(k);
    trg_info("kafka", k->name, "consuming %zu topic(s) from %s as group \"%s\"", k->opts->topics.n,
             k->opts->brokers, k->opts->group);
    return 0;
}

static void kafka_stop(void *inst)
{
    struct kafka *k = inst;
    if (k->stopping)
        return;
    k->stopping = true;
    let_go_spent(k);
    if (!k->rk)
        return;
    set_kafka_paused(k, true);
    trg_kafka_commit(k, false);
}

static void kafka_destroy(void *inst)
{
    struct kafka *k = inst;
    if (!k)
        return;
    ev_io_stop(k->loop, &k->io);
    ev_prepare_stop(k->loop, &k->store);
    ev_timer_stop(k->loop, &k->commit);
    let_go_spent(k); /* rd_kafka_destroy waits for every record to be destroyed */
    if (k->rk) {
        k->stopping = true;
        /* shutdown only: a synchronous final commit, and leaving the group, bounded by librdkafka's
         * timeouts; the loop has nothing else to serve for this source any more */
        trg_kafka_commit(k, true);
        rd_kafka_consumer_close(k->rk);
    }
    if (k->queue)
        rd_kafka_queue_destroy(k->queue);
    if (k->rk)
        rd_kafka_destroy(k->rk);
    /* on_failure deliveries still out: their routes were abandoned (shutdown), so their callbacks only free */
    k->destroying = true;
    ev_io_stop(k->loop, &k->pio);
    while (k->fails) {
        struct kfail *f = k->fails;
        k->fails = f->next;
        f->done(f->arg, TRG_ESTATE, NULL);
        trg_free(f->topic);
        trg_free(f);
    }
    if (k->prk)
        rd_kafka_purge(k->prk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (k->pqueue)
        rd_kafka_queue_destroy(k->pqueue);
    if (k->prk)
        rd_kafka_destroy(k->prk);
    if (k->ppipe_rd >= 0)
        close(k->ppipe_rd);
    if (k->ppipe_wr >= 0)
        close(k->ppipe_wr);
    if (k->pipe_rd >= 0)
        close(k->pipe_rd);
    if (k->pipe_wr >= 0)
        close(k->pipe_wr);
    while (k->parts) {
        struct kpart *p = k->parts;
        k->parts = p->next;
        trg_kafka_part_free(p);
    }
    trg_pool_clear(&k->recs);
    trg_buf_free(&k->scratch);
    trg_buf_free(&k->scratch_id);
    trg_buf_free(&k->scratch_key);
    trg_free(k);
}

static void kafka_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    (void)inst;
    (void)res;
    struct krec *rec = ev->token;
    if (!rec)
        return;
    ev->token = NULL;
    rec->done = true;
    rec->abandoned = status != TRG_DONE_OK; /* abandoned or never sent: the stores stop at it */
    trg_kafka_part_advance(rec->p);
}

/* The engine's hold of this source's records is full (paused), or back at half: resume fetching while the
 * rest is handed on (librdkafka takes up to a second to fetch after a resume); librdkafka resumes at the
 * record after the last one read, so the order holds. */
static void kafka_pause(void *inst, bool paused)
{
    struct kafka *k = inst;
    if (paused || k->stopping) {
        set_kafka_paused(k, true);
        return;
    }
    if (k->paused_kafka) {
        set_kafka_paused(k, false);
        wake_fetcher(k); /* pausing purged the partitions' queued records: the consumer queue is empty */
    }
    poke(k);
}

static bool kafka_ready(void *inst)
{
    struct kafka *k = inst;
    return k->joined;
}

const struct trg_source_ops trg_source_kafka = {
    .name = "kafka",
    .route_defaults = "{\"batch_size\":100,\"batch_window_ms\":500,\"max_retry_attempts\":-1,"
                      "\"max_record_age_s\":-1}",
    .options = trg_kafka_options,
    .n_options = KAFKA_N_OPTIONS,
    .opts_size = sizeof(struct kafka_opts),
    .check = trg_kafka_check,
    .create = kafka_create,
    .start = kafka_start,
    .stop = kafka_stop,
    .destroy = kafka_destroy,
    .done = kafka_done,
    .finish = kafka_finish,
    .unsent = kafka_unsent,
    .pause = kafka_pause,
    .envelope = trg_kafka_source_envelope,
    .filter_view = trg_kafka_source_filter_view,
    .ready = kafka_ready,
    .batch_info = trg_kafka_source_batch_info,
    .failure_scheme = "kafka://",
    .on_failure = trg_kafka_on_failure,
};
