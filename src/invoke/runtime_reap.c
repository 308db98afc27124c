/* runtime_reap.c — the processes of a destroyed pool (a reload that changed or removed the function,
 * trigd's shutdown), until they are gone (see runtime.h).
 *
 * destroy() must not wait: the loop serves every other function meanwhile. So a process still running
 * when its pool goes (its group has had SIGTERM) is adopted here, with its pidfd, output pipes and
 * cgroup: an ev_timer sends SIGKILL to its process group (and cgroup.kill to its cgroup) when its
 * kill_grace_ms is over, an ev_io on the pidfd notices its exit, and then what is left of its group is
 * killed (while the unreaped leader still holds the group id, so it cannot have been reused), the
 * leader is reaped, the cgroup removed and everything freed. Its output keeps being logged meanwhile
 * (closing the pipes would kill a runtime that logs during its shutdown with SIGPIPE).
 *
 * The adopted processes are a process-wide list: they outlive the pool, and trigd has one loop. An
 * atexit handler (registered at the first adoption, by the process that adopts) keeps trigd from
 * exiting before they are gone: it waits for each until its grace is over, then SIGKILLs its group and
 * reaps it, so no instance outlives trigd's shutdown, whatever way trigd exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../log.h"
#include "runtime.h"

struct rt_orphan {
    struct ev_loop *loop;
    char *name; /* the function's */
    unsigned id;
    pid_t pid;
    int pidfd;
    int out[2];      /* stdout and stderr pipes, or -1 */
    char *cgroup;    /* or NULL */
    double deadline; /* ev_time() when SIGKILL is due */
    bool killed;
    ev_io pid_w;
    ev_io out_w[2];
    ev_timer kill_timer;
    struct rt_orphan *prev, *next;
};

static struct rt_orphan *orphans;
static size_t n_orphans;
static pid_t atexit_owner; /* the process that registered the atexit handler (not a forked child) */

static void cgroup_kill(const char *cgroup)
{
    char path[PATH_MAX];
    if (!cgroup || snprintf(path, sizeof path, "%s/cgroup.kill", cgroup) >= (int)sizeof path)
        return;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* before Linux 5.14: the process group kill has to do */
    if (write(fd, "1", 1) != 1)
        trg_debug("runtime", NULL, "%s: %s", path, strerror(errno));
    close(fd);
}

static void kill_all(struct rt_orphan *o)
{
    if (kill(-o->pid, SIGKILL) != 0)
        kill(o->pid, SIGKILL);
    cgroup_kill(o->cgroup);
    o->killed = true;
}

/* Log what the process wrote (line by line within each read; a line split across two reads is logged
 * as two). */
static void drain(struct rt_orphan *o, int k)
{
    char buf[4096];
    while (o->out[k] >= 0) {
        ssize_t n = read(o->out[k], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (o->loop)
                ev_io_stop(o->loop, &o->out_w[k]);
            close(o->out[k]);
            o->out[k] = -1;
            return;
        }
        for (char *p = buf, *end = buf + n; p < end;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *stop = nl ? nl : end;
            trg_info("runtime", o->name, "- %.*s", (int)(stop - p), p);
            p = nl ? nl + 1 : end;
        }
    }
}

static void orphan_free(struct rt_orphan *o)
{
    /* Every watcher stops first: an output pipe may still be open (a killed child of the runtime that
     * has not exited yet holds its write end), and libev must not keep a watcher inside freed memory. */
    if (o->loop) {
        ev_io_stop(o->loop, &o->pid_w);
        ev_timer_stop(o->loop, &o->kill_timer);
        for (int k = 0; k < 2; k++)
            ev_io_stop(o->loop, &o->out_w[k]);
    }
    for (int k = 0; k < 2; k++)
        if (o->out[k] >= 0)
            close(o->out[k]);
    if (o->pidfd >= 0)
        close(o->pidfd);
    if (o->cgroup && rmdir(o->cgroup) != 0 && errno != ENOENT)
        trg_debug("runtime", o->name, "cannot remove %s: %s", o->cgroup, strerror(errno));
    if (o->prev)
        o->prev->next = o->next;
    else
        orphans = o->next;
    if (o->next)
        o->next->prev = o->prev;
    n_orphans--;
    trg_free(o->cgroup);
    trg_free(o->name);
    trg_free(o);
}

