#!/usr/bin/env bash
# partial_batch.sh — report_batch_item_failures: only the items a function reports as failed are
# retried; a malformed response fails the whole batch.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

# The function: records every batch it receives, and reports as failed (once) each record whose body
# contains "flaky", and always each record whose body contains "garbage" with an unknown id.
cat > "$WORK/fn.py" <<'PY'
import json, os, sys
work = os.environ["WORK"]
event = json.load(sys.stdin)
records = event.get("records", [event])
with open(os.path.join(work, "calls.jsonl"), "a") as f:
    f.write(json.dumps([json.loads(r["body"])["n"] for r in records]) + "\n")
failures = []
for r in records:
    rid = r["requestContext"]["requestId"]
    body = json.loads(r["body"])
    mark = os.path.join(work, "seen-%s" % body["n"])
    if body.get("kind") == "flaky" and not os.path.exists(mark):
        open(mark, "w").close()
        failures.append({"itemIdentifier": rid})
    if body.get("kind") == "garbage" and not os.path.exists(mark):
        open(mark, "w").close()
        failures.append({"itemIdentifier": "not-in-this-batch"})
print(json.dumps({"batchItemFailures": failures}))
PY
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "exec", "command": ["python3", "$WORK/fn.py"],
                      "env": {"WORK": "$WORK"}, "max_concurrency": 1}},
  "sources": {"in": {"type": "webhook", "path": "/in"}, "in2": {"type": "webhook", "path": "/in2"}},
  "routes": {"r": {"source": "in", "function": "f", "batch_size": 4, "batch_window_ms": 300000,
                   "report_batch_item_failures": true, "retry_base_ms": 50, "retry_max_ms": 100},
             "r2": {"source": "in2", "function": "f", "batch_size": 2, "batch_window_ms": 300000,
                    "report_batch_item_failures": true, "retry_base_ms": 50, "retry_max_ms": 100}}
}
JSON
# The windows never end during the test: a batch is cut when it is full (4 events, then 2), however
# slowly the events are posted.
start_trigd "$WORK/trigd.json"
for n in 1 2 3 4; do
    kind=ok
    [[ $n == 2 ]] && kind=flaky
    assert_eq 202 "$(post_json "$(trigd_url /in)" "{\"n\":$n,\"kind\":\"$kind\"}")" "POST $n"
done
_calls() { [[ -f "$WORK/calls.jsonl" ]] && (($(wc -l < "$WORK/calls.jsonl") >= $1)); }
wait_for 15 _calls 2
wait_route_idle 15 r # nothing else may arrive: the retry held only the failed item
assert_eq '[1, 2, 3, 4]' "$(sed -n 1p "$WORK/calls.jsonl")" "first batch"
assert_eq '[2]' "$(sed -n 2p "$WORK/calls.jsonl")" "retry holds only the failed item"
assert_eq 2 "$(wc -l < "$WORK/calls.jsonl")" "invocations"

# A malformed response (an id not in the batch) fails the whole batch: all of it is retried.
: > "$WORK/calls.jsonl"
for n in 5 6; do
    kind=ok
    [[ $n == 5 ]] && kind=garbage
    assert_eq 202 "$(post_json "$(trigd_url /in2)" "{\"n\":$n,\"kind\":\"$kind\"}")" "POST $n"
done
wait_for 15 _calls 2
wait_route_idle 15 r2
assert_eq '[5, 6]' "$(sed -n 1p "$WORK/calls.jsonl")" "batch with a malformed response"
assert_eq '[5, 6]' "$(sed -n 2p "$WORK/calls.jsonl")" "the whole batch is retried"
assert_eq 2 "$(wc -l < "$WORK/calls.jsonl")" "invocations of the malformed batch"
grep -q "malformed partial batch response" "$TRIGD_LOG" || fail "malformed response not logged"
stop_trigd
log "ok"
