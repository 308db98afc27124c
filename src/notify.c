/* notify.c — sd_notify(3) for Type=notify units: ready, reloading, stopping and the watchdog. */
#include "notify.h"

#include <stdint.h>
#include <stdio.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "util.h"

struct trg_notify {
    struct ev_loop *loop;
    ev_timer watchdog;
};

#ifdef HAVE_SYSTEMD
static void send_state(const char *state, const char *status)
{
    int rc = status ? sd_notifyf(0, "%s\nSTATUS=%s", state, status) : sd_notify(0, state);
    if (rc < 0)
        trg_warn("notify", NULL, "cannot tell systemd %s: error %d", state, -rc);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sd_notify(0, "WATCHDOG=1");
}
#else
static void send_state(const char *state, const char *status)
{
    (void)state;
    (void)status;
}
#endif

struct trg_notify *trg_notify_create(struct ev_loop *loop)
{
    struct trg_notify *n = trg_calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->loop = loop;
#ifdef HAVE_SYSTEMD
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        double every = (double)usec / 2e6;
        ev_timer_init(&n->watchdog, on_watchdog, every, every);
        ev_timer_start(loop, &n->watchdog);
        trg_info("notify", NULL, "systemd watchdog: petting every %.1f s", every);
    }
#endif
    return n;
}

void trg_notify_ready(struct trg_notify *n, const char *status)
{
    if (n)
        send_state("READY=1", status);
}

void trg_notify_reloading(struct trg_notify *n)
{
    if (n)
        send_state("RELOADING=1", NULL);
}

void trg_notify_reloaded(struct trg_notify *n, const char *status)
{
    if (n)
        send_state("READY=1", status);
}

void trg_notify_stopping(struct trg_notify *n, const char *status)
{
    if (n)
        send_state("STOPPING=1", status);
}

void trg_notify_destroy(struct trg_notify *n)
{
    if (!n)
        return;
    if (ev_is_active(&n->watchdog))
        ev_timer_stop(n->loop, &n->watchdog);
    trg_free(n);
}

const char *trg_notify_backend(void)
{
#ifdef HAVE_SYSTEMD
    return "systemd";
#else
    return "none";
#endif
}
