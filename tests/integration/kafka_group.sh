#!/usr/bin/env bash
# kafka_group.sh — two trigd instances in one consumer group (cooperative-sticky) split the partitions; after
# one is killed the other takes its partitions over and every record still arrives.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --topic gs:4
start_sink
RDK='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
      "partition.assignment.strategy": "cooperative-sticky"}'
config() { # config HTTP_PORT
    cat << JSON
{
  "http": {"listen": "127.0.0.1:$1"},
  "state_dir": "$WORK/state-$1",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["gs"], "group": "gg",
                    "client_id": "trigd-$1", "commit_interval_ms": 200, "rdkafka": $RDK}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 50, "batch_window_ms": 50}}
}
JSON
}
PORT_A=$(free_port)
PORT_B=$(free_port)
config "$PORT_A" > "$WORK/a.json"
config "$PORT_B" > "$WORK/b.json"
HTTP_PORT=$PORT_A
start_trigd "$WORK/a.json"
PID_A=$TRIGD_PID LOG_A=$TRIGD_LOG
wait_kafka_ready 30
HTTP_PORT=$PORT_B
start_trigd "$WORK/b.json"
PID_B=$TRIGD_PID LOG_B=$TRIGD_LOG
wait_kafka_ready 30

# held partitions = assigned - revoked, from each log
held() {
    awk '/assigned [0-9]+ partition/ { for (i = 1; i <= NF; i++) if ($i == "assigned") n += $(i + 1) }
         /revoked [0-9]+ partition/ { for (i = 1; i <= NF; i++) if ($i == "revoked") n -= $(i + 1) }
         END { print n + 0 }' "$1"
}
_split() { [[ $(held "$LOG_A") == 2 && $(held "$LOG_B") == 2 ]]; }
wait_for 30 _split
log "the two instances hold 2 partitions each"

seq 1 400 | sed 's/^/one-/' | kproduce gs
_n() { [[ $(krecords | awk '$6 == 200 { print $4 }' | sort -u | wc -l) -ge $1 ]]; }
wait_for 30 _n 400
kill9_trigd "$PID_A"
seq 1 400 | sed 's/^/two-/' | kproduce gs
_took_over() { [[ $(held "$LOG_B") == 4 ]]; }
wait_for 30 _took_over
wait_for 30 _n 800
log "the survivor took all 4 partitions over; all 800 records arrived"
stop_trigd "$PID_B"
log "ok"
