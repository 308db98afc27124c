#!/usr/bin/env bash
# webhook_batches.sh — webhook -> http function in batches: size and window cut batches, every event
# arrives exactly once, and the batch is the {"eventSource":"trigd:webhook","records":[...]} envelope.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --hold # the first call stays open until the rest is queued
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1, "timeout_ms": 600000}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "sink", "batch_size": 5, "batch_window_ms": 300}}
}
JSON
start_trigd "$WORK/trigd.json"

# Event 1 alone goes out when its window ends and is held at the sink; the function takes one batch at a
# time, so events 2-12 wait in the route however slowly they are posted, and once the first call is
# answered they go out in batches of 5, 5 and 1 (the last after its window).
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":1}')" "POST 1"
wait_sink_open 1
for i in $(seq 2 12); do
    assert_eq 202 "$(post_json "$(trigd_url /in)" "{\"n\":$i}")" "POST $i"
done
# trigd_queued counts what the route holds: the event in flight and the 11 behind it.
assert_eq 12 "$(metric 'trigd_queued{route="r"}')" "events the route holds behind the held call"
sink_ctl release > /dev/null

_all_arrived() {
    python3 - "$SINK_OUT" <<'PY'
import json, sys
seen = []
for line in open(sys.argv[1]):
    body = json.loads(line)["body"]
    records = body["records"] if "records" in body else [body]
    seen += [json.loads(r["body"])["n"] for r in records]
sys.exit(0 if sorted(seen) == list(range(1, 13)) else 1)
PY
}
wait_for 20 _all_arrived

python3 - "$SINK_OUT" <<'PY' || fail "batches are not as expected"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sizes = []
order = []
for l in lines:
    body = l["body"]
    if "records" in body:
        assert body["eventSource"] == "trigd:webhook", body.get("eventSource")
        recs = body["records"]
    else:
        recs = [body]
    assert all(r["version"] == "2.0" and r["rawPath"] == "/in" for r in recs)
    sizes.append(len(recs))
    order += [json.loads(r["body"])["n"] for r in recs]
assert sizes == [1, 5, 5, 1], "batches: %s" % sizes
assert order == sorted(order), "unordered lane kept arrival order with one invocation at a time: %s" % order
print("batch sizes", sizes)
PY

# The window alone cuts a batch: one event, nothing else, arrives after batch_window_ms (a lower bound:
# a slow machine only makes it later).
before=$(sink_count)
t0=$(_now_ms)
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":13}')" "POST 13"
wait_sink_lines $((before + 1)) 10
dt=$(($(_now_ms) - t0))
((dt >= 250)) || fail "a lone event was sent after ${dt} ms, before its 300 ms window"

metrics=$(curl -fsS "$(trigd_url /metrics)")
grep -q 'trigd_events_received_total{source="in"} 13' <<< "$metrics" || fail "events_received_total wrong"
grep -q 'trigd_batch_size_count{route="r"}' <<< "$metrics" || fail "no batch_size histogram"
stop_trigd
log "ok"
