#!/usr/bin/env bash
# fault_mqtt_outage.sh — the MQTT broker goes away for 30 s while trigd has QoS 1 messages in flight
# (the function is slow), then comes back on the same port with its persisted sessions; more messages are
# published once it is back. Every message reaches the function, the duplicates are counted and stated
# (at-least-once), and trigd does not spin while the broker is away (under 10 % of one core).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd mosquitto mosquitto_pub curl python3

MQTT_PORT=$(free_port)
MDIR="$WORK/mosquitto"
mkdir -p "$MDIR"
cat > "$MDIR/mosquitto.conf" << EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $MDIR/
max_queued_messages 100000
log_dest file $MDIR/mosquitto.log
user $(id -un)
EOF
_logs+=("$MDIR/mosquitto.log")
run_broker() {
    mosquitto -c "$MDIR/mosquitto.conf" > "$MDIR/stderr" 2>&1 &
    MQTT_PID=$!
    _track "$MQTT_PID"
    wait_for 10 port_open "$MQTT_PORT"
}
run_broker

start_sink --delay-ms 100
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1}},
  "sources": {"m": {"type": "mqtt", "url": "mqtt://127.0.0.1:$MQTT_PORT", "client_id": "trigd-outage",
                    "reconnect_min_ms": 100, "reconnect_max_ms": 2000,
                    "subscriptions": [{"filter": "out/#", "qos": 1}]}},
  "routes": {"r": {"source": "m", "function": "f", "batch_size": 1}}
}
JSON
start_trigd "$WORK/trigd.json"
_ready() { curl -fsS -o /dev/null --max-time 1 "$(trigd_url /readyz)" 2> /dev/null; }
wait_for 20 _ready

publish() { # publish FROM TO: {"i":FROM..TO} at QoS 1 (mosquitto_pub exits once the broker has them all)
    seq "$1" "$2" | sed 's/.*/{"i":&}/' | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -i "pub-$1" -q 1 -t out/t -l
}
# received: the message numbers the function got, one per invocation
received() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    b = json.loads(line)["body"]
    if isinstance(b, dict) and "i" in b:
        print(b["i"])' "$SINK_OUT"
}
N1=100 N2=200
publish 1 "$N1"
_some() { (($(sink_count) >= 10)); }
wait_for 30 _some
before=$(sink_count)
((before < N1)) || fail "all messages were delivered before the broker went away: nothing was in flight"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$TRIGD_PID/stat"; }
kill -TERM "$MQTT_PID" # it saves its sessions as it stops
wait "$MQTT_PID" 2> /dev/null || true
_untrack "$MQTT_PID"
t0=$(cpu_ticks)
sleep 30 # the outage itself: the broker stays away this long
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
log "broker away 30 s: trigd used $(((t1 - t0) * 1000 / hz)) ms of CPU; $before of $N1 delivered before"
(((t1 - t0) * 10 < 30 * hz)) || fail "trigd used $(((t1 - t0) / hz)) s of CPU in 30 s without the broker: a busy loop"
kill -0 "$TRIGD_PID" || fail "trigd died while the broker was away"

run_broker
_reconnected() { (($(grep -c 'subscribed to out/#' "$TRIGD_LOG") >= 2)); }
wait_for 30 _reconnected
publish $((N1 + 1)) "$N2"
_all() { (($(received | sort -un | wc -l) >= N2)); }
wait_for 120 _all
got=$(received | sort -un | wc -l)
dups=$(($(received | wc -l) - got))
log "after the broker came back: $got of $N2 messages delivered, $dups duplicates (at-least-once)"
assert_eq "$N2" "$got" "messages delivered"
stop_trigd
log "ok"