/* The leader has exited (or is killed and about to): kill the rest of its group, reap it. */
static void finish(struct rt_orphan *o, bool block)
{
    int status = 0;
    pid_t r;
    if (kill(-o->pid, SIGKILL) != 0 && errno != ESRCH)
        trg_debug("runtime", o->name, "kill group %d: %s", (int)o->pid, strerror(errno));
    cgroup_kill(o->cgroup);
    do {
        r = waitpid(o->pid, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return; /* not yet: the pidfd turns readable again */
    rt_watchdog_forget(o->pid);
    for (int k = 0; k < 2; k++)
        drain(o, k);
    trg_debug("runtime", o->name, "instance %u (pid %d) of a replaced pool is gone", o->id, (int)o->pid);
    orphan_free(o);
}

static void pid_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    finish(w->data, false);
}

static void out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rt_orphan *o = w->data;
    (void)loop;
    (void)revents;
    drain(o, w == &o->out_w[0] ? 0 : 1);
}

static void kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rt_orphan *o = w->data;
    (void)loop;
    (void)revents;
    trg_info("runtime", o->name,
             "instance %u (pid %d) still running after SIGTERM and kill_grace_ms: SIGKILL", o->id,
             (int)o->pid);
    kill_all(o);
}

/* At exit: wait for every adopted process until its grace is over, SIGKILL what is left, reap all. */
static void reap_at_exit(void)
{
    if (getpid() != atexit_owner || !orphans)
        return;
    trg_info("runtime", NULL, "waiting for %zu runtime instance(s) to stop (SIGKILL after kill_grace_ms)",
             n_orphans);
    for (struct rt_orphan *o = orphans; o; o = o->next)
        o->loop = NULL; /* gone or about to be: no watcher is touched from here on */
    for (;;) {
        struct pollfd pfd[256];
        nfds_t k = 0;
        double now = ev_time(), first = INFINITY;
        for (struct rt_orphan *o = orphans, *next; o; o = next) {
            next = o->next;
            if (!o->killed && now >= o->deadline) {
                trg_info("runtime", o->name, "instance %u (pid %d) still running at exit: SIGKILL", o->id,
                         (int)o->pid);
                kill_all(o);
            }
            if (o->killed) {
                finish(o, true); /* SIGKILL cannot be refused: a short wait */
                continue;
            }
            if (o->deadline < first)
                first = o->deadline;
            if (k < TRG_ARRAY_SIZE(pfd))
                pfd[k++] = (struct pollfd){.fd = o->pidfd, .events = POLLIN};
        }
        if (!orphans)
            return;
        int ms = (int)ceil((first - now) * 1000.0);
        if (poll(pfd, k, ms > 0 ? ms : 0) > 0)
            for (nfds_t i = 0; i < k; i++)
                if (pfd[i].revents)
                    for (struct rt_orphan *o = orphans; o; o = o->next)
                        if (o->pidfd == pfd[i].fd) {
                            finish(o, false);
                            break;
                        }
    }
}

void rt_reap_adopt(struct ev_loop *loop, const char *name, unsigned id, pid_t pid, int pidfd, int out_fd,
                   int err_fd, char *cgroup, double grace_s)
{
    struct rt_orphan *o = trg_calloc(1, sizeof *o);
    char *n = trg_strdup(name);
    if (atexit_owner != getpid() && atexit(reap_at_exit) == 0)
        atexit_owner = getpid();
    if (!o || !n) {
        /* No memory to keep it: it cannot be waited for without blocking, so it is not waited for. */
        trg_error("runtime", name, "out of memory: instance %u (pid %d) gets SIGKILL at once", id, (int)pid);
        if (kill(-pid, SIGKILL) != 0)
            kill(pid, SIGKILL);
        cgroup_kill(cgroup);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        rt_watchdog_forget(pid);
        if (cgroup)
            rmdir(cgroup);
        trg_free(cgroup);
        if (pidfd >= 0)
            close(pidfd);
        if (out_fd >= 0)
            close(out_fd);
        if (err_fd >= 0)
            close(err_fd);
        trg_free(o);
        trg_free(n);
        return;
    }
    o->loop = loop;
    o->name = n;
    o->id = id;
    o->pid = pid;
    o->pidfd = pidfd;
    o->out[0] = out_fd;
    o->out[1] = err_fd;
    o->cgroup = cgroup;
    o->deadline = ev_time() + grace_s;
    o->next = orphans;
    if (orphans)
        orphans->prev = o;
    orphans = o;
    n_orphans++;
    for (int k = 0; k < 2; k++) {
        ev_io_init(&o->out_w[k], out_cb, o->out[k], EV_READ);
        o->out_w[k].data = o;
        if (o->out[k] >= 0)
            ev_io_start(loop, &o->out_w[k]);
    }
    ev_timer_init(&o->kill_timer, kill_cb, grace_s > 0 ? grace_s : 0., 0.);
    o->kill_timer.data = o;
    if (grace_s > 0)
        ev_timer_start(loop, &o->kill_timer);
    else
        kill_all(o);
    ev_io_init(&o->pid_w, pid_cb, pidfd, EV_READ);
    o->pid_w.data = o;
    ev_io_start(loop, &o->pid_w);
}

size_t rt_reap_pending(void) { return n_orphans; }
