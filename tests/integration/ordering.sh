#!/usr/bin/env bash
# ordering.sh — ordering keys: events with the same key (here from a webhook's order_key_header) are
# processed one batch at a time in arrival order, while different keys run concurrently. The sink holds
# the first calls open until all three keys are in flight at once (concurrency, made to happen rather than
# read off receipt times), and its record of which calls were open at each receipt shows that no key ever
# had two calls in flight.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --hold
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 8, "timeout_ms": 600000}},
  "sources": {"in": {"type": "webhook", "path": "/in", "order_key_header": "X-Group"}},
  "routes": {"r": {"source": "in", "function": "f", "batch_size": 2}}
}
JSON
start_trigd "$WORK/trigd.json"
# Three groups, 6 events each, interleaved.
for i in $(seq 1 6); do
    for g in a b c; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Group: $g" -H 'Content-Type: application/json' \
            --data-binary "{\"g\":\"$g\",\"i\":$i}" "$(trigd_url /in)")
        assert_eq 202 "$code" "POST $g$i"
    done
done
# Nothing is answered yet: each key's first batch is sent and held, and no key's second one may follow.
wait_sink_open 3 20
assert_eq 3 "$(sink_count)" "calls received while the first ones are held"
python3 - "$SINK_OUT" <<'PY' || fail "the three calls held at once are not one per key"
import json, sys
groups = sorted(json.loads(json.loads(l)["body"].get("records", [json.loads(l)["body"]])[0]["body"])["g"]
                for l in open(sys.argv[1]))
assert groups == ["a", "b", "c"], groups
PY
sink_ctl release > /dev/null
_all() {
    python3 - "$SINK_OUT" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    body = json.loads(line)["body"]
    n += len(body.get("records", [body]))
sys.exit(0 if n >= 18 else 1)
PY
}
wait_for 20 _all
python3 - "$SINK_OUT" <<'PY' || fail "per-key order or concurrency is wrong"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
seen = {}
key = {}  # call number -> its group
for l in lines:
    body = l["body"]
    recs = [json.loads(r["body"]) for r in body.get("records", [body])]
    assert len({r["g"] for r in recs}) == 1, "a batch mixed keys: %s" % recs
    g = recs[0]["g"]
    key[l["n"]] = g
    seen.setdefault(g, []).extend(r["i"] for r in recs)
for g, order in seen.items():
    assert order == list(range(1, 7)), (g, order)
assert sorted(seen) == ["a", "b", "c"], sorted(seen)
# One call at a time per key: no call arrived while another call of its key was still unanswered.
for l in lines:
    same = [n for n in l["open"] if key.get(n) == key[l["n"]]]
    assert not same, "call %d (%s) arrived while call(s) %s of its key were open" % (l["n"], key[l["n"]], same)
# Different keys at once: some call arrived while calls of both other keys were open.
assert any(len({key[n] for n in l["open"]} | {key[l["n"]]}) == 3 for l in lines), "never three keys at once"
print("per-key order kept; one call per key at a time; the three keys ran concurrently")
PY
[[ "$(sink_ctl max_open)" == 3 ]] || fail "max calls open at once: $(sink_ctl max_open), expected 3 (one per key)"
stop_trigd
log "ok"
