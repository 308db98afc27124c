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
 * returns, so the message is handed to the engine inside that callback. While a route is full the
 * socket is not read (the broker keeps QoS 1/2 messages of the persistent session); messages that
 * were already read when the routes filled up wait in a small local backlog.
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
#include "mqtt_event.h"

enum mqtt_protocol { MQTT_V5, MQTT_V311 };
enum mqtt_format { MQTT_FORMAT_IOT, MQTT_FORMAT_MINIO };

struct mqtt_opts {
    char *url;
    char *client_id;
    char *username;
    char *password;
    char *ca_file;
    char *cert_file;
    char *key_file;
    bool tls_insecure;
    int protocol;
    int64_t keepalive_s;
    bool clean_start;
    int64_t session_expiry_s;
    cJSON *subscriptions;
    char *shared_group;
    int format;
    struct trg_strlist include;
    bool reply;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
};

static const char *const mqtt_protocols[] = {"5", "3.1.1", NULL};
static const char *const mqtt_formats[] = {"iot", "minio", NULL};

#define O(f) offsetof(struct mqtt_opts, f)
static const struct trg_opt mqtt_options[] = {
    {"url", TRG_OPT_STRING, NULL, 0, 0, NULL, O(url),
     "Broker address: mqtt://host:port (default port 1883) or mqtts://host:port (TLS, default port 8883).",
     NULL, TRG_OPT_REQUIRED},
    {"client_id", TRG_OPT_STRING, NULL, 0, 0, NULL, O(client_id),
     "MQTT client id; default trigd-HOSTNAME-SOURCE, stable so the broker keeps the session across "
     "restarts (replicas on one host need distinct ids).", NULL, 0},
    {"username", TRG_OPT_STRING, NULL, 0, 0, NULL, O(username), "User name sent in CONNECT.", NULL, 0},
    {"password", TRG_OPT_SECRET, NULL, 0, 0, NULL, O(password),
     "Password sent in CONNECT (password_env or password_file); needs username.", NULL, 0},
    {"ca_file", TRG_OPT_STRING, NULL, 0, 0, NULL, O(ca_file),
     "PEM file of the CAs that sign the broker's certificate (mqtts; default: the system's CAs).", NULL, 0},
    {"cert_file", TRG_OPT_STRING, NULL, 0, 0, NULL, O(cert_file),
     "PEM client certificate for mutual TLS (with key_file).", NULL, 0},
    {"key_file", TRG_OPT_STRING, NULL, 0, 0, NULL, O(key_file), "PEM private key of cert_file.", NULL, 0},
    {"tls_insecure", TRG_OPT_BOOL, "false", 0, 0, NULL, O(tls_insecure),
     "Do not check that the broker's certificate names its host (testing only).", NULL, 0},
    {"protocol", TRG_OPT_ENUM, "\"5\"", 0, 0, NULL, O(protocol), "MQTT protocol version.", mqtt_protocols, 0},
    {"keepalive_s", TRG_OPT_INT, "30", 5, 65535, "s", O(keepalive_s),
     "Keepalive interval: a PINGREQ is sent when nothing else was, and a silent broker is dropped.", NULL, 0},
    {"clean_start", TRG_OPT_BOOL, "false", 0, 0, NULL, O(clean_start),
     "Start a new session on connect; false keeps the persistent session, so QoS 1/2 messages published "
     "while trigd is away are delivered when it returns.", NULL, 0},
    {"session_expiry_s", TRG_OPT_INT, "86400", 0, 4294967295LL, "s", O(session_expiry_s),
     "MQTT v5: how long the broker keeps the session after a disconnect (4294967295 = forever).", NULL, 0},
    {"subscriptions", TRG_OPT_JSON, NULL, 0, 0, NULL, O(subscriptions),
     "List of topic filters, each \"filter\" or {\"filter\": \"a/+/b/#\", \"qos\": 0-2 (default 1)}.", NULL,
     TRG_OPT_REQUIRED},
    {"shared_group", TRG_OPT_STRING, NULL, 0, 0, NULL, O(shared_group),
     "Subscribe as $share/GROUP/filter so that the replicas in GROUP split the messages.", NULL, 0},
    {"format", TRG_OPT_ENUM, "\"iot\"", 0, 0, NULL, O(format),
     "iot: the payload itself (IoT rule style) or a records batch; minio: MinIO bucket notifications "
     "unwrapped into the S3 Records event.", mqtt_formats, 0},
    {"include", TRG_OPT_STRLIST, "[]", 0, 0, NULL, O(include),
     "Metadata merged into a single message's event: messageId, topic, qos, retain, timestamp, properties.",
     NULL, 0},
    {"reply", TRG_OPT_BOOL, "false", 0, 0, NULL, O(reply),
     "MQTT v5: publish the function's response to the message's response topic, with its correlation data.",
     NULL, 0},
    {"reconnect_min_ms", TRG_OPT_INT, "500", 10, 600000, "ms", O(reconnect_min_ms),
     "First reconnect delay; doubled per failed attempt, jittered.", NULL, 0},
    {"reconnect_max_ms", TRG_OPT_INT, "30000", 10, 3600000, "ms", O(reconnect_max_ms),
     "Longest reconnect delay.", NULL, 0},
};
#undef O

