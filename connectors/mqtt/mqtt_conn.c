/* mqtt_conn.c — the MQTT source's connection to its broker, on trigd's loop (see mqtt.c): the client's
 * settings, connecting and reconnecting with backoff, subscribing on every connect, and the socket and
 * keepalive watchers that drive libmosquitto. */
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

/* Make the io watcher follow libmosquitto's socket and what it wants. */
void trg_mqtt_rearm(struct mqtt *m)
{
    int fd = m->mosq ? mosquitto_socket(m->mosq) : -1;
    int events = 0;

    if (fd >= 0) {
        if (!m->paused)
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

void trg_mqtt_connect(struct mqtt *m)
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
    trg_mqtt_rearm(m);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mqtt *m = t->data;
    (void)loop;
    (void)revents;
    if (m->started && !m->connected)
        trg_mqtt_connect(m);
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
        for (int i = 0; i < 64 && rc == MOSQ_ERR_SUCCESS && !m->paused; i++) {
            errno = 0;
            rc = mosquitto_loop_read(m->mosq, 1);
            if (errno == EAGAIN || errno == EWOULDBLOCK || mosquitto_socket(m->mosq) < 0)
                break;
        }
    }
    after_loop_call(m, rc);
    trg_mqtt_rearm(m);
}

static void misc_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mqtt *m = t->data;
    (void)loop;
    (void)revents;
    m->notified = false;
    if (mosquitto_socket(m->mosq) >= 0)
        after_loop_call(m, mosquitto_loop_misc(m->mosq));
    trg_mqtt_rearm(m);
}

int trg_mqtt_client_setup(struct mqtt *m)
{
    const struct mqtt_opts *o = m->opts;
    int rc;

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
        return TRG_EINVAL;
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
            return TRG_EINVAL;
        }
    }
    return 0;
}

void trg_mqtt_conn_init(struct mqtt *m)
{
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
    mosquitto_log_callback_set(m->mosq, on_log);

    ev_init(&m->io, io_cb);
    m->io.data = m;
    ev_timer_init(&m->misc, misc_cb, 1., 1.);
    m->misc.data = m;
    ev_timer_init(&m->reconnect, reconnect_cb, 0., 0.);
    m->reconnect.data = m;
}
