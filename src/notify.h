/* notify.h — telling the service manager (systemd) how trigd is doing: sd_notify(3).
 *
 * Every function is a no-op when trigd was built without libsystemd (configure --without-systemd) or was
 * not started by systemd with Type=notify (no NOTIFY_SOCKET in the environment), so callers never check.
 */
#ifndef TRG_NOTIFY_H
#define TRG_NOTIFY_H

#include <ev.h>

struct trg_notify;

/* Create the notifier on loop (borrowed; it outlives the notifier). When the service manager asked for
 * a watchdog (WatchdogSec= in the unit, read through sd_watchdog_enabled), a timer on the loop sends
 * WATCHDOG=1 at half the interval, so a stuck loop gets trigd restarted. Returns NULL when out of memory
 * (trigd runs on without notifications). Caller frees with trg_notify_destroy(). */
struct trg_notify *trg_notify_create(struct ev_loop *loop);

/* READY=1 with STATUS=status: trigd listens and its sources have started. */
void trg_notify_ready(struct trg_notify *n, const char *status);

/* RELOADING=1 before a reload; trg_notify_reloaded() then says READY=1 again with the outcome as STATUS
 * (a refused config shows in `systemctl status` while the running one is kept). */
void trg_notify_reloading(struct trg_notify *n);
void trg_notify_reloaded(struct trg_notify *n, const char *status);

/* STOPPING=1 with STATUS=status: trigd drains and will exit. */
void trg_notify_stopping(struct trg_notify *n, const char *status);

/* Stop the watchdog timer and free. NULL is a no-op. */
void trg_notify_destroy(struct trg_notify *n);

/* Whether this build can talk to systemd (for --version). */
const char *trg_notify_backend(void);

#endif
