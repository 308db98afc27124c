#!/usr/bin/env bash
# runtime_lifecycle.sh — reload and shutdown with runtime functions:
#   SIGHUP with a changed function: new invokes go to a new instance (with the new environment), the
#          old instance stops, and the instances gauge counts the new pool only;
#   SIGTERM: an event in flight (held by a gate) finishes, trigd exits 0, and no instance or
#          process of their groups is left;
#   kill -9 of trigd: the instances notice (PR_SET_PDEATHSIG) and nothing of them is left.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3 ps

RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir
HTTP_PORT=$(free_port)
config() { # config STAGE
    cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "echo": { "type": "runtime", "code_dir": "$RT/echo", "max_concurrency": 2, "timeout_ms": 60000,
              "environment": { "STAGE": "$1" } },
    "warm": { "type": "runtime", "code_dir": "$RT/echo", "max_concurrency": 2, "min_instances": 2 }
  },
  "sources": { "hook": { "type": "webhook", "path": "/hooks/echo" } },
  "routes": { "echo-route": { "source": "hook", "function": "echo" } }
}
EOF
}
invoke() { # invoke FUNCTION BODY [OUT]
    curl -sS -o "${3:-$WORK/out}" --max-time 60 -X POST "$(trigd_url "/2015-03-31/functions/$1/invocations")" \
        --data-binary "$2"
}
status() { curl -fsS "$(trigd_url /admin/status)"; }
pids_of() { json_get "$(status)" "\" \".join(str(i[\"pid\"]) for f in j[\"functions\"] if f[\"name\"] == \"$1\" for i in f[\"instance_list\"])"; }
# _group_empty PGID: no live (non-zombie) process in the group
_group_empty() { ! ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }
_warm_ready() { [[ $(wc -w <<< "$(pids_of warm)") == 2 ]] && [[ "$(json_get "$(status)" '[f for f in j["functions"] if f["name"] == "warm"][0]["instances"]["idle"]')" == 2 ]]; }

# --- SIGHUP with a changed function -------------------------------------------------------------
config one
start_trigd "$WORK/trigd.json"
invoke echo '{"env":true}'
grep -qx STAGE=one "$WORK/out" || fail "STAGE before the reload"
invoke echo '{"a":1}'
old=$(json_get "$(cat "$WORK/out")" 'j["pid"]')
config two
kill -HUP "$TRIGD_PID"
_reloaded() { grep -q 'reload' "$TRIGD_LOG" && invoke echo '{"env":true}' && grep -qx STAGE=two "$WORK/out"; }
wait_for 20 _reloaded
invoke echo '{"a":2}'
new=$(json_get "$(cat "$WORK/out")" 'j["pid"]')
[[ "$new" != "$old" ]] || fail "the changed function still runs in the old instance"
wait_for 20 _gone "$old"
# the old pool's instances left trigd_function_instances; the new pool's are counted
_idle_gauge_one() { [[ "$(metric 'trigd_function_instances{function="echo",state="idle"}')" == 1 ]]; }
wait_for 20 _idle_gauge_one

# --- SIGTERM: the invoke in flight finishes, then every instance stops ---------------------------
wait_for 20 _warm_ready
all=$(pids_of echo; pids_of warm)
curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
    --data-binary "{\"gate\":\"$WORK/gate\"}" "$(trigd_url /hooks/echo)" > "$WORK/gated" &
_track $!
_gated() { compgen -G "$WORK/gate.in.*" > /dev/null; }
wait_for 20 _gated
all="$all $(pids_of echo)"
kill -TERM "$TRIGD_PID"
wait_for 10 grep -q 'shutting down' "$TRIGD_LOG"
touch "$WORK/gate"
_answered() { [[ -s "$WORK/gated" ]]; }
wait_for 30 _answered
assert_eq 202 "$(cat "$WORK/gated")" "the webhook event in flight at SIGTERM"
grep -q 'START RequestId' "$TRIGD_LOG" && grep -c 'END RequestId' "$TRIGD_LOG" > /dev/null
stop_trigd
for p in $all; do
    _gone "$p" || fail "instance $p outlived trigd's shutdown"
    wait_for 10 _group_empty "$p" # what the instance ran itself got SIGTERM too; give it time to go
done

# --- kill -9 of trigd -------------------------------------------------------------------------
start_trigd "$WORK/trigd.json"
wait_for 20 _warm_ready
invoke echo '{"a":3}'
all="$(pids_of warm) $(pids_of echo)"
[[ $(wc -w <<< "$all") == 3 ]] || fail "expected 3 instances before kill -9, got: $all"
kill9_trigd
for p in $all; do
    wait_for 10 _gone "$p"
    wait_for 10 _group_empty "$p"
done
log "ok"
