#!/usr/bin/env bash
# redis_intake_crash.sh — durable intake (DESIGN.md §4): webhooks under sustained load with `redis` set are
# answered 202 only once the event is in Redis; kill -9 trigd mid-load and restart it: every event that got a
# 202 reaches the function at least once (duplicates reported). Then Redis itself is restarted mid-load (AOF,
# fsync always): no 202'd event is lost, webhooks answer 503 + Retry-After meanwhile, and trigd recovers
# without a restart. The intake stream ends empty (acknowledged entries are deleted).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

# Redis with an append-only file, so that a restart keeps what it acknowledged.
durable_redis_setup
run_redis
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

start_sink --delay-ms 5
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "$REDIS_URL", "intake_visibility_timeout_ms": 1000, "connect_timeout_ms": 500},
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": 3000,
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 4}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "retry_base_ms": 50, "retry_max_ms": 200}}
}
JSON
start_trigd "$WORK/trigd.json"

# load FROM TO FILE: POST events FROM..TO one after the other; "n code" per line in FILE. Stops early
# once $WORK/stop exists: a background load lasts until the test has done what it does "during load",
# however fast or slow the machine is.
load() {
    local i code
    for ((i = $1; i <= $2; i++)); do
        [[ ! -e "$WORK/stop" ]] || break
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
            --data-binary "{\"n\":$i}" "http://127.0.0.1:$HTTP_PORT/in" 2> /dev/null || true)
        echo "$i $code" >> "$3"
    done
}
accepted() { awk '$2 ~ /^2/ { c++ } END { print c + 0 }' "$1"; }
_accepted_at_least() { (($(accepted "$1") >= $2)); }

touch "$WORK/load1" "$WORK/load2" "$WORK/load3"

# stop_load: end the background loader and wait for it.
stop_load() {
    touch "$WORK/stop"
    wait "$loader"
    rm -f "$WORK/stop"
}
last_n() { awk 'END { print $1 + 0 }' "$1"; }

# --- 1. kill -9 during load -------------------------------------------------------------------------
load 1 100000 "$WORK/load1" &
loader=$!
wait_for 90 _accepted_at_least "$WORK/load1" 120
kill9_trigd
at_kill=$(accepted "$WORK/load1")
log "killed trigd after $at_kill accepted events"
start_trigd "$WORK/trigd.json"
wait_for 90 _accepted_at_least "$WORK/load1" $((at_kill + 50)) # the load goes on into the new trigd
stop_load

# --- 2. Redis restarted during load -----------------------------------------------------------------
first=$(($(last_n "$WORK/load1") + 1))
load "$first" 100000 "$WORK/load2" &
loader=$!
wait_for 90 _accepted_at_least "$WORK/load2" 80
kill -TERM "$REDIS_PID"
wait_for 10 _gone "$REDIS_PID"
wait "$REDIS_PID" 2> /dev/null || true
_untrack "$REDIS_PID"
_refused() { grep -q ' 503$' "$WORK/load2"; }
wait_for 30 _refused
at_restart=$(accepted "$WORK/load2")
run_redis
wait_for 90 _accepted_at_least "$WORK/load2" $((at_restart + 20)) # the load goes on after the restart
stop_load
first=$(($(last_n "$WORK/load2") + 1))
load "$first" $((first + 19)) "$WORK/load3" # after the restart: accepted again without restarting trigd
(($(accepted "$WORK/load3") == 20)) || fail "trigd did not recover after Redis came back: $(cat "$WORK/load3")"

cat "$WORK/load1" "$WORK/load2" "$WORK/load3" | awk '$2 ~ /^2/ { print $1 }' | sort -n > "$WORK/acked"
n_acked=$(wc -l < "$WORK/acked")
received_ids() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(json.loads(j["body"]["body"])["n"])' "$SINK_OUT" | sort -n
}
_all_received() {
    received_ids | uniq > "$WORK/received"
    [[ -z "$(comm -23 "$WORK/acked" "$WORK/received")" ]]
}
wait_for 90 _all_received
_intake_empty() { [[ "$(rcli xlen trigd:intake:r)" == 0 ]]; }
wait_for 30 _intake_empty
dups=$(received_ids | uniq -d | wc -l)
refused=$(cat "$WORK/load1" "$WORK/load2" | awk '$2 !~ /^2/' | wc -l)
stop_trigd
log "ok: $n_acked events accepted (202), all delivered; $dups delivered twice (kill -9 / Redis restart); $refused refused (503 or no answer)"
