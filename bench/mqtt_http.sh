#!/usr/bin/env bash
# mqtt_http.sh — MQTT -> http function: messages/s and publish-to-function latency (p50/p99) at QoS 0
# and 1, with batch_size 1 and 100. Publishers are `mosquitto_pub -l` (one message per stdin line,
# each carrying its send time), one per topic; the function is tests/helpers/sink.
#   bench/mqtt_http.sh [MESSAGES_PER_TOPIC (default 2000)] [TOPICS (default 16)]
# Run from a built tree (make && make check builds the sink). Prints one line per case.
set -euo pipefail
export TEST_NAME=mqtt_http
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
require_cmd mosquitto mosquitto_pub python3 curl
N=${1:-2000}
TOPICS=${2:-16}

# Unbounded queues: the default (1000 queued QoS 1 messages per client) drops messages whenever trigd
# stops reading for a moment (backpressure).
start_mosquitto "max_queued_messages 0" "max_inflight_messages 0"
run_case() { # QOS BATCH_SIZE
    local qos=$1 batch=$2 window=0
    ((batch > 1)) && window=20
    start_sink
    HTTP_PORT=$(free_port)
    cat > "$WORK/bench.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "warn"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 64}},
  "sources": {"m": {"type": "mqtt", "url": "$MQTT_URL", "client_id": "bench-$qos-$batch", "clean_start": true,
                    "subscriptions": [{"filter": "bench/#", "qos": $qos}]}},
  "routes": {"r": {"source": "m", "function": "sink", "batch_size": $batch, "batch_window_ms": $window}}
}
JSON
    start_trigd "$WORK/bench.json"
    wait_for 10 curl -fsS -o /dev/null --max-time 1 "$(trigd_url /readyz)"
    local pids=() t
    for t in $(seq 1 "$TOPICS"); do
        python3 -c 'import sys, time
n = int(sys.argv[1])
for i in range(n):
    sys.stdout.write("{\"sent_ms\":%d,\"i\":%d}\n" % (time.time() * 1000, i))
    sys.stdout.flush()' "$N" | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q "$qos" -t "bench/$t" -l &
        pids+=($!)
    done
    wait "${pids[@]}"
    _all_in() {
        python3 - "$SINK_OUT" "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    b = json.loads(line)["body"]
    n += len(b["records"]) if "records" in b else 1
sys.exit(0 if n >= int(sys.argv[2]) else 1)
PY
    }
    wait_for 120 _all_in $((N * TOPICS))
    python3 - "$SINK_OUT" "$qos" "$batch" <<'PY'
import json, sys
lat, first, last, recs, calls = [], None, 0, 0, 0
for line in open(sys.argv[1]):
    j = json.loads(line)
    b = j["body"]
    rs = [r["payload"] for r in b["records"]] if "records" in b else [b]
    calls += 1
    for r in rs:
        recs += 1
        lat.append(j["t_ms"] - r["sent_ms"])
        first = r["sent_ms"] if first is None else min(first, r["sent_ms"])
    last = max(last, j["t_ms"])
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("qos %s batch_size %-3s  %6d msgs in %5d invocations  %7.0f msgs/s  latency p50 %4d ms  p99 %5d ms"
      % (sys.argv[2], sys.argv[3], recs, calls, recs * 1000.0 / max(1, last - first), p(0.5), p(0.99)))
PY
    stop_trigd
    unset HTTP_PORT
    kill "$SINK_PID" 2> /dev/null || true
}
for qos in 0 1; do
    for batch in 1 100; do
        run_case "$qos" "$batch"
    done
done
