/* mqtt.c — the "mqtt" source: subscriptions on an MQTT broker (v5 or 3.1.1) become events.
 *
 * libmosquitto runs on trigd's loop, never on its own thread: mosquitto_socket() is watched by an
 * ev_io (read while not paused; write while mosquitto_want_write()), mosquitto_loop_read/write do
 * the I/O, and a 1 s ev_timer calls mosquitto_loop_misc() for keepalives. Connections are opened
 * with mosquitto_connect_bind_async()/mosquitto_reconnect_async() (a non-blocking socket), and the
 * watcher follows the socket whenever it changes. Lost connections are retried after a capped,
 * jittered exponential backoff; every (re)connect subscribes again.
 *
 * Delivery: libmosquitto acknowledges a QoS 1/2 message to the broker when the message callback
 * returns, so the message is handed to the engine inside that callback, and the engine holds what the
 * routes cannot take yet (trg_source_set_hold): it says pause at the first message it holds, and the
 * socket is not read until it says resume (the broker keeps QoS 1/2 messages of the persistent session).
 *
 * The options are mqtt_conf.c's and the connection mqtt_conn.c's (mqtt.h lists what each file offers).
 */
#include <errno.h>
#include <ev.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../connector.h"
#include "mqtt.h"
#include "mqtt_event.h"

static int mosquitto_refs; /* mosquitto_lib_init() once for every instance alive */

/* ---- messages -------------------------------------------------------------------------------- */

static struct trg_event *build_event(struct mqtt *m, const struct mosquitto_message *msg,
                                     const mosquitto_property *props)
{
    struct trg_mqtt_msg mm = {.topic = msg->topic, .payload = msg->payload, .len = (size_t)msg->payloadlen,
                              .qos = msg->qos, .retain = msg->retain, .timestamp_ms = trg_wall_ms(), .expiry_s = -1};
    char *keys[32], *values[32];
    size_t n_user = 0;
    char *content_type = NULL, *response_topic = NULL;
    void *corr = NULL;
    uint16_t corr_len = 0;
    uint32_t expiry = 0;
    struct trg_buf *json = &m->scratch;
    struct trg_event *ev = NULL;
    char id[64];
    size_t len;
    int err;

    snprintf(id, sizeof id, "%lld-%llu", (long long)m->boot_ms, (unsigned long long)++m->seq);
    mm.message_id = id;
    if (props) {
        char *k, *v;
        const mosquitto_property *p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &k, &v, false);
        while (p && n_user < TRG_ARRAY_SIZE(keys)) {
            keys[n_user] = k;
            values[n_user++] = v;
            p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &k, &v, true);
        }
        if (p) { /* more than we keep */
            free(k);
            free(v);
        }
        mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &content_type, false);
        mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
        mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
        if (mosquitto_property_read_int32(props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &expiry, false))
            mm.expiry_s = expiry;
    }
    mm.user_keys = (const char *const *)keys;
    mm.user_values = (const char *const *)values;
    mm.n_user = n_user;
    mm.content_type = content_type;
    mm.response_topic = response_topic;
    mm.correlation = corr;
    mm.correlation_len = corr_len;

    trg_buf_reset(json);
    if (m->opts->format == MQTT_FORMAT_MINIO) {
        err = trg_event_minio_records(msg->payload, (size_t)msg->payloadlen, json);
        if (err == TRG_EINVAL) {
            trg_warn("mqtt", m->name, "a message on %s is not a MinIO notification (no \"Records\"); skipped",
                     msg->topic);
            goto done;
        }
    } else {
        err = trg_mqtt_record(&mm, json);
    }
    if (err < 0)
        goto oom;
    len = json->len;
    ev = trg_event_new_packed(json->data, len, id, msg->topic, 0); /* the ordering unit is the topic */
    if (!ev)
        goto oom;
    ev->created_ms = mm.timestamp_ms;
    /* A request whose response is published back waits for its function in memory (the durable intake
     * would answer the source before the function has run, and nobody would publish the response). */
    ev->no_intake = m->opts->reply && response_topic;
    goto done;
