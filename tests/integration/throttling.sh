#!/usr/bin/env bash
# throttling.sh — a function answering 429 is retried without consuming attempts (max_retry_attempts 0
# still delivers), honouring Retry-After; a 500 with max_retry_attempts 0 goes straight to the DLQ.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --throttle-first 2
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0,
                   "retry_base_ms": 10, "retry_max_ms": 3000}}
}
JSON
start_trigd "$WORK/trigd.json"
t0=$(_now_ms)
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"x":1}')" "POST"
wait_sink_lines 3 15
dt=$(($(_now_ms) - t0))
# Two 429s with Retry-After: 1 each: the success comes after at least ~2 s.
((dt >= 1900)) || fail "Retry-After not honoured: delivered after ${dt} ms"
[[ ! -s "$WORK/state/dlq/r.jsonl" ]] || fail "a throttled event went to the DLQ"
metrics=$(curl -fsS "$(trigd_url /metrics)")
grep -q 'trigd_invocations_total{function="f",outcome="throttled"} 2' <<< "$metrics" || fail "throttled count"
grep -q 'trigd_invocations_total{function="f",outcome="success"} 1' <<< "$metrics" || fail "success count"
stop_trigd
log "ok (delivered after ${dt} ms)"
