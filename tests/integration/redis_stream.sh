#!/usr/bin/env bash
# redis_stream.sh — the redis_stream source (the self-hosted SQS), run as an ACL user limited to trigd's keys
# and the stream commands: SQS-shaped Records; a partial batch failure leaves exactly the failed entries
# pending and acknowledges the rest; max_receive_count sends a failing entry to the DLQ (and acknowledges
# it); trigctl dlq list / show / redrive --id / redrive --all / purge against the Redis DLQ.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

start_redis
rcli ACL SETUSER trigd on '>s3cret' '~trigd:*' '~jobs*' -@all +@stream +@connection +eval +evalsha +del \
    +ping +select > /dev/null
# Entries with known ids, there before trigd starts (start "0" takes them).
for i in 1 2 3 4 5; do rcli XADD jobs "1-$i" body "{\"job\":$i}" tenant acme > /dev/null; done
for i in 1 2 3; do rcli XADD jobs-poison "1-$i" n "$i" > /dev/null; done

start_sink --partial-ids 1-2,1-4
part_out=$SINK_OUT part_url=$SINK_URL
start_sink --fail-first 6
dlq_out=$SINK_OUT dlq_url=$SINK_URL
HTTP_PORT=$(free_port)
export TRIGD_REDIS_PASSWORD=s3cret
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "redis://trigd@127.0.0.1:$REDIS_PORT", "password_env": "TRIGD_REDIS_PASSWORD"},
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": 1000,
  "functions": {"part": {"type": "http", "url": "$part_url/fn"}, "flaky": {"type": "http", "url": "$dlq_url/fn"}},
  "sources": {
    "jobs": {"type": "redis_stream", "stream": "jobs", "start": "0", "envelope": "sqs"},
    "poison": {"type": "redis_stream", "stream": "jobs-poison", "start": "0", "max_receive_count": 2}
  },
  "routes": {
    "work": {"source": "jobs", "function": "part", "report_batch_item_failures": true, "batch_window_ms": 300,
             "retry_base_ms": 60000, "retry_max_ms": 60000},
    "p": {"source": "poison", "function": "flaky", "batch_size": 1, "retry_base_ms": 20, "retry_max_ms": 50}
  }
}
JSON
start_trigd "$WORK/trigd.json"
_ready() { curl -fsS -o /dev/null "$(trigd_url /readyz)"; }
wait_for 10 _ready

# --- SQS records, partial batch failure ------------------------------------------------------------
wait_sink_lines 1 10 "$part_out"
python3 - "$(sink_line 1 "$part_out")" <<'PY' || fail "not an SQS batch: $(sink_line 1 "$part_out")"
import json, sys
recs = json.loads(sys.argv[1])["body"]["Records"]
assert [r["messageId"] for r in recs] == ["1-%d" % i for i in range(1, 6)], recs
r = recs[0]
assert r["body"] == '{"job":1}' and r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == "jobs", r
assert r["attributes"]["ApproximateReceiveCount"] == "1" and r["attributes"]["SentTimestamp"] == "1", r
assert r["messageAttributes"]["tenant"]["stringValue"] == "acme", r
PY
pending_ids() { rcli --raw XPENDING jobs trigd - + 100 | awk 'NR % 4 == 1' | tr '\n' ' '; }
_only_failed_pending() { [[ "$(pending_ids)" == "1-2 1-4 " ]]; }
wait_for 10 _only_failed_pending

# --- max_receive_count -> DLQ ----------------------------------------------------------------------
_dlq_has() { [[ "$(rcli XLEN trigd:dlq:p)" == "$1" ]]; }
wait_for 15 _dlq_has 3
assert_eq 6 "$(sink_count "$dlq_out")" "invocations of the poison entries (2 each)"
_none_pending() { [[ "$(rcli XPENDING jobs-poison trigd | head -1)" == 0 ]]; }
wait_for 10 _none_pending
entry=$(rcli --raw XRANGE trigd:dlq:p - + COUNT 1 | sed -n 3p)
python3 - "$entry" <<'PY' || fail "DLQ record: $entry"
import json, sys
r = json.loads(sys.argv[1])
assert r["requestContext"]["condition"] == "RetryAttemptsExhausted", r
assert r["requestContext"]["approximateInvokeCount"] == 2, r
assert r["requestPayload"]["Records"][0]["messageId"] in ("1-1", "1-2", "1-3"), r["requestPayload"]
PY

# --- DLQ operations through trigctl ------------------------------------------------------------------
export TRIGD_URL="http://127.0.0.1:$HTTP_PORT"
ids=($(rcli --raw XRANGE trigd:dlq:p - + | awk 'NR % 3 == 1'))
"$TRIGCTL" dlq list p > "$WORK/list" || fail "dlq list"
grep -q "^${ids[0]}  *RetryAttemptsExhausted" "$WORK/list" || fail "dlq list: $(cat "$WORK/list")"
"$TRIGCTL" dlq show p "${ids[1]}" > "$WORK/show" || fail "dlq show"
grep -q '"messageId"' "$WORK/show" || fail "dlq show: $(cat "$WORK/show")"
"$TRIGCTL" dlq redrive p --id "${ids[0]}" > "$WORK/out" || fail "redrive --id: $(cat "$WORK/out")"
wait_for 10 _dlq_has 2
assert_eq 7 "$(sink_count "$dlq_out")" "the redriven entry reached the function"
"$TRIGCTL" dlq redrive p --all > "$WORK/out" || fail "redrive --all: $(cat "$WORK/out")"
wait_for 10 _dlq_has 0
assert_eq 9 "$(sink_count "$dlq_out")" "redrive --all"
# purge: three more dead entries (the function fails again for them: the sink answers 500 when asked to)
rcli XADD trigd:dlq:p '*' record '{}' > /dev/null
rcli XADD trigd:dlq:p '*' record '{}' > /dev/null
"$TRIGCTL" dlq purge p > "$WORK/out" || fail "purge: $(cat "$WORK/out")"
wait_for 10 _dlq_has 0

stop_trigd
# Stopping gives the failed entries back (still pending); the successes stay acknowledged.
_only_failed_pending
log "ok"
