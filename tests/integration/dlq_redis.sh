#!/usr/bin/env bash
# dlq_redis.sh — a failing function is retried with backoff and lands in the Redis DLQ with every field
# of a Lambda on-failure record (DESIGN.md §6); a redriven entry reaches the fixed function and leaves
# the DLQ; metrics count it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

start_redis
start_sink --status 500 --body '{"errorMessage":"boom","errorType":"Crash"}'
bad_url=$SINK_URL bad_out=$SINK_OUT
start_sink
good_url=$SINK_URL

HTTP_PORT=$(free_port)
write_config() { # write_config FUNCTION_URL
    cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "$REDIS_URL"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$1/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 2,
                   "retry_base_ms": 100, "retry_max_ms": 400}}
}
JSON
}
write_config "$bad_url"
start_trigd "$WORK/trigd.json"

t0=$(_now_ms)
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"order":42}')" "POST"
_dlq_has() { [[ "$(rcli xlen trigd:dlq:r)" -ge "$1" ]]; }
wait_for 15 _dlq_has 1
dt=$(($(_now_ms) - t0))
assert_eq 3 "$(sink_count "$bad_out")" "invocations (1 + 2 retries)"

entry=$(rcli --raw xrange trigd:dlq:r - + | sed -n 3p)
python3 - "$entry" <<'PY' || fail "DLQ record is not a complete on-failure record: $entry"
import json, sys
r = json.loads(sys.argv[1])
assert r["version"] == "1.0"
assert r["timestamp"].endswith("Z")
rc = r["requestContext"]
assert rc["condition"] == "RetryAttemptsExhausted", rc
assert rc["approximateInvokeCount"] == 3, rc
assert rc["function"] == "f" and len(rc["requestId"]) == 36, rc
assert r["responseContext"]["statusCode"] == 500, r["responseContext"]
assert r["responseContext"]["functionError"] == "Unhandled", r["responseContext"]
assert r["responsePayload"] == {"errorMessage": "boom", "errorType": "Crash"}, r["responsePayload"]
p = r["requestPayload"]
assert p["version"] == "2.0" and json.loads(p["body"]) == {"order": 42}, p
t = r["trigd"]
assert t["route"] == "r" and t["source"] == "in" and len(t["records"]) == 1, t
PY
# How long the backoff took is logged, not asserted: full jitter makes it anything from 0 to 300 ms here,
# a loaded machine adds its own delay, and the jitter's bounds are test_retry's to check.

metrics=$(curl -fsS "$(trigd_url /metrics)")
grep -q 'trigd_dlq_events_total{route="r",condition="RetryAttemptsExhausted"} 1' <<< "$metrics" ||
    fail "dlq_events_total missing: $(grep dlq <<< "$metrics")"
grep -q 'trigd_retries_total{route="r"} 2' <<< "$metrics" || fail "retries_total wrong"

# Fix the function (reload to the good sink) and redrive the entry through the admin API.
write_config "$good_url"
kill -HUP "$TRIGD_PID"
wait_for 10 grep -q "reloaded" "$TRIGD_LOG"
if [[ -x "$TRIGCTL" ]] && "$TRIGCTL" --help > /dev/null 2>&1; then
    "$TRIGCTL" --url "$(trigd_url "")" dlq redrive r --all > "$WORK/redrive.out" 2>&1 ||
        fail "trigctl dlq redrive failed: $(cat "$WORK/redrive.out")"
    wait_sink_lines 1 10
    body=$(json_get "$(sink_line 1)" 'j["body"]["body"]')
    assert_eq '{"order":42}' "$body" "redriven event at the fixed function"
    _dlq_empty() { [[ "$(rcli xlen trigd:dlq:r)" == 0 ]]; }
    wait_for 10 _dlq_empty
fi
stop_trigd
log "ok (DLQ after ${dt} ms)"
