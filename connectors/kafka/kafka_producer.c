/* kafka_producer.c — routes with on_failure "kafka://TOPIC": the source's failed records produced to a
 * topic by a producer of its own, driven from the loop (its queue's IO-event pipe). */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../connector.h"
#include "kafka.h"
#include "kafka_event.h"


static void fail_finish(struct kfail *f)
{
    struct kafka *k = f->k;
    for (struct kfail **pp = &k->fails; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (f->err)
        trg_warn("kafka", k->name, "cannot produce failed records to \"%s\": %s (retried)", f->topic,
                 rd_kafka_err2str(f->err));
    char id[64];
    snprintf(id, sizeof id, "kafka://%s", f->topic);
    f->done(f->arg, f->err ? TRG_EIO : 0, f->err ? NULL : id);
    trg_free(f->topic);
    trg_free(f);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka *k = opaque;
    struct kfail *f = m->_private;
    (void)rk;
    if (!f || k->destroying)
        return;
    if (m->err)
        f->err = m->err;
    if (--f->pending == 0)
        fail_finish(f);
}

static void pio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kafka *k = w->data;
    char buf[256];
    while (read(k->ppipe_rd, buf, sizeof buf) > 0)
        ;
    for (int i = 0; i < KAFKA_DRAIN_MAX && rd_kafka_poll(k->prk, 0) > 0; i++)
        ;
    if (rd_kafka_queue_length(k->pqueue) > 0) {
        ssize_t n = write(k->ppipe_wr, "1", 1);
        (void)n;
    }
}

static int producer_start(struct kafka *k)
{
    char err[512];
    int fds[2];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return TRG_ENOMEM;
    /* the source's rdkafka settings (SASL, TLS); consumer-only keys are ignored by librdkafka */
    for (size_t i = 0; i < k->opts->rdkafka.n; i++)
        rd_kafka_conf_set(conf, k->opts->rdkafka.k[i], k->opts->rdkafka.v[i], err, sizeof err);
    const char *fixed[][2] = {
        {"bootstrap.servers", k->opts->brokers},
        {"client.id", k->opts->client_id ? k->opts->client_id : "trigd"},
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"message.timeout.ms", "30000"},
        {"log.queue", "true"},
    };
    for (size_t i = 0; i < TRG_ARRAY_SIZE(fixed); i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            trg_error("kafka", k->name, "on_failure producer: %s: %s", fixed[i][0], err);
            rd_kafka_conf_destroy(conf);
            return TRG_EINVAL;
        }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, trg_kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, trg_kafka_log_cb);
    k->prk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->prk) {
        rd_kafka_conf_destroy(conf);
        trg_error("kafka", k->name, "cannot create the on_failure producer: %s", err);
        return TRG_EINVAL;
    }
    rd_kafka_set_log_queue(k->prk, NULL);
    k->pqueue = rd_kafka_queue_get_main(k->prk);
    if (!k->pqueue || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        trg_error("kafka", k->name, "cannot set up the on_failure producer's queue: %s", strerror(errno));
        return TRG_EIO; /* destroy releases what exists */
    }
    k->ppipe_rd = fds[0];
    k->ppipe_wr = fds[1];
    rd_kafka_queue_io_event_enable(k->pqueue, k->ppipe_wr, "1", 1);
    ev_io_init(&k->pio, pio_cb, k->ppipe_rd, EV_READ);
    k->pio.data = k;
    ev_io_start(k->loop, &k->pio);
    /* the fd is signalled when the queue turns non-empty only: serve what arrived before */
    ssize_t wn = write(k->ppipe_wr, "1", 1);
    (void)wn;
    trg_info("kafka", k->name, "on_failure producer connecting to %s", k->opts->brokers);
    return 0;
}

/* The base64 string item name of o decoded into out; false when absent or null. */
static bool json_b64(const cJSON *o, const char *name, struct trg_buf *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it))
        return false;
    return trg_base64_decode(it->valuestring, strlen(it->valuestring), out) == 0;
}

/* Produce one failed record: its key, value and headers again (from the event's record JSON), plus the
 * x-trigd-* error headers. */
static rd_kafka_resp_err_t produce_failed(struct kafka *k, struct kfail *f, const struct trg_event *ev,
                                          const struct trg_failure_info *info)
{
    struct trg_buf key = {0}, val = {0}, hv = {0};
    bool has_key = false, has_val = false;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    cJSON *j = NULL;
    if (!hdrs)
        return err;
    if (k->opts->format == KAFKA_FORMAT_MINIO) {
        has_val = true; /* the record's S3 event; the original key and headers are not kept */
        if (trg_buf_add(&val, ev->json, ev->len) < 0)
            goto out;
    } else {
        if (!(j = trg_json_parse(ev->json, ev->len, NULL)))
            goto out;
        has_key = json_b64(j, "key", &key);
        has_val = json_b64(j, "value", &val);
        const cJSON *hs = cJSON_GetObjectItemCaseSensitive(j, "headers"), *h, *kv, *b;
        cJSON_ArrayForEach(h, hs) cJSON_ArrayForEach(kv, h)
        {
            trg_buf_reset(&hv);
            cJSON_ArrayForEach(b, kv) if (trg_buf_addc(&hv, (char)(unsigned char)b->valueint) < 0) goto out;
            rd_kafka_header_add(hdrs, kv->string, -1, hv.data ? hv.data : "", (ssize_t)hv.len);
        }
    }
    rd_kafka_header_add(hdrs, "x-trigd-condition", -1, info->condition, -1);
    rd_kafka_header_add(hdrs, "x-trigd-function", -1, info->function, -1);
    rd_kafka_header_add(hdrs, "x-trigd-error", -1, info->error ? info->error : "", -1);
    rd_kafka_header_add(hdrs, "x-trigd-request-id", -1, info->request_id ? info->request_id : "", -1);
    err = rd_kafka_producev(k->prk, RD_KAFKA_V_TOPIC(f->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(has_key ? key.data : NULL, has_key ? key.len : 0),
                            RD_KAFKA_V_VALUE(has_val ? val.data : NULL, has_val ? val.len : 0),
                            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(f), RD_KAFKA_V_END);
    if (!err)
        hdrs = NULL; /* the message owns them */
out:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    cJSON_Delete(j);
    trg_buf_free(&key);
    trg_buf_free(&val);
    trg_buf_free(&hv);
    return err;
}

int trg_kafka_on_failure(void *inst, const char *target, struct trg_event *const *evs, size_t n,
                            const struct trg_failure_info *info, trg_failure_cb done, void *arg)
{
    struct kafka *k = inst;
    static const char scheme[] = "kafka://";
    struct kfail *f;
    if (strncmp(target, scheme, sizeof scheme - 1) != 0 || n == 0)
        return TRG_EINVAL;
    if (!k->prk) {
        int rc = producer_start(k);
        if (rc < 0)
            return rc;
    }
    if (!(f = trg_calloc(1, sizeof *f)) || !(f->topic = trg_strdup(target + sizeof scheme - 1))) {
        trg_free(f);
        return TRG_ENOMEM;
    }
    f->k = k;
    f->done = done;
    f->arg = arg;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = produce_failed(k, f, evs[i], info);
        if (err) {
            f->err = err;
            break;
        }
        f->pending++;
    }
    if (f->pending == 0) {
        trg_warn("kafka", k->name, "cannot produce failed records to \"%s\": %s", f->topic, rd_kafka_err2str(f->err));
        trg_free(f->topic);
        trg_free(f);
        return TRG_EIO;
    }
    f->next = k->fails;
    k->fails = f;
    return 0;
}

