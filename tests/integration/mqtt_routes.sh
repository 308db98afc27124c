#!/usr/bin/env bash
# mqtt_routes.sh — routes bound to one of their source's subscriptions with a filter on `topic`
# (docs/MQTT.md, "Routes and subscriptions"): two routes on one mqtt source, one with a `prefix` and one with
# a `wildcard` topic filter; a message matching both reaches both functions once each, a message matching
# one reaches only it, and a message matching neither is filtered out.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd mosquitto mosquitto_pub curl python3

start_mosquitto
start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"kitchen": {"type": "http", "url": "$SINK_URL/kitchen"},
                "temps": {"type": "http", "url": "$SINK_URL/temps"}},
  "sources": {"home": {"type": "mqtt", "url": "$MQTT_URL", "client_id": "trigd-routes",
                       "subscriptions": ["home/#", "garden/+"], "include": ["topic"]}},
  "routes": {
    "kitchen": {"source": "home", "function": "kitchen", "filters": [{"topic": [{"prefix": "home/kitchen/"}]}]},
    "temps": {"source": "home", "function": "temps", "filters": [{"topic": [{"wildcard": "home/*/temp"}]}]}
  }
}
JSON
_ready() { curl -fsS -o /dev/null --max-time 1 "$(trigd_url /readyz)" 2> /dev/null; }
start_trigd "$WORK/trigd.json"
wait_for 10 _ready

pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "$1" -m "{\"n\":$2}"; }
pub home/kitchen/temp 1  # both routes
pub home/kitchen/light 2 # kitchen only
pub home/hall/temp 3     # temps only
pub home/hall/light 4    # neither: filtered out
pub garden/temp 5        # another subscription of the source, neither route's topic
pub home/kitchen/temp 6  # both again
_filtered() { # each route filtered out the 3 messages not for it
    [[ "$(metric 'trigd_events_filtered_total{route="kitchen"}')" == 3 &&
        "$(metric 'trigd_events_filtered_total{route="temps"}')" == 3 ]]
}
wait_sink_lines 6 10
wait_for 10 _filtered
python3 - "$SINK_OUT" <<'PY' || fail "the routes did not get exactly their messages: $(cat "$SINK_OUT")"
import collections, json, sys
got = collections.Counter()
for line in open(sys.argv[1]):
    j = json.loads(line)
    got[(j["path"], j["body"]["topic"], j["body"]["n"])] += 1
want = {("/kitchen", "home/kitchen/temp", 1), ("/temps", "home/kitchen/temp", 1),
        ("/kitchen", "home/kitchen/light", 2), ("/temps", "home/hall/temp", 3),
        ("/kitchen", "home/kitchen/temp", 6), ("/temps", "home/kitchen/temp", 6)}
assert set(got) == want, sorted(set(got) ^ want)
assert max(got.values()) == 1, [k for k, v in got.items() if v > 1]
PY
assert_eq 6 "$(sink_count)" "invocations"
stop_trigd
log "ok"
