#!/usr/bin/env bash
# mqtt_shared.sh — a broker with a password file: wrong credentials give a clear error and retries;
# two trigd replicas (one MQTT 3.1.1, one v5) in one shared subscription split a stream of QoS 1
# messages, each message invoked exactly once; a v5 message that expires while trigd is away is
# never invoked.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd mosquitto mosquitto_pub mosquitto_passwd curl python3

MQTT_PORT=$(free_port)
dir="$WORK/mosquitto"
mkdir -p "$dir"
touch "$dir/passwd"
chmod 600 "$dir/passwd"
mosquitto_passwd -b "$dir/passwd" trigd s3cret
cat > "$dir/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
password_file $dir/passwd
persistence false
log_dest file $dir/mosquitto.log
user $(id -un)
CONF
mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.stderr" 2>&1 &
MQTT_PID=$!
_track "$MQTT_PID"
_logs+=("$dir/mosquitto.log")
wait_for 10 port_open "$MQTT_PORT"
pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -u trigd -P s3cret "$@"; }

start_sink
# config NAME HTTP_PORT PROTOCOL
config() {
    cat > "$WORK/$1.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$2"},
  "state_dir": "$WORK/state-$1",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/$1"}},
  "sources": {"m": {"type": "mqtt", "url": "mqtt://127.0.0.1:$MQTT_PORT", "client_id": "trigd-$1",
                    "protocol": "$3", "username": "trigd", "password_env": "MQTT_PASSWORD",
                    "reconnect_min_ms": 100, "reconnect_max_ms": 400, "shared_group": "workers",
                    "subscriptions": [{"filter": "work/#", "qos": 1}], "include": ["topic"]}},
  "routes": {"r": {"source": "m", "function": "sink"}}
}
JSON
}
_ready() { curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1/readyz" 2> /dev/null; }

# Wrong password: refused in words, retried, not ready.
P0=$(free_port)
config bad "$P0" 3.1.1
MQTT_PASSWORD=wrong HTTP_PORT=$P0 start_trigd "$WORK/bad.json"
_two_refusals() { (($(grep -c 'refused the connection' "$TRIGD_LOG") >= 2)); }
wait_for 10 _two_refusals
grep -q 'not authorised.*check username and password_env' "$TRIGD_LOG" ||
    fail "the refusal does not say why: $(grep refused "$TRIGD_LOG" | head -1)"
if _ready "$P0"; then fail "ready without a connection"; fi
stop_trigd

# Two replicas share the subscription.
P1=$(free_port)
P2=$(free_port)
config r1 "$P1" 3.1.1
config r2 "$P2" 5
MQTT_PASSWORD=s3cret HTTP_PORT=$P1 start_trigd "$WORK/r1.json"
PID1=$TRIGD_PID
MQTT_PASSWORD=s3cret HTTP_PORT=$P2 start_trigd "$WORK/r2.json"
PID2=$TRIGD_PID
wait_for 10 _ready "$P1"
wait_for 10 _ready "$P2"
for i in $(seq 1 40); do pub -t "work/$((i % 4))" -q 1 -m "{\"i\":$i}"; done
wait_sink_lines 40 15
python3 - "$SINK_OUT" <<'PY' || fail "the replicas did not split the messages exactly once"
import collections, json, sys
seen = collections.Counter()
by = collections.Counter()
for line in open(sys.argv[1]):
    j = json.loads(line)
    seen[j["body"]["i"]] += 1
    by[j["path"]] += 1
assert sorted(seen) == list(range(1, 41)), sorted(seen)
assert max(seen.values()) == 1, [k for k, v in seen.items() if v > 1]
assert by["/r1"] > 0 and by["/r2"] > 0, by
print("split", dict(by))
PY
stop_trigd "$PID1"

# Message expiry (v5): published while r2 is away, expired before it returns: never invoked. r2's
# session keeps its shared subscription, so the broker queues for it alone.
stop_trigd "$PID2"
before=$(sink_count)
pub -t work/x -q 1 -V 5 -D publish message-expiry-interval 1 -m '{"expired":true}'
pub -t work/x -q 1 -V 5 -D publish message-expiry-interval 600 -m '{"fresh":true}'
sleep 2 # let the first message's one-second expiry pass (time passing, not synchronisation)
MQTT_PASSWORD=s3cret HTTP_PORT=$P2 start_trigd "$WORK/r2.json"
wait_sink_lines $((before + 1)) 10
grep -q '"fresh":true' "$SINK_OUT" || fail "the unexpired message was not delivered"
if grep -q '"expired":true' "$SINK_OUT"; then fail "an expired message was invoked"; fi
stop_trigd
log "ok"
