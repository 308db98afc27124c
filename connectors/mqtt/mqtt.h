/* mqtt.h — what the MQTT source's files share (private to connectors/mqtt/): its options, its state
 * (struct mqtt), and the functions one file calls in another. mqtt.c is the source (messages into events,
 * replies, the batch views, create and destroy); mqtt_conf.c the options and their checks; mqtt_conn.c the
 * connection to the broker on the loop.
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

    bool started, connected, subscribed, paused, connecting;
    bool notified;      /* on_disconnect ran (and logged) during the current libmosquitto call */
    char tls_err[256];  /* libmosquitto's first OpenSSL error of the current connection attempt */
    char why[512];
    unsigned attempts;  /* failed connection attempts in a row */
    uint64_t seq;
    int64_t boot_ms;

    uint64_t expired, lost, unsent, replies_failed;
};

/* Messages the engine holds before it pauses the source (trg_source_set_hold): it pauses at the first, and
 * the broker keeps the rest. */
#define MQTT_HOLD 1

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
/* Make the socket watcher follow libmosquitto's socket and what it wants (no reading while paused). */
void trg_mqtt_rearm(struct mqtt *m);

#endif
