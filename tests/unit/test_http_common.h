/* test_http_common.h — helpers for tests that run trigd's HTTP server on a private loop and drive
 * it with real clients: curl in a child process, or a raw socket. Header-only (static functions). */
#ifndef TEST_HTTP_COMMON_H
#define TEST_HTTP_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

extern char **environ;

/* Run the loop until *flag is true or `seconds` have passed; returns *flag. */
static inline void th_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

static inline void th_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

/* cond(arg) is checked after every loop iteration; a 10 ms tick keeps iterations coming. */
static inline bool th_run_until(struct ev_loop *loop, bool (*cond)(void *arg), void *arg, double seconds)
{
    bool expired = false;
    ev_timer deadline, tick;

    ev_timer_init(&deadline, th_deadline_cb, seconds, 0.);
    deadline.data = &expired;
    ev_timer_start(loop, &deadline);
    ev_timer_init(&tick, th_tick_cb, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    while (!cond(arg) && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
    ev_timer_stop(loop, &tick);
    return cond(arg);
}

static inline bool th_flag(void *arg) { return *(bool *)arg; }

/* ---- curl in a child process ------------------------------------------------------------------ */

struct th_client {
    pid_t pid;
    int fd;
    ev_io io;
    struct trg_buf out; /* curl -i output: status line, headers, body */
    bool finished;
    int exit_status;
    int status;    /* final HTTP status, 0 when none */
    char *headers; /* the final response's header block */
    char *body;
    size_t body_len;
    char body_file[64];
};

static inline void th_client_parse(struct th_client *c)
{
    char *p = c->out.data ? c->out.data : "";
    char *end = p + c->out.len;

    for (;;) {
        char *hdr_end = strstr(p, "\r\n\r\n");
        int st = 0;
        if (strncmp(p, "HTTP/", 5) || !hdr_end)
            return;
        sscanf(p, "HTTP/%*s %d", &st);
        if (st >= 100 && st < 200) {
            p = hdr_end + 4;
            continue;
        }
        c->status = st;
        c->headers = trg_strndup(p, (size_t)(hdr_end - p + 2));
        c->body_len = (size_t)(end - (hdr_end + 4));
        c->body = trg_strndup(hdr_end + 4, c->body_len);
        return;
    }
}

static inline void th_client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct th_client *c = w->data;
    char buf[4096];
    ssize_t n = read(w->fd, buf, sizeof buf);

    if (n > 0) {
        trg_buf_add(&c->out, buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_io_stop(loop, w);
    close(c->fd);
    c->fd = -1;
    /* stdout closed: curl is exiting */
    int st = 0;
    waitpid(c->pid, &st, 0);
    c->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    th_client_parse(c);
    c->finished = true;
}

/* Start curl with the given extra arguments (NULL-terminated), on url. body (may be NULL) is sent
 * with --data-binary from a temporary file. */
static inline int th_client_start(struct ev_loop *loop, struct th_client *c, const char *url,
                                  const void *body, size_t body_len, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    int pfd[2];
    char data_arg[80];
    posix_spawn_file_actions_t fa;

    memset(c, 0, sizeof *c);
    c->fd = -1;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "-i";
    argv[n++] = "--max-time";
    argv[n++] = "10";
    argv[n++] = "--noproxy";
    argv[n++] = "*";
    if (body) {
        strcpy(c->body_file, "/tmp/trigd-test-body-XXXXXX");
        int fd = mkstemp(c->body_file);
        if (fd < 0 || write(fd, body, body_len) != (ssize_t)body_len)
            return -1;
        close(fd);
        snprintf(data_arg, sizeof data_arg, "@%s", c->body_file);
        argv[n++] = "--data-binary";
        argv[n++] = data_arg;
    }
    for (size_t i = 0; args && args[i] && n < 60; i++)
        argv[n++] = args[i];
    argv[n++] = url;
    argv[n] = NULL;
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    if (posix_spawnp(&c->pid, "curl", &fa, NULL, (char *const *)argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    c->fd = pfd[0];
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    ev_io_init(&c->io, th_client_io_cb, c->fd, EV_READ);
    c->io.data = c;
    ev_io_start(loop, &c->io);
    return 0;
}

static inline bool th_client_done(void *arg) { return ((struct th_client *)arg)->finished; }

static inline void th_client_clear(struct ev_loop *loop, struct th_client *c)
{
    if (c->fd >= 0) {
        ev_io_stop(loop, &c->io);
        close(c->fd);
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    if (c->body_file[0])
        unlink(c->body_file);
    trg_buf_free(&c->out);
    trg_free(c->headers);
    trg_free(c->body);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Run curl to completion (10 s deadline). Returns the HTTP status (0 when none). */
static inline int th_curl(struct ev_loop *loop, struct th_client *c, const char *url, const void *body,
                          size_t body_len, const char *const *args)
{
    if (th_client_start(loop, c, url, body, body_len, args) < 0)
        return -1;
    th_run_until(loop, th_client_done, c, 15.);
    return c->status;
}

/* Case-insensitive header lookup in the response header block; value copied into out. */
static inline bool th_header(const struct th_client *c, const char *name, char *out, size_t size)
{
    const char *p = c->headers;
    size_t nl = strlen(name);

    while (p && *p) {
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= size)
                len = size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

/* A blocking loopback TCP connection to the server (the connect completes from the backlog). */
static inline int th_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

#endif
