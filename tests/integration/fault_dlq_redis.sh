#!/usr/bin/env bash
# fault_dlq_redis.sh — the Redis DLQ backend while Redis is down: an event whose function failed cannot be
# written to the DLQ, so it is kept (its intake entry is not deleted), the route's source is paused, and
# /healthz and trigd_dlq_blocked show it; once Redis is back (same port, AOF) the record is in the DLQ
# stream, the intake is empty, and /healthz is ok again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

durable_redis_setup
run_redis

# The function fails, slowly enough for Redis to be gone when its answer comes.
start_sink --status 500 --delay-ms 3000
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "redis://127.0.0.1:$REDIS_PORT", "connect_timeout_ms": 500},
  "dlq": {"backend": "redis"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "timeout_ms": 20000}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0}}
}
JSON
start_trigd "$WORK/trigd.json"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":1}')" "POST"
_invoked() { (($(sink_count) >= 1)); }
wait_for 20 _invoked
kill -KILL "$REDIS_PID" # while the function works on it
wait "$REDIS_PID" 2> /dev/null || true
_untrack "$REDIS_PID"

_blocked() { [[ "$(metric 'trigd_dlq_blocked{route="r"}')" == 1 ]]; }
wait_for 30 _blocked
health=$(curl -fsS "$(trigd_url /healthz)")
assert_eq degraded "$(json_get "$health" 'j["status"]')" "/healthz status while Redis is down"
assert_eq '["r"]' "$(json_get "$health" 'j["dlq_blocked"]')" "/healthz dlq_blocked"
_retried() { (($(metric 'trigd_dlq_write_failures_total{route="r"}' | cut -d. -f1) >= 2)); }
wait_for 20 _retried
assert_eq 1 "$(grep -c 'cannot write 1 event(s) to the DLQ' "$TRIGD_LOG")" "lines logged for the failed writes"

run_redis
_in_dlq() { [[ "$(rcli XLEN trigd:dlq:r)" == 1 ]]; }
wait_for 30 _in_dlq
rec=$(rcli --raw XRANGE trigd:dlq:r - + | sed -n 3p)
assert_eq '{"n":1}' "$(json_get "$rec" 'j["requestPayload"]["body"]')" "the event in the Redis DLQ"
_intake_done() { [[ "$(rcli XLEN trigd:intake:r)" == 0 ]]; }
wait_for 30 _intake_done
_ok() { [[ "$(json_get "$(curl -fsS "$(trigd_url /healthz)")" 'j["status"]')" == ok ]]; }
wait_for 10 _ok
assert_eq 1 "$(sink_count)" "invocations (the event was not run again)"
stop_trigd
log "ok"
