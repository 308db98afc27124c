/* fuzz_peer.h — the client side of the HTTP fuzzers (fuzz_http.c, fuzz_runtime_api.c): one exchange with a
 * server on the fuzzer's own loop, over loopback. Static functions, so that each fuzzer stays a single .c
 * file for `make fuzz-NAME`. */
#ifndef TRG_FUZZ_PEER_H
#define TRG_FUZZ_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* One piece of what an exchange sends; without data, len bytes of 'x'. */
struct fuzz_part {
    const void *data;
    size_t len;
};

struct fuzz_peer {
    /* set by the caller */
    size_t keep;     /* the most of the answer kept in `in` */
    double deadline; /* seconds without a close or the end of the answer: a hang */
    double quiet;    /* the answer is over this long after its last byte, or twice this long without any */
    /* the outcome */
    struct trg_buf in; /* the start of the answer (the caller frees it) */
    size_t got, sent, total;
    bool eof;     /* the server closed */
    bool expired; /* the deadline passed: the server neither answered nor closed */
    /* inside fuzz_peer_exchange */
    int fd;
    double last;
};

static void fuzz_peer_read(struct ev_loop *l, ev_io *w, int revents)
{
    struct fuzz_peer *p = w->data;
    char buf[16384];
    ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
    (void)revents;
    if (n > 0) {
        if (p->in.len < p->keep && trg_buf_add(&p->in, buf, (size_t)n) < 0)
            abort();
        p->got += (size_t)n;
        p->last = ev_now(l);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    p->eof = true;
    ev_io_stop(l, w);
}

static void fuzz_peer_tick(struct ev_loop *l, ev_timer *w, int revents) { (void)l, (void)w, (void)revents; }

static void fuzz_peer_expire(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)revents;
    ((struct fuzz_peer *)w->data)->expired = true;
    ev_break(l, EVBREAK_ONE);
}

/* Connect to 127.0.0.1:port, send the parts (running the loop between sends, so that the server reads),
 * shut the sending side, read until the server closes or the answer goes quiet, and close. The caller
 * checks p->expired (a hang) and the answer. */
static void fuzz_peer_exchange(struct ev_loop *loop, int port, const struct fuzz_part *parts, size_t n_parts,
                               struct fuzz_peer *p)
{
    static char fill[65536];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    ev_io io;
    ev_timer deadline, tick;

    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    p->got = p->sent = p->total = 0;
    p->eof = p->expired = false;
    for (size_t i = 0; i < n_parts; i++)
        p->total += parts[i].len;
    if (!fill[0])
        memset(fill, 'x', sizeof fill);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        abort();
    fcntl(p->fd, F_SETFL, O_NONBLOCK);
    ev_io_init(&io, fuzz_peer_read, p->fd, EV_READ);
    io.data = p;
    ev_io_start(loop, &io);
    ev_timer_init(&deadline, fuzz_peer_expire, p->deadline, 0.);
    deadline.data = p;
    ev_timer_start(loop, &deadline);
    for (size_t i = 0, off = 0; i < n_parts && !p->eof && !p->expired;) {
        const struct fuzz_part *part = &parts[i];
        if (off == part->len) {
            i++, off = 0;
            continue;
        }
        size_t n = part->len - off;
        const void *src = part->data ? (const char *)part->data + off : fill;
        if (!part->data && n > sizeof fill)
            n = sizeof fill;
        ssize_t k = send(p->fd, src, n, MSG_NOSIGNAL);
        if (k > 0)
            off += (size_t)k, p->sent += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR)
            break;
        ev_run(loop, EVRUN_NOWAIT);
    }
    shutdown(p->fd, SHUT_WR);
    ev_timer_init(&tick, fuzz_peer_tick, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    double sent_at = ev_now(loop);
    while (!p->eof && !p->expired && !(p->got && ev_now(loop) - p->last >= p->quiet) &&
           !(!p->got && ev_now(loop) - sent_at >= 2 * p->quiet))
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    ev_timer_stop(loop, &deadline);
    ev_io_stop(loop, &io);
    close(p->fd);
}

#endif
