/* kafka_batch.c — what the routes ask of a batch of Kafka records: the envelope the function receives
 * (Lambda's self-managed Kafka event, or merged MinIO records), the KafkaBatchInfo of an on-failure record,
 * and the view filters match. Redriven events carry no record token: the partition and offsets then come
 * from the item id ("tp@offset") and the record itself. */
#include <cjson/cJSON.h>
#include <string.h>

#include "kafka.h"
#include "kafka_event.h"

/* The tp of a batch: every event of a batch is of one partition (its order key). */
static const struct kpart *ev_part(const struct trg_event *ev)
{
    const struct krec *rec = ev->token;
    return rec ? rec->p : NULL;
}

int trg_kafka_source_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    struct kafka *k = inst;
    const char **recs = trg_calloc(n ? n : 1, sizeof *recs);
    size_t *lens = trg_calloc(n ? n : 1, sizeof *lens);
    const char *tp = "";
    int rc = TRG_ENOMEM;
    if (!recs || !lens)
        goto done;
    for (size_t i = 0; i < n; i++) {
        recs[i] = evs[i]->json;
        lens[i] = evs[i]->len;
    }
    /* the item id is "tp@offset": the tp without needing the token (redriven events have none) */
    char *tpbuf = NULL;
    if (n > 0 && evs[0]->item_id) {
        const char *at = strrchr(evs[0]->item_id, '@');
        tpbuf = at ? trg_strndup(evs[0]->item_id, (size_t)(at - evs[0]->item_id)) : NULL;
        if (at && !tpbuf)
            goto done;
        if (tpbuf)
            tp = tpbuf;
    } else if (n > 0 && ev_part(evs[0])) {
        tp = ev_part(evs[0])->tp;
    }
    rc = k->opts->format == KAFKA_FORMAT_MINIO ? trg_event_minio_merge(recs, lens, n, out)
                                               : trg_kafka_envelope(k->opts->brokers, tp, recs, lens, n, out);
    trg_free(tpbuf);
done:
    trg_free(recs);
    trg_free(lens);
    return rc;
}

/* offset and timestamp of a record object */
static void record_pos(const struct trg_event *ev, int64_t *offset, int64_t *ts)
{
    const struct krec *rec = ev->token;
    if (rec) {
        *offset = rec->offset;
        *ts = rec->ts;
        return;
    }
    cJSON *j = trg_json_parse(ev->json, ev->len, NULL);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "offset");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    *offset = cJSON_IsNumber(o) ? (int64_t)o->valuedouble : -1;
    *ts = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
    cJSON_Delete(j);
}

int trg_kafka_source_batch_info(void *inst, struct trg_event *const *evs, size_t n, size_t payload_size,
                            const char **key, struct trg_buf *out)
{
    struct kafka *k = inst;
    int64_t o0, t0, o1, t1;
    const char *at;
    char *tp;
    int rc;
    if (n == 0 || !evs[0]->item_id || !(at = strrchr(evs[0]->item_id, '@')))
        return 0;
    tp = trg_strndup(evs[0]->item_id, (size_t)(at - evs[0]->item_id));
    if (!tp)
        return TRG_ENOMEM;
    record_pos(evs[0], &o0, &t0);
    record_pos(evs[n - 1], &o1, &t1);
    rc = trg_kafka_batch_info(k->opts->brokers, tp, n, payload_size, o0, o1, t0, t1, out);
    trg_free(tp);
    if (rc == 0)
        *key = "KafkaBatchInfo";
    return rc;
}

cJSON *trg_kafka_source_filter_view(void *inst, const struct trg_event *ev)
{
    struct kafka *k = inst;
    if (k->opts->format == KAFKA_FORMAT_MINIO)
        return trg_json_parse(ev->json, ev->len, NULL); /* the S3 event, as for a minio source */
    return trg_kafka_filter_view(ev->json, ev->len);
}

