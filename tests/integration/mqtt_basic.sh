#!/usr/bin/env bash
# mqtt_basic.sh — the mqtt source against a real mosquitto: QoS 0/1/2, wildcards, a retained message,
# binary payloads, v5 user properties and correlation data, `include`, batches, a reply through
# mosquitto_rr, a persistent session (messages published while trigd is down arrive), and a broker
# restart (reconnect, resubscribe).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd mosquitto mosquitto_pub mosquitto_rr curl python3

start_mosquitto
start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn"},
                "batch": {"type": "http", "url": "$SINK_URL/batch"}},
  "sources": {
    "m": {"type": "mqtt", "url": "$MQTT_URL", "client_id": "trigd-test-m", "keepalive_s": 5,
          "reconnect_min_ms": 100, "reconnect_max_ms": 500,
          "subscriptions": ["t/#", {"filter": "q2/+", "qos": 2}, {"filter": "q0/x", "qos": 0}],
          "include": ["topic", "qos", "retain", "properties"], "reply": true},
    "mb": {"type": "mqtt", "url": "$MQTT_URL", "client_id": "trigd-test-mb", "subscriptions": ["batch/#"]}
  },
  "routes": {"r": {"source": "m", "function": "sink"},
             "rb": {"source": "mb", "function": "batch", "batch_size": 5, "batch_window_ms": 300}}
}
JSON
pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" "$@"; }
_ready() { curl -fsS -o /dev/null --max-time 1 "$(trigd_url /readyz)" 2> /dev/null; }

# A retained message published before anyone subscribed.
pub -t t/retained -r -q 1 -m '{"kept":true}'
start_trigd "$WORK/trigd.json"
wait_for 10 _ready

pub -t q0/x -q 0 -m '{"n":0}'
pub -t t/a/b -q 1 -m '{"n":1}' -V 5 -D publish user-property colour blue -D publish user-property colour red \
    -D publish correlation-data c0rr -D publish content-type application/json
pub -t q2/x -q 2 -m 'plain text'
pub -t q2/x/deeper -q 2 -m '{"n":"not subscribed"}'
wait_sink_lines 4 10

# by_topic TOPIC: the body the function got for that topic (single messages carry it through `include`)
by_topic() {
    python3 - "$SINK_OUT" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j["path"] == "/fn" and isinstance(j["body"], dict) and j["body"].get("topic") == sys.argv[2]:
        print(json.dumps(j["body"])); break
PY
}
b=$(by_topic t/retained)
assert_eq true "$(json_get "$b" 'j["kept"] and j["retain"]')" "retained message"
b=$(by_topic q0/x)
assert_eq '0 0' "$(json_get "$b" '"%d %d" % (j["n"], j["qos"])')" "QoS 0 message"
b=$(by_topic t/a/b)
assert_eq 1 "$(json_get "$b" 'j["n"]')" "QoS 1 message through t/#"
assert_eq '["blue","red"]' "$(json_get "$b" 'j["properties"]["userProperties"]["colour"]')" "user properties"
assert_eq c0rr "$(json_get "$b" '__import__("base64").b64decode(j["properties"]["correlationData"]).decode()')" \
    "correlation data"
assert_eq application/json "$(json_get "$b" 'j["properties"]["contentType"]')" "content type"
b=$(by_topic q2/x)
assert_eq 'plain text|2' "$(json_get "$b" '__import__("base64").b64decode(j["payload"]).decode() + "|%d" % j["qos"]')" \
    "binary payload at QoS 2"
assert_eq 4 "$(sink_count)" "a message outside every filter reached the function"

# Request/response: the function's answer comes back on the response topic.
reply=$(timeout 10 mosquitto_rr -h 127.0.0.1 -p "$MQTT_PORT" -t t/rpc -e replies/rpc -q 1 -m '{"ask":1}' -W 8)
assert_eq '{"ok":true}' "$reply" "reply through mosquitto_rr"

# Batches: 12 messages on one topic arrive in order in records envelopes of at most 5.
for i in $(seq 1 12); do pub -t batch/one -q 1 -m "{\"i\":$i}"; done
_batched() {
    python3 - "$SINK_OUT" <<'PY'
import json, sys
seen, sizes = [], []
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j["path"] != "/batch":
        continue
    body = j["body"]
    recs = body["records"] if "records" in body else None
    assert recs is not None and body["eventSource"] == "trigd:mqtt", body
    assert all(r["topic"] == "batch/one" and r["qos"] == 1 and not r["isBase64Encoded"] for r in recs)
    sizes.append(len(recs))
    seen += [r["payload"]["i"] for r in recs]
if len(seen) < 12:
    sys.exit(1)
assert seen == list(range(1, 13)), seen
assert max(sizes) <= 5, sizes
PY
}
wait_for 10 _batched

# Persistent session: trigd stops, QoS 1 messages are published, trigd starts: every one arrives.
stop_trigd
before=$(sink_count)
for i in $(seq 1 20); do pub -t t/offline -q 1 -m "{\"off\":$i}"; done
start_trigd "$WORK/trigd.json"
wait_sink_lines $((before + 20)) 15
grep -q 'session resumed' "$TRIGD_LOG" || fail "the session was not resumed"
n=$(grep -c '"off":' "$SINK_OUT" || true)
assert_eq 20 "$n" "messages published while trigd was down (duplicates or losses)"

# Broker restart: trigd reconnects and subscribes again (the broker keeps no state here).
wait_for 10 _ready
kill -TERM "$MQTT_PID"
wait_for 10 _gone "$MQTT_PID"
_untrack "$MQTT_PID"
wait_for 10 grep -q 'lost the connection' "$TRIGD_LOG"
mosquitto -c "$WORK/mosquitto-$MQTT_PORT/mosquitto.conf" >> "$WORK/mosquitto-$MQTT_PORT/mosquitto.stderr" 2>&1 &
MQTT_PID=$!
_track "$MQTT_PID"
wait_for 10 port_open "$MQTT_PORT"
wait_for 15 _ready
before=$(sink_count)
pub -t t/after -q 1 -m '{"after":"restart"}'
wait_sink_lines $((before + 1)) 10
assert_eq restart "$(json_get "$(by_topic t/after)" 'j["after"]')" "message after the broker restart"
kill -0 "$TRIGD_PID" || fail "trigd died"
stop_trigd
log "ok"