oom:
    trg_error("mqtt", m->name, "out of memory building the event of a message on %s; the message is lost",
              msg->topic);
    m->lost++;
done:
    if (json->cap > SCRATCH_KEEP) /* a large message: do not keep its buffer for every later one */
        trg_buf_free(json);
    for (size_t i = 0; i < n_user; i++) {
        free(keys[i]);
        free(values[i]);
    }
    free(content_type);
    free(response_topic);
    free(corr);
    return ev;
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct mqtt *m = arg;
    struct trg_event *ev;
    uint32_t expiry;
    int err;
    (void)mosq;

    /* The broker forwards the expiry interval that is left; 0 means the message expired on the way. */
    if (props && mosquitto_property_read_int32(props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &expiry, false) &&
        expiry == 0) {
        m->expired++;
        trg_source_count(m->src, "expired", 1);
        trg_info("mqtt", m->name, "a message on %s expired before it could be invoked (%llu so far); skipped",
                 msg->topic, (unsigned long long)m->expired);
        return;
    }
    ev = build_event(m, msg, props);
    if (!ev)
        return;
    err = trg_source_emit(m->src, ev);
    if (err == 0)
        return;
    m->lost++;
    trg_error("mqtt", m->name, "a message on %s was dropped (%s) after the broker had its acknowledgement",
              msg->topic, trg_strerror(err));
    trg_event_free(ev);
}

/* ---- replies --------------------------------------------------------------------------------- */

static void mqtt_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    struct mqtt *m = inst;
    struct trg_buf corr = {0};
    mosquitto_property *props = NULL;
    char *topic = NULL;
    int rc;

    if (status == TRG_DONE_UNSENT) {
        m->unsent++; /* read, acknowledged, and held when the source stopped */
        return;
    }
    if (!m->opts->reply || status != TRG_DONE_OK || !res ||
        (res->outcome != TRG_OUT_SUCCESS && res->outcome != TRG_OUT_PARTIAL))
        return;
    if (trg_mqtt_reply_target(ev->json, ev->len, &topic, &corr) < 0)
        return; /* no response topic: nobody to answer */
    rc = MOSQ_ERR_SUCCESS;
    if (corr.len > 0 && corr.len <= 65535)
        rc = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr.data, (uint16_t)corr.len);
    if (rc == MOSQ_ERR_SUCCESS && res->content_type)
        rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, res->content_type);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_publish_v5(m->mosq, NULL, topic, res->body ? (int)res->body_len : 0, res->body, 1, false,
                                  props);
    if (rc != MOSQ_ERR_SUCCESS) {
        m->replies_failed++;
        trg_warn("mqtt", m->name, "could not publish the function's response to %s (%s); the requester gets none",
                 topic, mosquitto_strerror(rc));
    }
    mosquitto_property_free_all(&props);
    trg_buf_free(&corr);
    trg_free(topic);
    trg_mqtt_rearm(m);
}

/* ---- events ---------------------------------------------------------------------------------- */

