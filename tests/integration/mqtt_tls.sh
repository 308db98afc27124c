#!/usr/bin/env bash
# mqtt_tls.sh — the mqtt source over TLS: a test CA and a server certificate for 127.0.0.1 made with
# openssl, mosquitto with a TLS listener; a source with url mqtts://127.0.0.1:PORT and that CA in ca_file
# gets its messages, and one trusting another CA fails the handshake with a clear log line and retries.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd mosquitto mosquitto_pub openssl curl python3

PKI="$WORK/pki"
mkdir -p "$PKI"
# ca NAME: a self-signed CA in $PKI/NAME.{key,crt}
ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=trigd test $1" \
        -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2> "$PKI/$1.log"
}
ca ca
ca other
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$PKI/server.key" -out "$PKI/server.csr" \
    2> "$PKI/server.log"
printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' > "$PKI/server.ext"
openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
    -extfile "$PKI/server.ext" -out "$PKI/server.crt" 2>> "$PKI/server.log"

start_mosquitto "cafile $PKI/ca.crt" "certfile $PKI/server.crt" "keyfile $PKI/server.key"

start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {
    "good": {"type": "mqtt", "url": "mqtts://127.0.0.1:$MQTT_PORT", "ca_file": "$PKI/ca.crt",
             "client_id": "trigd-tls-good", "subscriptions": ["tls/#"], "include": ["topic"]},
    "bad": {"type": "mqtt", "url": "mqtts://127.0.0.1:$MQTT_PORT", "ca_file": "$PKI/other.crt",
            "client_id": "trigd-tls-bad", "reconnect_min_ms": 100, "reconnect_max_ms": 300,
            "subscriptions": ["tls/#"]}
  },
  "routes": {"r": {"source": "good", "function": "sink"}, "rbad": {"source": "bad", "function": "sink"}}
}
JSON
start_trigd "$WORK/trigd.json"
_good_subscribed() { grep -q '\[mqtt:good\] subscribed to tls/#' "$TRIGD_LOG"; }
wait_for 10 _good_subscribed

pub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" --cafile "$PKI/ca.crt" "$@"; }
pub -t tls/a -q 1 -m '{"secure":1}'
pub -t tls/b -q 0 -m '{"secure":2}'
wait_sink_lines 2 10
python3 - "$SINK_OUT" <<'PY' || fail "the messages over TLS did not arrive as expected: $(cat "$SINK_OUT")"
import json, sys
got = sorted((j["body"]["topic"], j["body"]["secure"]) for j in map(json.loads, open(sys.argv[1])))
assert got == [("tls/a", 1), ("tls/b", 2)], got
PY

# The source that trusts another CA: the handshake fails, in words, and is retried.
_bad_retried() { (($(grep -c '\[mqtt:bad\].*TLS: .*certificate verify failed.*check ca_file' "$TRIGD_LOG") >= 2)); }
wait_for 10 _bad_retried
grep -q '\[mqtt:bad\] connected' "$TRIGD_LOG" && fail "the source with the wrong CA connected"
assert_eq 2 "$(sink_count)" "invocations (the wrong-CA source must get nothing)"
kill -0 "$TRIGD_PID" || fail "trigd died"
stop_trigd
log "ok: 2 messages over TLS; wrong CA refused and retried ($(grep -c '\[mqtt:bad\].*TLS: .*certificate verify failed.*check ca_file' "$TRIGD_LOG") attempts)"