struct mqtt_sub {
    char *filter; /* as subscribed: $share/GROUP/filter with shared_group */
    int qos;
    int mid;      /* of the pending SUBSCRIBE, 0 when acknowledged */
};

/* Scratch buffers bigger than this are freed after use rather than kept. */
#define SCRATCH_KEEP 65536

struct mqtt {
    struct trg_buf scratch;     /* a message's record is built here, then packed with its event */
    struct trg_source *src;
    const struct mqtt_opts *opts;
    const char *name;
    struct ev_loop *loop;
    struct mosquitto *mosq;
    char *host;
    int port;
    bool tls;
    char *client_id;
    struct mqtt_sub *subs;
    size_t n_subs;
    const char **include; /* opts->include as an array */

    ev_io io;
    int io_fd;
    int io_events;
    ev_timer misc;      /* 1 s: mosquitto_loop_misc (keepalive) */
    ev_timer reconnect; /* backoff before the next connection attempt */
    ev_idle flush;      /* emits the backlog once the routes have room */

    bool started, connected, subscribed, paused, connecting;
    bool notified;      /* on_disconnect ran (and logged) during the current libmosquitto call */
    char tls_err[256];  /* libmosquitto's first OpenSSL error of the current connection attempt */
    char why[512];
    unsigned attempts;  /* failed connection attempts in a row */
    uint64_t seq;
    int64_t boot_ms;

    struct trg_event **backlog; /* read from the broker while the routes were full (or Redis down) */
    size_t n_backlog, cap_backlog;
    size_t n_requeued;          /* at the backlog's head: events the durable intake could not store */
    uint64_t expired, lost, replies_failed;
};

static int mosquitto_refs; /* mosquitto_lib_init() once for every instance alive */

/* ---- options --------------------------------------------------------------------------------- */

static void check_err(struct trg_errs *errs, const char *path, const char *key, const char *msg)
{
    char *p = trg_asprintf("%s.%s", path ? path : "$", key);
    trg_errs_add(errs, p ? p : path, "%s", msg);
    trg_free(p);
}

static bool filter_valid(const char *f)
{
    size_t n = strlen(f);

    if (n == 0 || n > 65535)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool start = i == 0 || f[i - 1] == '/';
        bool end = i + 1 == n || f[i + 1] == '/';
        if (f[i] == '+' && !(start && end))
            return false;
        if (f[i] == '#' && !(start && i + 1 == n))
            return false;
    }
    return true;
}

