#!/usr/bin/env bash
# runtime_failures.sh — failures of runtime functions, as Lambda reports them:
#   timeout: Sandbox.Timedout "Task timed out after 1.00 seconds", the instance's process group is
#            killed and the next invoke gets a fresh instance;
#   crash:   an exit mid-invoke is Runtime.ExitError "exit status 7";
#   init:    /runtime/init/error (the runtime's own errorType), an exit before the first next, and an
#            init past init_timeout_ms (Runtime.InitError) fail the invoke, and later invokes back off
#            instead of starting a process each (spawns counted by the bootstraps);
#   retries: a timed-out event from a route is retried max_retry_attempts times, then DLQ'd with the
#            Sandbox.Timedout body.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "echo": { "type": "runtime", "code_dir": "$RT/echo", "timeout_ms": 1000, "max_concurrency": 1 },
    "noinit": { "type": "runtime", "code_dir": "$RT/initerror", "environment": { "SPAWN_LOG": "$WORK/spawns.initerror" } },
    "exits": { "type": "runtime", "code_dir": "$RT/exitinit", "environment": { "SPAWN_LOG": "$WORK/spawns.exitinit" } },
    "slow": { "type": "runtime", "code_dir": "$RT/slowinit", "init_timeout_ms": 300,
              "environment": { "SPAWN_LOG": "$WORK/spawns.slowinit" } },
    "missing": { "type": "runtime", "code_dir": "$WORK", "command": ["./no-such-bootstrap"] },
    "flaky": { "type": "runtime", "code_dir": "$RT/idlecrash", "min_instances": 1,
               "environment": { "SPAWN_LOG": "$WORK/spawns.idlecrash" } }
  },
  "sources": { "hook": { "type": "webhook", "path": "/hooks/slow" } },
  "routes": { "slow-route": { "source": "hook", "function": "echo", "max_retry_attempts": 1,
                              "retry_base_ms": 50, "retry_max_ms": 100 } }
}
EOF
start_trigd "$WORK/trigd.json"
DLQ_DIR="$WORK/state/dlq"

invoke() { # invoke FUNCTION BODY: the answer in $WORK/out, headers in $WORK/hdr
    curl -sS -D "$WORK/hdr" -o "$WORK/out" --max-time 60 -X POST \
        "$(trigd_url "/2015-03-31/functions/$1/invocations")" --data-binary "$2"
}
out() { json_get "$(cat "$WORK/out")" "$1"; }
unhandled() { grep -qi '^X-Amz-Function-Error: Unhandled' "$WORK/hdr" || fail "$1: no X-Amz-Function-Error: Unhandled"; }

# --- timeout -------------------------------------------------------------------------------------
invoke echo '{"first":true}'
pid1=$(out 'j["pid"]')
invoke echo "{\"gate\":\"$WORK/never\"}"
unhandled timeout
assert_eq Sandbox.Timedout "$(out 'j["errorType"]')" "errorType of a timeout"
out 'j["errorMessage"]' | grep -qE '^RequestId: [0-9a-f-]+ Error: Task timed out after 1\.00 seconds$' ||
    fail "errorMessage of a timeout: $(out 'j["errorMessage"]')"
wait_for 10 _gone "$pid1"
invoke echo '{"after":"timeout"}'
pid2=$(out 'j["pid"]')
[[ "$pid2" != "$pid1" ]] || fail "the invoke after a timeout ran in the killed instance"
assert_eq 1 "$(out 'j["n"]')" "invokes of the fresh instance"

# --- crash mid-invoke ------------------------------------------------------------------------------
invoke echo '{"exit":7}'
unhandled crash
assert_eq Runtime.ExitError "$(out 'j["errorType"]')" "errorType of an exit mid-invoke"
out 'j["errorMessage"]' | grep -qE '^RequestId: [0-9a-f-]+ Error: Runtime exited with error: exit status 7$' ||
    fail "errorMessage of an exit: $(out 'j["errorMessage"]')"
invoke echo '{"after":"crash"}'
[[ "$(out 'j["pid"]')" != "$pid2" ]] || fail "the invoke after a crash ran in the dead instance"

