/* mqtt.h — what the MQTT source's files share (private to connectors/mqtt/): its options, its state
 * (struct mqtt), and the functions one file calls in another. mqtt.c is the source (messages into events,
 * replies, the batch views, create and destroy); mqtt_conf.c the options and their checks; mqtt_conn.c the
 * connection to the broker on the loop; mqtt_backlog.c the messages read while the routes were full.
 */
#ifndef TRG_MQTT_H
#define TRG_MQTT_H

#include <ev.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../connector.h"

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

/* The option table (mqtt_conf.c): MQTT_N_OPTIONS entries, which mqtt_conf.c asserts. */
#define MQTT_N_OPTIONS 19
extern const struct trg_opt trg_mqtt_options[];
/* ops->check: url, subscriptions, include, and the options that go together. */
void trg_mqtt_check(const void *opts, const char *path, struct trg_errs *errs);

/* The connection (mqtt_conn.c). Set up m->mosq from the options (protocol, credentials, TLS, v5 session
 * expiry); TRG_EINVAL, logged, when libmosquitto refuses them. */
int trg_mqtt_client_setup(struct mqtt *m);
/* Set libmosquitto's connection callbacks (connect, disconnect, subscribe, log) and the loop's watchers
 * (socket, keepalive timer, reconnect timer); the message callback is mqtt.c's. */
void trg_mqtt_conn_init(struct mqtt *m);
/* Start a connection attempt (asynchronous; a failure schedules the next one). */
void trg_mqtt_connect(struct mqtt *m);
/* Make the socket watcher follow libmosquitto's socket and what it wants (no reading while paused or
 * while the backlog holds messages). */
void trg_mqtt_rearm(struct mqtt *m);

/* The backlog (mqtt_backlog.c): append ev (owned by the backlog from then); false: out of memory. */
bool trg_mqtt_backlog_push(struct mqtt *m, struct trg_event *ev);
/* m->flush (an ev_idle): emit the backlog in order while the routes take it. */
void trg_mqtt_flush_cb(struct ev_loop *loop, ev_idle *w, int revents);
/* ops->pause and ops->accepted. */
void trg_mqtt_pause(void *inst, bool paused);
void trg_mqtt_accepted(void *inst, struct trg_event *ev, int err);

#endif