static void mqtt_check(const void *opts, const char *path, struct trg_errs *errs)
{
    const struct mqtt_opts *o = opts;
    char *host = NULL;
    int port;
    bool tls;

    if (o->url && trg_mqtt_parse_url(o->url, &host, &port, &tls) < 0)
        check_err(errs, path, "url", "must be mqtt://host[:port] or mqtts://host[:port]");
    trg_free(host);
    if (o->subscriptions) {
        const cJSON *s;
        if (!cJSON_IsArray(o->subscriptions) || cJSON_GetArraySize(o->subscriptions) == 0)
            check_err(errs, path, "subscriptions", "must be a non-empty list of filters");
        for (s = cJSON_IsArray(o->subscriptions) ? o->subscriptions->child : NULL; s; s = s->next) {
            const cJSON *f = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "filter") : s;
            const cJSON *q = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "qos") : NULL;
            bool ok = cJSON_IsString(f) && filter_valid(f->valuestring);
            if (cJSON_IsObject(s))
                for (const cJSON *k = s->child; k; k = k->next)
                    ok = ok && (!strcmp(k->string, "filter") || !strcmp(k->string, "qos"));
            if (q && (!cJSON_IsNumber(q) || q->valuedouble < 0 || q->valuedouble > 2 ||
                      q->valuedouble != (double)q->valueint))
                ok = false;
            if (!ok) {
                check_err(errs, path, "subscriptions",
                          "each entry must be a topic filter (\"+\" and \"#\" only as whole levels, \"#\" last) "
                          "or {\"filter\": ..., \"qos\": 0|1|2}");
                break;
            }
        }
    }
    for (size_t i = 0; i < o->include.n; i++) {
        if (!trg_mqtt_include_known(o->include.v[i])) {
            check_err(errs, path, "include",
                      "knows messageId, topic, qos, retain, timestamp and properties");
            break;
        }
    }
    if (o->password && !o->username)
        check_err(errs, path, "username", "is needed with a password");
    if ((o->cert_file == NULL) != (o->key_file == NULL))
        check_err(errs, path, "cert_file", "and key_file go together");
    if (o->shared_group && (!*o->shared_group || strpbrk(o->shared_group, "/+#")))
        check_err(errs, path, "shared_group", "must be a non-empty name without '/', '+' or '#'");
    if (o->reply && o->protocol != MQTT_V5)
        check_err(errs, path, "reply", "needs protocol 5 (response topics are an MQTT v5 feature)");
    if (o->reconnect_min_ms > o->reconnect_max_ms)
        check_err(errs, path, "reconnect_min_ms", "must not exceed reconnect_max_ms");
}

/* ---- watchers -------------------------------------------------------------------------------- */

/* Make the io watcher follow libmosquitto's socket and what it wants. */
static void rearm(struct mqtt *m)
{
    int fd = m->mosq ? mosquitto_socket(m->mosq) : -1;
    int events = 0;

    if (fd >= 0) {
        if (!m->paused && m->n_backlog == 0)
            events |= EV_READ;
        if (mosquitto_want_write(m->mosq) || m->connecting)
            events |= EV_WRITE;
    }
    if (fd == m->io_fd && events == m->io_events)
        return;
    ev_io_stop(m->loop, &m->io);
    m->io_fd = fd;
    m->io_events = events;
    if (fd >= 0 && events) {
        ev_io_set(&m->io, fd, events);
        ev_io_start(m->loop, &m->io);
    }
}

static void schedule_reconnect(struct mqtt *m)
{
    int64_t ms;

    if (!m->started || ev_is_active(&m->reconnect))
        return;
    ms = trg_source_reconnect_delay_ms(m->src, (int)m->attempts, m->opts->reconnect_min_ms, m->opts->reconnect_max_ms);
    m->attempts++;
    ev_timer_set(&m->reconnect, (double)ms / 1000., 0.);
    ev_timer_start(m->loop, &m->reconnect);
    trg_debug("mqtt", m->name, "next connection attempt in %lld ms", (long long)ms);
}

