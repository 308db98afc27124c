#!/usr/bin/env bash
# runtime_reaper.sh — instances (and what they start) neither block trigd nor outlive it:
#   reload:   SIGHUP removes a function whose instance ignores SIGTERM (kill_grace_ms 10 s). Another
#             function is served while that instance is still in its grace period — proof that the loop
#             did not wait for it — and then it gets SIGKILL and is reaped, with the child it started;
#   shutdown: SIGTERM to trigd with such an instance: it gets SIGTERM, then SIGKILL after its
#             kill_grace_ms, and trigd exits only once it is reaped; nothing of its group is left.
#   kill -9:  after kill -9 of trigd, the child such a runtime started (in its process group) is killed
#             too (by the watchdog), and the watchdog exits.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3 ps

RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir
HTTP_PORT=$(free_port)
config() { # config with|without: the "stubborn" function or not
    local stubborn=""
    [[ "$1" == with ]] && stubborn="\"stubborn\": { \"type\": \"runtime\", \"code_dir\": \"$RT/stubborn\", \"kill_grace_ms\": 10000,
                  \"environment\": { \"TERM_LOG\": \"$WORK/term.stubborn\", \"CHILD_LOG\": \"$WORK/child.stubborn\" } },"
    cat > "$WORK/trigd.json" << JSON
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    $stubborn
    "last": { "type": "runtime", "code_dir": "$RT/stubborn", "kill_grace_ms": 2000,
              "environment": { "TERM_LOG": "$WORK/term.last", "CHILD_LOG": "$WORK/child.last" } },
    "echo": { "type": "runtime", "code_dir": "$RT/echo" }
  }
}
JSON
}
invoke() { # invoke FUNCTION BODY: the answer in $WORK/out
    curl -sS -o "$WORK/out" --max-time 60 -X POST "$(trigd_url "/2015-03-31/functions/$1/invocations")" \
        --data-binary "$2"
}
pid_of_answer() { json_get "$(cat "$WORK/out")" 'j["pid"]'; }
child_of() { awk -v p="$2" '$1 == p { print $2 }' "$1"; } # child_of CHILD_LOG PID
# _alive PID: running (not a zombie); _dead PID: not running (gone, or a zombie about to be reaped)
_alive() { local st; st=$(ps -o stat= -p "$1" 2> /dev/null) && [[ "$st" != Z* ]]; }
_dead() { ! _alive "$1"; }
_reaped() { [[ ! -e "/proc/$1" ]]; }
_termed() { grep -qx "$2" "$1" 2> /dev/null; } # _termed TERM_LOG PID: the runtime got SIGTERM

# --- reload: the loop does not wait for an instance that ignores SIGTERM --------------------------
config with
start_trigd "$WORK/trigd.json"
invoke stubborn '{}'
old=$(pid_of_answer)
old_child=$(child_of "$WORK/child.stubborn" "$old")
[[ -n "$old_child" ]] || fail "the stubborn runtime did not log its child"
invoke echo '{"a":1}'
echo_pid=$(pid_of_answer)

config without
kill -HUP "$TRIGD_PID"
wait_for 30 _termed "$WORK/term.stubborn" "$old" # the removed function's instance had SIGTERM
invoke echo '{"a":2}'
assert_eq "$echo_pid" "$(pid_of_answer)" "the warm echo instance serving after the reload"
# Served while the old instance is still in its 10 s grace: a destroy that waited for it would have
# served this only after killing it.
_alive "$old" || fail "the removed function's instance was gone before another function was served"
_alive "$old_child" || fail "the removed function's child was gone before another function was served"
wait_for 60 _reaped "$old"
wait_for 10 _dead "$old_child"
grep -q "\[runtime:stubborn\] instance [0-9]* (pid $old) still running after SIGTERM and kill_grace_ms: SIGKILL" \
    "$TRIGD_LOG" || fail "the SIGKILL after kill_grace_ms is not logged"
_status_clean() { ! curl -fsS "$(trigd_url /admin/status)" | grep -q '"name":"stubborn"'; }
wait_for 10 _status_clean

# --- shutdown: trigd exits only after such an instance is gone ------------------------------------
invoke last '{}'
last=$(pid_of_answer)
last_child=$(child_of "$WORK/child.last" "$last")
stop_trigd
_reaped "$last" || fail "the instance $last is still there after trigd exited"
_termed "$WORK/term.last" "$last" || fail "the instance $last got no SIGTERM before SIGKILL"
grep -Eq "\[runtime:last\] instance [0-9]* \(pid $last\) still running (at exit|after SIGTERM and kill_grace_ms): SIGKILL" \
    "$TRIGD_LOG" || fail "the SIGKILL at shutdown is not logged"
wait_for 10 _dead "$last_child"

# --- kill -9 of trigd: what a runtime started itself goes too (the watchdog) -----------------------
start_trigd "$WORK/trigd.json"
invoke last '{}'
last=$(pid_of_answer)
last_child=$(child_of "$WORK/child.last" "$last")
_track "$last_child" # killed by the cleanup should the test fail
wd=$(sed -n 's/.*\[runtime\] watchdog started (pid \([0-9]*\)).*/\1/p' "$TRIGD_LOG")
[[ -n "$wd" ]] || fail "no watchdog started"
_alive "$wd" || fail "the watchdog $wd is not running"
kill9_trigd
wait_for 10 _dead "$last" # PR_SET_PDEATHSIG
wait_for 10 _dead "$last_child" # the watchdog
wait_for 10 _dead "$wd"
log "ok"
