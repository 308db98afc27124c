#!/usr/bin/env bash
# sd_notify.sh — trigd talks to systemd the Type=notify way (src/notify.c), checked against a stand-in
# for the service manager: a Unix datagram socket named by NOTIFY_SOCKET that records every message.
# READY=1 comes once trigd answers HTTP; WATCHDOG_USEC/WATCHDOG_PID make it pet the watchdog from its
# loop; a SIGHUP with a broken config says RELOADING=1 then READY=1 with a "reload refused" STATUS
# (and the old config keeps running), a good one "config reloaded"; SIGTERM says STOPPING=1.
# Without NOTIFY_SOCKET trigd sends nothing and runs the same (every other test).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3
"$TRIGD" --version | grep -q 'service notification: systemd' ||
    skip_or_fail "trigd is built without libsystemd (configure --with-systemd; ./dev installs libsystemd-dev)"

# the service manager's end: every datagram appended to $WORK/notify, one field a line
SOCK=$WORK/notify.sock
python3 - "$SOCK" "$WORK/notify" << 'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n--\n")
PY
_track $!
wait_for 10 test -S "$SOCK"

HTTP_PORT=$(free_port)
write_conf() { # write_conf PATH: the webhook route on PATH (/in or /in2)
    cat > "$WORK/trigd.json.tmp" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"echo": {"type": "exec", "command": ["$TOP_SRCDIR/examples/functions/echo.sh"]}},
  "sources": {"in": {"type": "webhook", "path": "$1"}},
  "routes": {"r": {"source": "in", "function": "echo"}}
}
EOF
    mv "$WORK/trigd.json.tmp" "$WORK/trigd.json"
}
write_conf /in

# WATCHDOG_PID must be trigd's own pid: the subshell execs trigd, so it is $BASHPID.
TRIGD_LOG=$WORK/trigd.log
_logs+=("$TRIGD_LOG")
(
    export NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=400000 WATCHDOG_PID=$BASHPID
    exec "$TRIGD" -c "$WORK/trigd.json"
) > "$TRIGD_LOG" 2>&1 &
TRIGD_PID=$!
_track "$TRIGD_PID"

count() { grep -cx "$1" "$WORK/notify" 2> /dev/null || true; }
has() { (($(count "$1") >= ${2:-1})); }

wait_for 20 has READY=1
grep -qx 'STATUS=running' "$WORK/notify" || fail "READY=1 came without STATUS=running: $(cat "$WORK/notify")"
# ready means listening: the webhook answers at once
curl -fsS -o /dev/null -X POST --data '{"a":1}' "$(trigd_url /in)" || fail "POST /in failed after READY=1"
grep -q 'systemd watchdog: petting every 0.2 s' "$TRIGD_LOG" || fail "trigd did not arm the watchdog"
wait_for 20 has WATCHDOG=1 2
log "READY=1 with its status, then the watchdog pets"

# a broken config: refused, the running one kept
printf '{"http": ' > "$WORK/trigd.json"
kill -HUP "$TRIGD_PID"
wait_for 20 has RELOADING=1
wait_for 20 grep -q '^STATUS=reload refused: the new config has errors' "$WORK/notify"
has READY=1 2 || fail "no READY=1 after the refused reload: $(cat "$WORK/notify")"
curl -fsS -o /dev/null -X POST --data '{"a":2}' "$(trigd_url /in)" ||
    fail "the running config stopped after a refused reload"

# a good one: applied
write_conf /in2
kill -HUP "$TRIGD_PID"
wait_for 20 grep -qx 'STATUS=running; config reloaded' "$WORK/notify"
has RELOADING=1 2 || fail "the second reload sent no RELOADING=1"
curl -fsS -o /dev/null -X POST --data '{"a":3}' "$(trigd_url /in2)" || fail "the reloaded config is not running"
log "RELOADING=1 then READY=1: a refused config kept the running one, a good one was applied"

stop_trigd
has STOPPING=1 || fail "no STOPPING=1 on SIGTERM: $(cat "$WORK/notify")"
grep -q '^STATUS=draining' "$WORK/notify" || fail "STOPPING=1 came without the draining status"
log "STOPPING=1 on SIGTERM; ok"
