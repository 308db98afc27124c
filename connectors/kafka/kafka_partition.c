/* kafka_partition.c — a partition of the Kafka source: its records out, kept in offset order so the offset
 * stored is always behind the finished ones (stored once per loop pass, committed every
 * commit_interval_ms), and its lag. See kafka.c for how the consumer uses them. */
#include <inttypes.h>
#include <string.h>

#include "kafka.h"

struct kpart *trg_kafka_part_find(struct kafka *k, const char *topic, int32_t partition)
{
    for (struct kpart *p = k->parts; p; p = p->next)
        if (p->assigned && p->partition == partition && !strcmp(p->topic, topic))
            return p;
    return NULL;
}

void trg_kafka_part_free(struct kpart *p)
{
    struct krec *r, *n;
    for (r = p->head; r; r = n) {
        n = r->next;
        trg_pool_put(&p->k->recs, r);
    }
    trg_free(p->topic);
    trg_free(p->tp);
    trg_free(p);
}

void trg_kafka_part_unlink(struct kafka *k, struct kpart *p)
{
    if (k->polled.p == p)
        k->polled.p = NULL;
    if (k->handed.p == p)
        k->handed.p = NULL;
    for (struct kpart **pp = &k->parts; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

struct kpart *trg_kafka_part_add(struct kafka *k, const char *topic, int32_t partition)
{
    struct kpart *p = trg_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->k = k;
    p->partition = partition;
    p->topic = trg_strdup(topic);
    p->tp = trg_asprintf("%s-%" PRId32, topic, partition);
    p->store_next = -1;
    p->next_offset = -1;
    p->fetch_next = -1;
    p->assigned = true;
    if (!p->topic || !p->tp) {
        trg_kafka_part_free(p);
        return NULL;
    }
    p->next = k->parts;
    k->parts = p;
    return p;
}

/* Store the offsets of every dirty assigned partition, in one call. */
void trg_kafka_store_offsets(struct kafka *k)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    for (struct kpart *p = k->parts; p; p = p->next) {
        if (!p->dirty)
            continue;
        p->dirty = false;
        if (!p->assigned || p->store_next < 0)
            continue;
        if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
            return;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->store_next;
    }
    if (!l)
        return;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->rk, l);
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        trg_warn("kafka", k->name, "cannot store offsets: %s (they are stored again after the next record)",
                 rd_kafka_err2str(err));
    else
        k->need_commit = true;
    rd_kafka_topic_partition_list_destroy(l);
}

void trg_kafka_store_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct kafka *k = w->data;
    ev_prepare_stop(loop, w);
    trg_kafka_store_offsets(k);
}

/* Pop the finished prefix of p's records; the offset after it is the one to store, up to the first
 * abandoned record: from there on p is stuck and stores nothing more. */
void trg_kafka_part_advance(struct kpart *p)
{
    struct kafka *k = p->k;
    while (p->head && p->head->done) {
        struct krec *r = p->head;
        p->head = r->next;
        if (!p->head)
            p->tail = NULL;
        if (r->abandoned)
            p->stuck = true;
        if (!p->stuck) {
            p->store_next = r->offset + 1;
            p->dirty = true;
        }
        trg_pool_put(&k->recs, r);
    }
    if (p->dirty && p->assigned)
        ev_prepare_start(k->loop, &k->store);
    if (!p->assigned && !p->head) {
        trg_kafka_part_unlink(k, p);
        trg_kafka_part_free(p);
    }
}

void trg_kafka_commit(struct kafka *k, bool sync)
{
    if (!k->rk)
        return;
    trg_kafka_store_offsets(k);
    if (!k->need_commit)
        return;
    rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, NULL, sync ? 0 : 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        trg_warn("kafka", k->name, "commit failed: %s (retried at the next commit)", rd_kafka_err2str(err));
    else
        k->need_commit = false;
}

/* trigd_source_lag (summed) and trigd_source_partition_lag (per "topic-partition"), from the cached high
 * watermarks (no request); trigd_source_paused_partitions. */
void trg_kafka_update_lag(struct kafka *k)
{
    double lag = 0;
    int n = 0;
    for (struct kpart *p = k->parts; p; p = p->next) {
        int64_t lo = 0, hi = 0;
        if (!p->assigned)
            continue;
        n++;
        if (p->next_offset < 0)
            continue;
        if (rd_kafka_get_watermark_offsets(k->rk, p->topic, p->partition, &lo, &hi) == 0) {
            double plag = hi > p->next_offset ? (double)(hi - p->next_offset) : 0;
            lag += plag;
            trg_source_set_gauge(k->src, TRG_GAUGE_PARTITION_LAG, p->tp, plag);
        }
    }
    trg_source_set_lag(k->src, lag);
    trg_source_set_gauge(k->src, TRG_GAUGE_PAUSED_PARTITIONS, NULL, k->paused_kafka ? n : 0);
}