# --- init errors, without a spawn storm ------------------------------------------------------------
spawns() { [[ -f "$1" ]] && wc -l < "$1" | tr -d ' ' || echo 0; }
invoke noinit '{}'
unhandled "init error"
assert_eq Runtime.HandlerNotFound "$(out 'j["errorType"]')" "errorType of a posted init error"
assert_eq "index.nope is undefined or not exported" "$(out 'j["errorMessage"]')" "errorMessage of a posted init error"
for i in 1 2 3 4 5 6 7 8; do
    invoke noinit '{}'
    assert_eq Runtime.HandlerNotFound "$(out 'j["errorType"]')" "errorType of init error invoke $i"
done
n=$(spawns "$WORK/spawns.initerror")
((n >= 1 && n < 9)) || fail "9 invokes of a function whose init fails started $n processes (want fewer: backoff)"
grep -q 'the runtime failed .* in a row (init error or exit); no new instance for' "$TRIGD_LOG" || fail "the backoff is not logged"

invoke exits '{}'
unhandled "exit during init"
assert_eq Runtime.InitError "$(out 'j["errorType"]')" "errorType of an exit before the first next"
out 'j["errorMessage"]' | grep -q 'Runtime exited during init: exit status 2' || fail "errorMessage: $(out 'j["errorMessage"]')"
for i in 1 2 3 4 5; do invoke exits '{}'; done
n=$(spawns "$WORK/spawns.exitinit")
((n >= 1 && n < 6)) || fail "6 invokes of a function that exits in init started $n processes"
grep -q '\[runtime:exits\] - cannot load the handler' "$TRIGD_LOG" || fail "the runtime's init output is not logged"

invoke slow '{}'
unhandled "init timeout"
assert_eq Runtime.InitError "$(out 'j["errorType"]')" "errorType of an init past init_timeout_ms"
out 'j["errorMessage"]' | grep -q 'Init timed out after 300 ms' || fail "errorMessage: $(out 'j["errorMessage"]')"
slow_pid=$(head -n 1 "$WORK/spawns.slowinit")
wait_for 10 _gone "$slow_pid"

invoke missing '{}'
unhandled "missing bootstrap"
assert_eq Runtime.InitError "$(out 'j["errorType"]')" "errorType of a bootstrap that cannot start"

# --- a provisioned instance that dies between invokes is replaced, backing off -------------------
_spawned() { [[ "$(spawns "$WORK/spawns.idlecrash")" -ge "$1" ]]; }
wait_for 60 _spawned 4
# The starts are at least the growing backoff apart (1 s, 2 s, 4 s), however fast the machine.
python3 - "$WORK/spawns.idlecrash" << 'PY' || fail "replacements of a crashing instance did not back off: $(cat "$WORK/spawns.idlecrash")"
import sys
t = [int(l.split()[1]) / 1e6 for l in open(sys.argv[1])][:4]
gaps = [b - a for a, b in zip(t, t[1:])]
assert gaps[0] >= 0.9 and gaps[1] >= 1.9 and gaps[2] >= 3.9, gaps
PY
grep -q '\[runtime:flaky\] instance [0-9]* (pid [0-9]*) exited while idle: exit status 3' "$TRIGD_LOG" ||
    fail "the exit between invokes is not logged"

# --- retries and the DLQ keep working: a timed-out event is retried, then DLQ'd -------------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/slow)" "{\"gate\":\"$WORK/never\"}")" "POST to the hook"
_dlq_has() { [[ -s "$DLQ_DIR/slow-route.jsonl" ]]; }
wait_for 30 _dlq_has
rec=$(head -n 1 "$DLQ_DIR/slow-route.jsonl")
assert_eq 2 "$(json_get "$rec" 'j["record"]["requestContext"]["approximateInvokeCount"]')" "invokes of the timed-out event"
assert_eq Sandbox.Timedout "$(json_get "$rec" '(lambda p: p if isinstance(p, dict) else json.loads(p))(j["record"]["responsePayload"])["errorType"]')" \
    "errorType in the DLQ record"

stop_trigd
log "ok"