/* A connection error in words; a TLS one with OpenSSL's reason and what to check. */
static const char *why(struct mqtt *m, int rc)
{
    if (rc == MOSQ_ERR_ERRNO)
        return strerror(errno);
    if (rc != MOSQ_ERR_TLS || !m->tls_err[0])
        return mosquitto_strerror(rc);
    snprintf(m->why, sizeof m->why, "TLS: %s; check ca_file (the CA of the broker's certificate), the host name "
             "in the broker's certificate, cert_file and key_file", m->tls_err);
    return m->why;
}

static void on_log(struct mosquitto *mosq, void *arg, int level, const char *str)
{
    struct mqtt *m = arg;
    const char *p;
    (void)mosq;
    /* libmosquitto reports OpenSSL's reasons only here ("OpenSSL Error[0]: error:...:certificate verify failed") */
    if (level == MOSQ_LOG_ERR && !m->tls_err[0] && strncmp(str, "OpenSSL Error", 13) == 0) {
        p = strstr(str, ": ");
        snprintf(m->tls_err, sizeof m->tls_err, "%s", p ? p + 2 : str);
    }
}

static const char *reason(const struct mqtt *m, int rc)
{
    return m->opts->protocol == MQTT_V5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

/* ---- connection ------------------------------------------------------------------------------ */

static void do_connect(struct mqtt *m)
{
    int rc;

    m->connecting = true;
    m->tls_err[0] = '\0';
    if (m->attempts == 0 && mosquitto_socket(m->mosq) < 0 && !m->connected)
        rc = mosquitto_connect_bind_async(m->mosq, m->host, m->port, (int)m->opts->keepalive_s, NULL);
    else
        rc = mosquitto_reconnect_async(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        m->connecting = false;
        trg_warn("mqtt", m->name, "cannot connect to %s:%d (%s); retrying", m->host, m->port, why(m, rc));
        schedule_reconnect(m);
    }
    rearm(m);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mqtt *m = t->data;
    (void)loop;
    (void)revents;
    if (m->started && !m->connected)
        do_connect(m);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags, const mosquitto_property *props)
{
    struct mqtt *m = arg;
    (void)props;

    m->connecting = false;
    if (rc != 0) {
        trg_error("mqtt", m->name, "broker %s:%d refused the connection: %s%s", m->host, m->port, reason(m, rc),
                  (rc == 4 || rc == 5 || rc == 134 || rc == 135) ? " (check username and password_env)" : "");
        return; /* the broker closes the connection; on_disconnect retries */
    }
    m->connected = true;
    m->attempts = 0;
    m->subscribed = false;
    trg_info("mqtt", m->name, "connected to %s:%d as %s (%s)", m->host, m->port, m->client_id,
             (flags & 1) ? "session resumed" : "new session");
    /* Subscribe again every time: a new session has none, and a resumed one takes it as a no-op (v5: the
     * retained messages are not sent again for a subscription that already exists). */
    for (size_t i = 0; i < m->n_subs; i++) {
        int opts = m->opts->protocol == MQTT_V5 ? MQTT_SUB_OPT_SEND_RETAIN_NEW : 0;
        int err = mosquitto_subscribe_v5(mosq, &m->subs[i].mid, m->subs[i].filter, m->subs[i].qos, opts, NULL);
        if (err != MOSQ_ERR_SUCCESS) {
            trg_error("mqtt", m->name, "cannot subscribe to %s: %s", m->subs[i].filter, mosquitto_strerror(err));
            m->subs[i].mid = 0;
        }
    }
}

static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
    struct mqtt *m = arg;
    bool all = true;
    (void)mosq;
    (void)props;

    for (size_t i = 0; i < m->n_subs; i++) {
        if (m->subs[i].mid == mid) {
            m->subs[i].mid = 0;
            if (n < 1 || granted[0] >= 128)
                trg_error("mqtt", m->name, "the broker refused the subscription to %s: %s (check the broker's ACL)",
                          m->subs[i].filter, n < 1 ? "no reason given" : mosquitto_reason_string(granted[0]));
            else
                trg_info("mqtt", m->name, "subscribed to %s (QoS %d granted)", m->subs[i].filter, granted[0]);
        }
        all = all && m->subs[i].mid == 0;
    }
    m->subscribed = all;
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc, const mosquitto_property *props)
{
    struct mqtt *m = arg;
    (void)mosq;
    (void)props;

    bool was = m->connected;
    m->connected = m->subscribed = m->connecting = false;
    m->notified = true;
    if (!m->started)
        return;
    if (was)
        trg_warn("mqtt", m->name, "lost the connection to %s:%d (%s); reconnecting", m->host, m->port, why(m, rc));
    else
        trg_warn("mqtt", m->name, "could not connect to %s:%d (%s); retrying", m->host, m->port, why(m, rc));
    schedule_reconnect(m);
}

