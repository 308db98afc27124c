/* runtime_watchdog.c — what a runtime started itself dies with trigd, even after kill -9 of trigd (see
 * runtime.h).
 *
 * PR_SET_PDEATHSIG kills the runtime process when trigd dies, but not the processes it started (a
 * `sleep &` in a bootstrap, a Node child_process): they would be orphaned and live on. So at the first
 * instance trigd forks a watchdog: a small process, detached (forked twice, so that it is nobody's
 * child in trigd, and in a session of its own, so that a signal to trigd's terminal or process group
 * does not reach it), holding only the read end of a pipe whose write end only trigd holds (CLOEXEC,
 * and runtimes close every inherited fd). trigd writes each instance's process group to it when the
 * instance starts and again (negated) once it is reaped. When trigd is gone, however it went, the pipe
 * reads end-of-file and the watchdog SIGKILLs every group still noted, then exits.
 *
 * A group is forgotten only after its leader was reaped with the rest of its group killed, so the
 * watchdog never holds a group id that was given up. Between trigd's death and the watchdog's kill,
 * each noted group still has its members (that is what it kills), so its id cannot have been reused.
 * Processes that left their group (setsid, setpgid) are not covered: under systemd, the service's
 * cgroup covers them (docs/RUNTIMES.md).
 *
 * The watchdog is a fork of trigd without exec: after fork only async-signal-safe system calls (trigd
 * has threads), and memory from mmap.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../log.h"
#include "runtime.h"

static int wd_fd = -1; /* the pipe's write end; -1 before the start or after a failure */
static bool wd_tried;  /* started, or failed to start (not retried) */
static pid_t wd_pid;   /* the watchdog's pid, for the log */

/* The watchdog: note and forget groups until end-of-file, then kill the groups noted. Never returns. */
static void watchdog(int rd)
{
    struct sigaction ign = {.sa_handler = SIG_IGN};
    size_t cap = 1024, n = 0;
    int32_t rec[256];

    setsid();
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
            sigaction(s, &ign, NULL);
    if (rd > 0)
        syscall(SYS_close_range, 0, (unsigned)rd - 1, 0);
    syscall(SYS_close_range, (unsigned)rd + 1, ~0U, 0);
    prctl(PR_SET_NAME, "trigd-watchdog");
    pid_t *set = mmap(NULL, cap * sizeof *set, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (set == MAP_FAILED)
        _exit(1);
    for (;;) {
        ssize_t r = read(rd, rec, sizeof rec);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* trigd is gone */
        for (size_t i = 0; i < (size_t)r / sizeof *rec; i++) {
            if (rec[i] > 0) {
                if (n == cap) {
                    pid_t *more = mremap(set, cap * sizeof *set, 2 * cap * sizeof *set, MREMAP_MAYMOVE);
                    if (more == MAP_FAILED)
                        continue; /* this one is not covered */
                    set = more;
                    cap *= 2;
                }
                set[n++] = rec[i];
            } else {
                for (size_t k = 0; k < n; k++)
                    if (set[k] == -rec[i]) {
                        set[k] = set[--n];
                        break;
                    }
            }
        }
    }
    for (size_t k = 0; k < n; k++)
        kill(-set[k], SIGKILL);
    _exit(0);
}

static void start(void)
{
    int p[2], rep[2] = {-1, -1}, status = 0;
    pid_t w = 0;

    wd_tried = true;
    if (pipe2(p, O_CLOEXEC) != 0)
        goto fail;
    if (pipe2(rep, O_CLOEXEC) != 0) {
        close(p[0]);
        close(p[1]);
        goto fail;
    }
    pid_t mid = fork();
    if (mid == 0) { /* the middle: forks the watchdog, says its pid, exits */
        close(p[1]);
        close(rep[0]);
        pid_t pid = fork();
        if (pid == 0)
            watchdog(p[0]);
        _exit(pid > 0 && write(rep[1], &pid, sizeof pid) == (ssize_t)sizeof pid ? 0 : 1);
    }
    close(p[0]);
    close(rep[1]);
    if (mid > 0)
        while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
            ;
    if (mid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        read(rep[0], &w, sizeof w) != (ssize_t)sizeof w) {
        close(p[1]);
        close(rep[0]);
        goto fail;
    }
    close(rep[0]);
    wd_fd = p[1];
    wd_pid = w;
    trg_info(
        "runtime", NULL,
        "watchdog started (pid %d): it kills the instances' process groups if trigd dies, even by kill -9",
        (int)w);
    return;
fail:
    trg_warn(
        "runtime", NULL,
        "cannot start the watchdog (%s): processes a runtime starts itself may outlive trigd if it is killed",
        strerror(errno));
}

static void send_rec(int32_t v)
{
    if (!wd_tried)
        start();
    if (wd_fd < 0)
        return;
    ssize_t r;
    do {
        r = write(wd_fd, &v, sizeof v);
    } while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof v) {
        trg_warn("runtime", NULL,
                 "the watchdog (pid %d) is gone (%s): processes a runtime starts itself may outlive trigd "
                 "if it is killed",
                 (int)wd_pid, strerror(errno));
        close(wd_fd);
        wd_fd = -1;
    }
}

void rt_watchdog_note(pid_t pgid) { send_rec((int32_t)pgid); }

void rt_watchdog_forget(pid_t pgid)
{
    if (wd_fd >= 0)
        send_rec(-(int32_t)pgid);
}
