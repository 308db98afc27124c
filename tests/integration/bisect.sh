#!/usr/bin/env bash
# bisect.sh — bisect_on_error: a batch with one poison record is split until the poison record is
# alone; it goes to the DLQ after max_retry_attempts, and every other record is delivered.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --fail-when-contains poison
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "batch_size": 8, "batch_window_ms": 400,
                   "bisect_on_error": true, "max_retry_attempts": 4, "retry_base_ms": 10, "retry_max_ms": 20}}
}
JSON
start_trigd "$WORK/trigd.json"
for n in 1 2 3 4 5 6 7 8; do
    kind=ok
    [[ $n == 6 ]] && kind=poison
    assert_eq 202 "$(post_json "$(trigd_url /in)" "{\"n\":$n,\"kind\":\"$kind\"}")" "POST $n"
done
_dlq_has_poison() { [[ -s "$WORK/state/dlq/r.jsonl" ]]; }
wait_for 20 _dlq_has_poison

python3 - "$SINK_OUT" "$WORK/state/dlq/r.jsonl" <<'PY' || fail "bisect did not isolate the poison record"
import json, sys
delivered = set()
for line in open(sys.argv[1]):
    l = json.loads(line)
    if l["status"] != 200:
        continue
    body = l["body"]
    for r in body.get("records", [body]):
        delivered.add(json.loads(r["body"])["n"])
assert delivered == {1, 2, 3, 4, 5, 7, 8}, delivered
dlq = [json.loads(l) for l in open(sys.argv[2])]
assert len(dlq) == 1, dlq
rec = dlq[0]["record"]
assert rec["requestContext"]["condition"] == "RetryAttemptsExhausted"
assert [json.loads(r["body"])["n"] for r in rec["trigd"]["records"]] == [6]
PY
stop_trigd
log "ok"