/* ---- messages -------------------------------------------------------------------------------- */

static bool backlog_push(struct mqtt *m, struct trg_event *ev)
{
    if (m->n_backlog == m->cap_backlog) {
        size_t cap = m->cap_backlog ? 2 * m->cap_backlog : 16;
        struct trg_event **b = trg_realloc(m->backlog, cap * sizeof *b);
        if (!b)
            return false;
        m->backlog = b;
        m->cap_backlog = cap;
    }
    m->backlog[m->n_backlog++] = ev;
    return true;
}

/* Emit the backlog in order while the routes take it. */
static void backlog_flush(struct mqtt *m)
{
    size_t i = 0;

    while (i < m->n_backlog) {
        int err = trg_source_emit(m->src, m->backlog[i]);
        if (err == TRG_EFULL)
            break;
        if (err < 0) {
            m->lost++;
            trg_error("mqtt", m->name, "a message on %s was dropped (%s): trigd is stopping, and the broker "
                      "already had its acknowledgement", m->backlog[i]->order_key, trg_strerror(err));
            trg_event_free(m->backlog[i]);
        }
        i++;
    }
    if (i == 0)
        return; /* nothing taken (and the backlog may not even be allocated) */
    memmove(m->backlog, m->backlog + i, (m->n_backlog - i) * sizeof *m->backlog);
    m->n_backlog -= i;
    m->n_requeued = m->n_requeued > i ? m->n_requeued - i : 0;
}

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
    if (m->n_backlog > 0) {
        err = TRG_EFULL; /* keep the order: behind what is waiting */
    } else {
        err = trg_source_emit(m->src, ev);
        if (err == 0)
            return;
    }
    if (err == TRG_EFULL && backlog_push(m, ev)) {
        m->paused = true; /* read nothing more until the backlog has gone */
        return;
    }
    m->lost++;
    trg_error("mqtt", m->name, "a message on %s was dropped (%s) after the broker had its acknowledgement",
              msg->topic, trg_strerror(err == TRG_EFULL ? TRG_ENOMEM : err));
    trg_event_free(ev);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void after_loop_call(struct mqtt *m, int rc)
{
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN)
        return;
    /* libmosquitto closed the socket; on_disconnect logged it unless it was not called (a failed handshake) */
    if (!m->notified)
        trg_warn("mqtt", m->name, "%s %s:%d failed (%s); %s", m->connected ? "the connection to" : "connecting to",
                 m->host, m->port, why(m, rc), m->connected ? "reconnecting" : "retrying");
    m->connected = m->subscribed = m->connecting = false;
    schedule_reconnect(m);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mqtt *m = w->data;
    int rc = MOSQ_ERR_SUCCESS;
    (void)loop;

    m->notified = false;
    if (revents & EV_WRITE) {
        m->connecting = false;
        rc = mosquitto_loop_write(m->mosq, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS && (revents & EV_READ)) {
        /* drain what is readable (one call reads a few packets), stopping when the routes fill up */
        for (int i = 0; i < 64 && rc == MOSQ_ERR_SUCCESS && !m->paused && m->n_backlog == 0; i++) {
            errno = 0;
            rc = mosquitto_loop_read(m->mosq, 1);
            if (errno == EAGAIN || errno == EWOULDBLOCK || mosquitto_socket(m->mosq) < 0)
                break;
        }
    }
    after_loop_call(m, rc);
    rearm(m);
}

