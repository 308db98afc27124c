#!/usr/bin/env bash
# schedule_full.sh — a schedule whose route is full loses no fire: with the function's first call held open
# (a gate in the sink) and the route at max_queued_events 1, later ticks wait in trigd
# (trigd_source_held), and once the gate opens every tick from the first on reaches the function, once,
# in order.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --hold
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/f", "timeout_ms": 600000}},
  "sources": {"tick": {"type": "schedule", "expression": "* * * * * *", "seconds": true}},
  "routes": {"r": {"source": "tick", "function": "f", "max_queued_events": 1}}
}
JSON
start_trigd "$WORK/trigd.json"

# the first fire is held open at the function; the route is full, so the next ticks wait in trigd
wait_sink_open 1 30
_held() { (($(metric 'trigd_source_held{source="tick"}') >= 3)); }
wait_for 60 _held
held=$(metric 'trigd_source_held{source="tick"}')
sink_ctl release > /dev/null
# every fire up to the last one that waited, and one more that did not
wait_sink_lines $((held + 2)) 60
stop_trigd

python3 - "$SINK_OUT" << 'PY' || fail "fires were lost, doubled or out of order"
import calendar, json, sys, time
bodies = [json.loads(l)["body"] for l in open(sys.argv[1])]
ts = [calendar.timegm(time.strptime(b["time"], "%Y-%m-%dT%H:%M:%SZ")) for b in bodies]
assert ts == sorted(ts), ts
assert len(set(ts)) == len(ts), ts
assert ts[-1] - ts[0] == len(ts) - 1, ("a tick is missing", ts)
assert len({b["id"] for b in bodies}) == len(bodies)
PY
if grep -q 'fire of .* was refused' "$TRIGD_LOG"; then fail "a fire was refused"; fi
log "ok"
