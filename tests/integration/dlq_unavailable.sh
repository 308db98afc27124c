#!/usr/bin/env bash
# dlq_unavailable.sh — when the DLQ cannot be written (Redis down), failed events are not dropped: the
# route pauses its source (webhooks answer 503) and retries the write; when Redis returns the record
# is written and the route takes events again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

start_redis
start_sink --status 500
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "$REDIS_URL"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0}}
}
JSON
start_trigd "$WORK/trigd.json"

# Redis goes away, then an event fails: its DLQ write cannot happen.
stop_process "$REDIS_PID"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":1}')" "POST while Redis is down"
_blocked() { [[ "$(post_json "$(trigd_url /in)" '{"probe":1}')" == 503 ]]; }
wait_for 10 _blocked
grep -q "cannot write 1 event(s) to the DLQ" "$TRIGD_LOG" || fail "the DLQ failure is not logged"
_status_blocked() { curl -fsS "$(trigd_url /admin/status)" | grep -q '"dlq_blocked":true'; }
wait_for 5 _status_blocked

# Redis returns on the same port: the record is written, the route resumes.
dir="$WORK/redis-$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no \
    --logfile "$dir/redis2.log" &
REDIS_PID=$!
_track "$REDIS_PID"
_dlq_written() { [[ "$(rcli xlen trigd:dlq:r 2> /dev/null)" == 1 ]]; }
wait_for 20 _dlq_written
body=$(rcli --raw xrange trigd:dlq:r - + | sed -n 3p)
assert_eq '{"n":1}' "$(json_get "$body" 'j["requestPayload"]["body"]')" "the event in the DLQ"
_accepting() { [[ "$(post_json "$(trigd_url /in)" '{"n":2}')" == 202 ]]; }
wait_for 10 _accepting
stop_trigd
log "ok"
