/* kafka_mock.c — a librdkafka mock cluster for integration tests and benchmarks.
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--ctl FIFO]
 *
 * Starts rd_kafka_mock_cluster_new() with N brokers (default 1) on 127.0.0.1, creates the topics
 * (replication factor 1), prints "BOOTSTRAP host:port,..." on stdout, and serves until SIGTERM/SIGINT.
 * With --ctl FIFO it reads commands, one per line, to inject broker errors:
 *   down ID | up ID              take broker ID's listener down / up again
 *   err APIKEY COUNT CODE        the next COUNT requests of APIKEY fail with CODE (e.g. "err 1 3 6":
 *                                three Fetch requests answer NOT_LEADER_OR_FOLLOWER)
 */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void ctl_line(rd_kafka_mock_cluster_t *mc, char *line)
{
    int id, key, count, code;
    if (sscanf(line, "down %d", &id) == 1)
        rd_kafka_mock_broker_set_down(mc, id);
    else if (sscanf(line, "up %d", &id) == 1)
        rd_kafka_mock_broker_set_up(mc, id);
    else if (sscanf(line, "err %d %d %d", &key, &count, &code) == 3) {
        rd_kafka_resp_err_t errs[64];
        if (count > 64)
            count = 64;
        for (int i = 0; i < count; i++)
            errs[i] = (rd_kafka_resp_err_t)code;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)count, errs);
    } else {
        fprintf(stderr, "kafka_mock: unknown command: %s\n", line);
        return;
    }
    fprintf(stderr, "kafka_mock: %s\n", line);
}

int main(int argc, char **argv)
{
    int brokers = 1, ctl = -1;
    const char *topics[32];
    int n_topics = 0;
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc && n_topics < 32)
            topics[n_topics++] = argv[++i];
        else if (!strcmp(argv[i], "--ctl") && i + 1 < argc) {
            ctl = open(argv[++i], O_RDWR | O_NONBLOCK);
            if (ctl < 0) {
                fprintf(stderr, "kafka_mock: cannot open %s: %s\n", argv[i], strerror(errno));
                return 2;
            }
        } else {
            fprintf(stderr, "usage: kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--ctl FIFO]\n");
            return 2;
        }
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the mock cluster lives inside a (never used) producer handle */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        char name[256];
        int parts = 1;
        const char *colon = strrchr(topics[i], ':');
        size_t len = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, topics[i], len);
        name[len] = 0;
        if (colon)
            parts = atoi(colon + 1);
        if (rd_kafka_mock_topic_create(mc, name, parts, 1)) {
            fprintf(stderr, "kafka_mock: cannot create topic %s\n", name);
            return 1;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    char buf[1024];
    size_t have = 0;
    while (!stop_flag) {
        struct pollfd pfd = {.fd = ctl, .events = POLLIN};
        int rc = poll(&pfd, ctl >= 0 ? 1 : 0, 200);
        if (rc <= 0 || ctl < 0)
            continue;
        ssize_t n = read(ctl, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            continue;
        have += (size_t)n;
        buf[have] = 0;
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            ctl_line(mc, buf);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have == sizeof buf - 1)
            have = 0;
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
