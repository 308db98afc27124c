#!/usr/bin/env bash
# shutdown_drain.sh — SIGTERM drains: with batches in flight (held open at the sink) and more queued,
# trigd stops intake, waits for them (it is still running while the calls are held), lets them and the
# queued events finish once the sink answers, and exits 0 with every accepted event delivered; with a
# function that never answers it still exits 0 after shutdown_timeout_ms, and logs that it abandoned the
# unfinished events.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

# write_conf FILE SINK_URL SHUTDOWN_TIMEOUT_MS [SYNC_SINK_URL]: a webhook /hooks/in to fn (SINK_URL),
# and with SYNC_SINK_URL a sync-mode webhook /hooks/sync to fn-sync (SYNC_SINK_URL).
write_conf() {
    local sync_fn="" sync_src="" sync_route=""
    if [[ -n "${4:-}" ]]; then
        sync_fn=", \"fn-sync\": { \"type\": \"http\", \"url\": \"$4/sync\", \"timeout_ms\": 600000 }"
        sync_src=', "sync": { "type": "webhook", "path": "/hooks/sync", "mode": "sync" }'
        sync_route=', "rs": { "source": "sync", "function": "fn-sync" }'
    fi
    cat > "$1" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": $3,
  "functions": {
    "fn": { "type": "http", "url": "$2/fn", "timeout_ms": 600000, "max_concurrency": 3 }$sync_fn
  },
  "sources": { "in": { "type": "webhook", "path": "/hooks/in" }$sync_src },
  "routes": { "r": { "source": "in", "function": "fn", "batch_size": 1 }$sync_route }
}
EOF
}

# post_events N: POST events 1..N, each must be accepted (202).
post_events() {
    local i
    for ((i = 1; i <= $1; i++)); do
        assert_eq 202 "$(post_json "$(trigd_url /hooks/in)" "{\"seq\":$i}")" "event $i"
    done
}

_log_has() { grep -q -- "$1" "$TRIGD_LOG"; }

# delivered_once N FILE: every seq 1..N is in FILE exactly once.
delivered_once() {
    python3 - "$1" "$2" << 'EOF'
import collections, json, sys
n, path = int(sys.argv[1]), sys.argv[2]
seen = collections.Counter(json.loads(json.loads(l)["body"]["body"])["seq"] for l in open(path))
bad = ["event %d reached the function %d times" % (s, seen[s]) for s in range(1, n + 1) if seen[s] != 1]
bad += ["unknown event %s" % s for s in seen if not 1 <= s <= n]
sys.exit("\n".join(bad) if bad else 0)
EOF
}

# --- 1: drain in-flight and queued work, then exit 0 -----------------------------------------------
start_sink --hold --body '{"answer":"from the function"}'
SYNC_OUT=$SINK_OUT SYNC_URL=$SINK_URL
start_sink --hold
HTTP_PORT=$(free_port)
write_conf "$WORK/drain.json" "$SINK_URL" 600000 "$SYNC_URL"
start_trigd "$WORK/drain.json"
# A sync request, waiting for its function (held) across the SIGTERM.
curl -sS -o "$WORK/sync_resp" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
    --data-binary '{"sync":1}' "$(trigd_url /hooks/sync)" > "$WORK/sync_code" 2> "$WORK/sync_err" &
SYNC_CURL=$!
_track "$SYNC_CURL"
wait_sink_open 1 10 "$SYNC_URL"
N=8 # 3 in flight at once (max_concurrency), the rest queued
post_events "$N"
wait_sink_open 3 10 # three batches are in flight: the sink is holding them
assert_eq "$N" "$(metric 'trigd_queued{route="r"}')" "events the route holds (3 in flight, 5 queued)"
kill -TERM "$TRIGD_PID"
wait_for 5 _log_has "stopping intake"

# Intake is stopped: a new event is refused in a way its sender retries: 503 with Retry-After (or no
# listener at all), never 202, and never 404 (which tells a sender the hook does not exist).
code=$(curl -sS -o "$WORK/resp" -D "$WORK/hdrs" -w '%{http_code}' --max-time 10 \
    -H 'Content-Type: application/json' --data-binary '{"seq":999}' "$(trigd_url /hooks/in)" || true)
log "POST during the drain answered $code"
[[ $code != 202 ]] || fail "an event was accepted (202) after SIGTERM"
if [[ $code != 000 ]]; then
    assert_eq 503 "$code" "POST during the drain"
    grep -Eqi '^retry-after: *[0-9]+' "$WORK/hdrs" || fail "503 during the drain without Retry-After"
fi

# Draining: with its calls held, trigd must still be running (shutdown_timeout_ms is 600 s).
kill -0 "$TRIGD_PID" 2> /dev/null || fail "trigd exited with calls in flight and events queued"
sink_ctl release > /dev/null
sink_ctl release "$SYNC_URL" > /dev/null
wait_for 20 _gone "$TRIGD_PID"
STOP_RC=0
wait "$TRIGD_PID" || STOP_RC=$?
_untrack "$TRIGD_PID"
assert_eq 0 "$STOP_RC" "exit status after draining"
assert_eq "$N" "$(sink_count)" "function calls after the drain"
delivered_once "$N" "$SINK_OUT" || fail "not every accepted event was delivered exactly once"
if grep -q 'abandon' "$TRIGD_LOG"; then fail "a drain within the timeout abandoned events"; fi
# The sync request got its function's answer.
wait_for 10 _gone "$SYNC_CURL"
wait "$SYNC_CURL" || true
_untrack "$SYNC_CURL"
assert_eq 1 "$(sink_count "$SYNC_OUT")" "calls of the sync function"
sync_code=$(cat "$WORK/sync_code")
assert_eq 200 "$sync_code" "sync request across the SIGTERM"
assert_eq '{"answer":"from the function"}' "$(cat "$WORK/sync_resp")" "sync answer across the SIGTERM"
grep -q 'stopped' "$TRIGD_LOG" || fail "no 'stopped' line in the log"
log "drained $N events after SIGTERM and exited 0"

# --- 2: a function that never answers (held): exit 0 after shutdown_timeout_ms, log the abandon ------
start_sink --hold
write_conf "$WORK/abandon.json" "$SINK_URL" 300
start_trigd "$WORK/abandon.json"
post_events 5 # 3 in flight, 2 queued
wait_sink_open 3 10
t0=$(_now_ms)
kill -TERM "$TRIGD_PID"
# The calls are never answered (and time out only after 600 s): exiting at all is the abandon.
wait_for 15 _gone "$TRIGD_PID"
dt=$(($(_now_ms) - t0))
STOP_RC=0
wait "$TRIGD_PID" || STOP_RC=$?
_untrack "$TRIGD_PID"
assert_eq 0 "$STOP_RC" "exit status after abandoning"
((dt >= 250)) || fail "trigd exited ${dt} ms after SIGTERM, before shutdown_timeout_ms (300)"
grep -Eq 'abandon(ing|ed) 5 ' "$TRIGD_LOG" || fail "the log does not say that 5 events were abandoned"
grep -q 'stopped' "$TRIGD_LOG" || fail "no 'stopped' line in the log"
log "abandoned 5 events and exited 0 ${dt} ms after SIGTERM"

log "ok"
