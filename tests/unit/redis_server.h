/* redis_server.h — a real redis-server for unit tests: started on a free 127.0.0.1 port (and a unix
 * socket) in a temp dir, waited for with a deadline, killed and restarted on the same port, and a
 * plain synchronous hiredis connection for setting things up (ACL SETUSER, CONFIG SET, XLEN).
 *
 * When redis-server is missing the test exits 77 (skip), or fails when CI=true.
 */
#ifndef TRG_TEST_REDIS_SERVER_H
#define TRG_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_redis {
    pid_t pid;
    int port;
    char dir[64];
    char sock[128];
};

static double tr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Skip (77) or, under CI=true, fail when redis-server is not installed. */
static void tr_require(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") == 0)
        return;
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        fprintf(stderr, "redis-server is not installed but CI=true: install redis-server\n");
        exit(1);
    }
    fprintf(stderr, "redis-server is not installed: skipping\n");
    exit(77);
}

static int tr_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* A synchronous connection (NULL when the server does not answer). */
static redisContext *tr_connect(const struct test_redis *s)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static bool tr_ping(const struct test_redis *s)
{
    redisContext *c = tr_connect(s);
    if (!c)
        return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Start (or restart on s->port when it is set); true once it answers PING (deadline 10 s). */
static bool tr_start(struct test_redis *s)
{
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof(s->dir), "/tmp/trigd-redis-XXXXXX");
        if (!mkdtemp(s->dir))
            return false;
        snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        bool fresh = s->port == 0;
        if (fresh)
            s->port = tr_free_port();
        char port[16];
        snprintf(port, sizeof(port), "%d", s->port);
        pid_t pid = fork();
        if (pid < 0)
            return false;
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
            }
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", s->dir, "--unixsocket", s->sock, "--unixsocketperm", "700",
                   "--loglevel", "warning", (char *)NULL);
            _exit(127);
        }
        s->pid = pid;
        double deadline = tr_now() + 10.0;
        while (tr_now() < deadline) {
            if (tr_ping(s))
                return true;
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) { /* died: port taken? */
                s->pid = 0;
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (s->pid) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        if (!fresh)
            break; /* the same port is wanted: do not wander */
        s->port = 0;
    }
    return false;
}

/* Kill the server (SIGKILL: a crash, no goodbye) and reap it. */
static void tr_kill(struct test_redis *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void tr_stop(struct test_redis *s)
{
    tr_kill(s);
    if (s->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

/* Run one command synchronously; returns the reply (caller frees with freeReplyObject) or NULL. */
static redisReply *tr_cmd(const struct test_redis *s, const char *fmt, ...)
{
    redisContext *c = tr_connect(s);
    if (!c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* An integer reply, or -1. */
static long long tr_int(const struct test_redis *s, const char *fmt, const char *arg)
{
    redisReply *r = tr_cmd(s, fmt, arg);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

#endif
