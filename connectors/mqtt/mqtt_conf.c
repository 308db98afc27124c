/* mqtt_conf.c — the MQTT source's options: the table and the checks made when the config is loaded. */
#include <string.h>

#include "mqtt.h"
#include "mqtt_event.h"

static const char *const mqtt_protocols[] = {"5", "3.1.1", NULL};
static const char *const mqtt_formats[] = {"iot", "minio", NULL};

#define O(f) offsetof(struct mqtt_opts, f)
const struct trg_opt trg_mqtt_options[] = {
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

_Static_assert(TRG_ARRAY_SIZE(trg_mqtt_options) == MQTT_N_OPTIONS, "MQTT_N_OPTIONS (mqtt.h) counts the options");

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

void trg_mqtt_check(const void *opts, const char *path, struct trg_errs *errs)
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