static int mqtt_envelope(void *inst, struct trg_event *const *evs, size_t n, struct trg_buf *out)
{
    struct mqtt *m = inst;
    const char *stack_r[16];
    size_t stack_l[16];
    const char **recs = stack_r;
    size_t *lens = stack_l;
    int err;

    if (m->opts->format == MQTT_FORMAT_IOT && n == 1)
        return trg_mqtt_single(evs[0]->json, evs[0]->len, m->include, m->opts->include.n, out);
    if (m->opts->format == MQTT_FORMAT_MINIO && n == 1)
        return trg_buf_add(out, evs[0]->json, evs[0]->len);
    if (n > TRG_ARRAY_SIZE(stack_r)) {
        recs = trg_malloc(n * sizeof *recs);
        lens = trg_malloc(n * sizeof *lens);
        if (!recs || !lens) {
            err = TRG_ENOMEM;
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        recs[i] = evs[i]->json;
        lens[i] = evs[i]->len;
    }
    err = m->opts->format == MQTT_FORMAT_MINIO ? trg_event_minio_merge(recs, lens, n, out)
                                               : trg_mqtt_batch(recs, lens, n, out);
done:
    if (recs != stack_r)
        trg_free(recs);
    if (lens != stack_l)
        trg_free(lens);
    return err;
}

static cJSON *mqtt_filter_view(void *inst, const struct trg_event *ev)
{
    struct mqtt *m = inst;
    if (m->opts->format == MQTT_FORMAT_MINIO)
        return trg_json_parse(ev->json, ev->len, NULL);
    return trg_mqtt_filter_view(ev->json, ev->len);
}

static int mqtt_raw(void *inst, const struct trg_event *ev, struct trg_buf *out)
{
    struct mqtt *m = inst;
    if (m->opts->format == MQTT_FORMAT_MINIO)
        return trg_buf_add(out, ev->json, ev->len);
    return trg_mqtt_raw(ev->json, ev->len, out);
}

/* The engine holds a message the routes cannot take, and says pause: the socket is not read (keepalives go
 * on), so the broker keeps the QoS 1/2 messages, until it says resume (it handed on what it held). */
static void mqtt_pause(void *inst, bool paused)
{
    struct mqtt *m = inst;
    m->paused = paused;
    trg_mqtt_rearm(m);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void mqtt_free(struct mqtt *m)
{
    if (!m)
        return;
    if (m->mosq) {
        mosquitto_destroy(m->mosq);
        if (--mosquitto_refs == 0)
            mosquitto_lib_cleanup();
    }
    trg_buf_free(&m->scratch);
    for (size_t i = 0; i < m->n_subs; i++)
        trg_free(m->subs[i].filter);
    trg_free(m->subs);
    trg_free(m->include);
    trg_free(m->client_id);
    trg_free(m->host);
    trg_free(m);
}

static int mqtt_create(struct trg_source *src, const void *opts, void **out)
{
    const struct mqtt_opts *o = opts;
    struct mqtt *m = trg_calloc(1, sizeof *m);
    const cJSON *s;
    int err = TRG_ENOMEM;

    *out = NULL;
    if (!m)
        return TRG_ENOMEM;
    m->src = src;
    m->opts = o;
    m->name = trg_source_name(src);
    m->loop = trg_source_loop(src);
    m->io_fd = -1;
    m->boot_ms = trg_wall_ms();
    if (trg_mqtt_parse_url(o->url, &m->host, &m->port, &m->tls) < 0) {
        err = m->host ? TRG_EINVAL : TRG_ENOMEM;
        goto fail;
    }
    if (o->client_id) {
        m->client_id = trg_strdup(o->client_id);
    } else {
        char host[128] = "localhost";
        gethostname(host, sizeof host - 1);
        m->client_id = trg_asprintf("trigd-%s-%s", host, m->name);
    }
    if (!m->client_id)
        goto fail;
    m->n_subs = (size_t)cJSON_GetArraySize(o->subscriptions);
    m->subs = trg_calloc(m->n_subs ? m->n_subs : 1, sizeof *m->subs);
    if (!m->subs)
        goto fail;
    size_t i = 0;
    cJSON_ArrayForEach(s, o->subscriptions)
    {
        const cJSON *f = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "filter") : s;
        const cJSON *q = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "qos") : NULL;
        m->subs[i].qos = cJSON_IsNumber(q) ? q->valueint : 1;
        m->subs[i].filter = o->shared_group ? trg_asprintf("$share/%s/%s", o->shared_group, f->valuestring)
                                            : trg_strdup(f->valuestring);
        if (!m->subs[i++].filter)
            goto fail;
    }
    m->include = trg_calloc(o->include.n + 1, sizeof *m->include);
    if (!m->include)
        goto fail;
    for (size_t k = 0; k < o->include.n; k++)
        m->include[k] = o->include.v[k];

    if (mosquitto_refs++ == 0)
        mosquitto_lib_init();
    m->mosq = mosquitto_new(m->client_id, o->clean_start, m);
    if (!m->mosq) {
        if (--mosquitto_refs == 0)
            mosquitto_lib_cleanup();
        goto fail;
    }
    err = TRG_EINVAL;
    if (trg_mqtt_client_setup(m) != 0)
        goto fail;
    mosquitto_message_v5_callback_set(m->mosq, on_message);
    trg_mqtt_conn_init(m);
    trg_source_set_hold(src, MQTT_HOLD, (size_t)1 << 30);
    *out = m;
    return 0;
fail:
    mqtt_free(m);
    return err;
}