static void misc_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mqtt *m = t->data;
    (void)loop;
    (void)revents;
    m->notified = false;
    if (mosquitto_socket(m->mosq) >= 0)
        after_loop_call(m, mosquitto_loop_misc(m->mosq));
    rearm(m);
}

static void flush_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct mqtt *m = w->data;
    (void)revents;
    ev_idle_stop(loop, w);
    backlog_flush(m);
    if (m->n_backlog == 0)
        m->paused = !trg_source_can_accept(m->src);
    rearm(m);
}

static void mqtt_pause(void *inst, bool paused)
{
    struct mqtt *m = inst;

    /* An MQTT subscription cannot be paused: stop reading the socket instead (keepalives go on), so
     * the broker holds the QoS 1/2 messages. */
    m->paused = paused || m->n_backlog > 0;
    if (!paused && m->started)
        ev_idle_start(m->loop, &m->flush); /* emit the backlog from the loop, not from inside the engine */
    rearm(m);
}

/* ---- replies --------------------------------------------------------------------------------- */

static void mqtt_done(void *inst, struct trg_event *ev, int status, const struct trg_invoke_result *res)
{
    struct mqtt *m = inst;
    struct trg_buf corr = {0};
    mosquitto_property *props = NULL;
    char *topic = NULL;
    int rc;

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
    rearm(m);
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

static void mqtt_accepted(void *inst, struct trg_event *ev, int err)
{
    struct mqtt *m = inst;
    struct trg_event *copy;

    if (err >= 0)
        return;
    /* The durable intake could not store it (Redis went away with the XADD in flight): keep a copy at the
     * head of the backlog, in order, stop reading, and store it again once Redis is back. */
    copy = trg_event_new_copy(ev->json, ev->len);
    if (copy) {
        copy->created_ms = ev->created_ms;
        copy->no_intake = ev->no_intake;
        copy->item_id = ev->item_id ? trg_strdup(ev->item_id) : NULL;
        copy->order_key = ev->order_key ? trg_strdup(ev->order_key) : NULL;
    }
    if (copy && (!ev->item_id || copy->item_id) && (!ev->order_key || copy->order_key) && backlog_push(m, copy)) {
        memmove(m->backlog + m->n_requeued + 1, m->backlog + m->n_requeued,
                (m->n_backlog - 1 - m->n_requeued) * sizeof *m->backlog);
        m->backlog[m->n_requeued++] = copy;
        m->paused = true;
        trg_warn("mqtt", m->name, "a message on %s could not be stored (%s): kept, and stored again when Redis "
                 "is back (not reading meanwhile)", ev->order_key ? ev->order_key : "?", trg_strerror(err));
        rearm(m);
        return;
    }
    trg_event_free(copy);
    m->lost++;
    trg_error("mqtt", m->name, "a message on %s could not be stored (%s) and is lost: the broker already had "
              "its acknowledgement (%llu lost so far)", ev->order_key ? ev->order_key : "?", trg_strerror(err),
              (unsigned long long)m->lost);
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
    for (size_t i = 0; i < m->n_backlog; i++)
        trg_event_free(m->backlog[i]);
    trg_free(m->backlog);
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
    int err = TRG_ENOMEM, rc;

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
    rc = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                              o->protocol == MQTT_V5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (rc == MOSQ_ERR_SUCCESS && o->username)
        rc = mosquitto_username_pw_set(m->mosq, o->username, o->password);
    if (rc == MOSQ_ERR_SUCCESS && m->tls) {
        if (o->ca_file)
            rc = mosquitto_tls_set(m->mosq, o->ca_file, NULL, o->cert_file, o->key_file, NULL);
        else
            rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        if (rc == MOSQ_ERR_SUCCESS && !o->ca_file && o->cert_file)
            rc = mosquitto_tls_set(m->mosq, NULL, "/etc/ssl/certs", o->cert_file, o->key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_insecure_set(m->mosq, o->tls_insecure);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        trg_error("mqtt", m->name, "cannot set up the MQTT client: %s (check ca_file, cert_file and key_file)",
                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        goto fail;
    }
    if (o->protocol == MQTT_V5 && !o->clean_start) {
        /* v5 keeps a session only as long as CONNECT's Session Expiry Interval says. libmosquitto 2.0 has
         * no non-blocking connect that takes CONNECT properties, but mosquitto_connect_bind_v5() stores them
         * (for every later connect and reconnect) before it validates its arguments: an invalid port
         * makes it return there, before any I/O. The async connect then sends them. */
        mosquitto_property *props = NULL;
        rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, (uint32_t)o->session_expiry_s);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_connect_bind_v5(m->mosq, m->host, -1, (int)o->keepalive_s, NULL, props);
        mosquitto_property_free_all(&props);
        if (rc != MOSQ_ERR_INVAL) {
            trg_error("mqtt", m->name, "cannot set the session expiry interval: %s", mosquitto_strerror(rc));
            goto fail;
        }
    }
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
    mosquitto_message_v5_callback_set(m->mosq, on_message);
    mosquitto_log_callback_set(m->mosq, on_log);

    ev_init(&m->io, io_cb);
    m->io.data = m;
    ev_timer_init(&m->misc, misc_cb, 1., 1.);
    m->misc.data = m;
    ev_timer_init(&m->reconnect, reconnect_cb, 0., 0.);
    m->reconnect.data = m;
    ev_idle_init(&m->flush, flush_cb);
    m->flush.data = m;
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
             m->tls ? " over TLS" : "", mqtt_protocols[m->opts->protocol], m->client_id, m->n_subs,
             m->n_subs == 1 ? "" : "s");
    do_connect(m);
    return 0;
}

static void mqtt_stop(void *inst)
{
    struct mqtt *m = inst;

    if (!m->started)
        return;
    m->started = false;
    ev_timer_stop(m->loop, &m->reconnect);
    ev_idle_stop(m->loop, &m->flush);
    /* A clean DISCONNECT keeps the session (clean_start false): the broker holds what comes next. */
    if (m->connected) {
        mosquitto_disconnect_v5(m->mosq, 0, NULL);
        mosquitto_loop_write(m->mosq, 1);
    }
    m->connected = m->subscribed = m->connecting = false;
    /* keep the socket watched for writes only, for replies of the events still in flight */
    m->paused = true;
    rearm(m);
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
    ev_idle_stop(m->loop, &m->flush);
    if (m->n_backlog)
        trg_warn("mqtt", m->name, "%zu message%s read from the broker were never handed on", m->n_backlog,
                 m->n_backlog == 1 ? "" : "s");
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
    .options = mqtt_options,
    .n_options = TRG_ARRAY_SIZE(mqtt_options),
    .opts_size = sizeof(struct mqtt_opts),
    .check = mqtt_check,
    .create = mqtt_create,
    .start = mqtt_start,
    .stop = mqtt_stop,
    .destroy = mqtt_destroy,
    .done = mqtt_done,
    .pause = mqtt_pause,
    .accepted = mqtt_accepted,
    .raw = mqtt_raw,
    .envelope = mqtt_envelope,
    .filter_view = mqtt_filter_view,
    .ready = mqtt_ready,
    .durable_intake = true,
};