static int mqtt_start(void *inst)
{
    struct mqtt *m = inst;

    m->started = true;
    ev_timer_start(m->loop, &m->misc);
    trg_info("mqtt", m->name, "connecting to %s:%d%s (MQTT %s, client id %s, %zu subscription%s)", m->host, m->port,
             m->tls ? " over TLS" : "", m->opts->protocol == MQTT_V5 ? "5" : "3.1.1", m->client_id, m->n_subs,
             m->n_subs == 1 ? "" : "s");
    trg_mqtt_connect(m);
    return 0;
}

static void mqtt_stop(void *inst)
{
    struct mqtt *m = inst;

    if (!m->started)
        return;
    m->started = false;
    ev_timer_stop(m->loop, &m->reconnect);
    /* A clean DISCONNECT keeps the session (clean_start false): the broker holds what comes next. */
    if (m->connected) {
        mosquitto_disconnect_v5(m->mosq, 0, NULL);
        mosquitto_loop_write(m->mosq, 1);
    }
    m->connected = m->subscribed = m->connecting = false;
    /* keep the socket watched for writes only, for replies of the events still in flight */
    m->paused = true;
    trg_mqtt_rearm(m);
}

static void mqtt_destroy(void *inst)
{
    struct mqtt *m = inst;

    if (!m)
        return;
    mqtt_stop(m);
    ev_io_stop(m->loop, &m->io);
    ev_timer_stop(m->loop, &m->misc);
    ev_timer_stop(m->loop, &m->reconnect);
    if (m->unsent)
        trg_warn("mqtt", m->name, "%llu message(s) read from the broker were never handed on: the routes were "
                 "full when trigd stopped, and the broker already had their acknowledgement",
                 (unsigned long long)m->unsent);
    if (m->expired || m->lost || m->replies_failed)
        trg_info("mqtt", m->name, "%llu expired message(s) skipped, %llu lost, %llu replies not published",
                 (unsigned long long)m->expired, (unsigned long long)m->lost,
                 (unsigned long long)m->replies_failed);
    mqtt_free(m);
}

static bool mqtt_ready(void *inst)
{
    struct mqtt *m = inst;
    return m->connected && m->subscribed;
}

const struct trg_source_ops trg_source_mqtt = {
    .name = "mqtt",
    .route_defaults = "{\"batch_size\":1,\"max_retry_attempts\":2,\"max_record_age_s\":21600}",
    .options = trg_mqtt_options,
    .n_options = MQTT_N_OPTIONS,
    .opts_size = sizeof(struct mqtt_opts),
    .check = trg_mqtt_check,
    .create = mqtt_create,
    .start = mqtt_start,
    .stop = mqtt_stop,
    .destroy = mqtt_destroy,
    .done = mqtt_done,
    .pause = mqtt_pause,
    .raw = mqtt_raw,
    .envelope = mqtt_envelope,
    .filter_view = mqtt_filter_view,
    .ready = mqtt_ready,
    .durable_intake = true,
};
