#!/usr/bin/env bash
# kafka_metrics.sh — the per-partition gauges: trigd_source_partition_lag{source,partition},
# trigd_source_paused_partitions{source} and trigd_source_held{source}. A function whose calls are held at
# the sink keeps the route full, the engine holds the source's records up to max_buffered and pauses its 2
# partitions: the gauge says 2, at least max_buffered records are held, and the lag of each partition is
# positive; once everything is read and done, the partitions are resumed (gauge 0), nothing is held and
# every partition's lag is 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --topic bp:2
start_sink --hold # the route stays full until the test has read the gauges
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1, "timeout_ms": 600000}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["bp"], "group": "gm",
                    "commit_interval_ms": 100, "max_buffered": 10, "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 5, "batch_window_ms": 10,
                   "max_queued_events": 5}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
seq 1 60 | sed 's/^/a-/' | kproduce bp -p 0
seq 1 60 | sed 's/^/b-/' | kproduce bp -p 1

_paused() { [[ $(metric 'trigd_source_paused_partitions{source="k"}') == 2 ]]; }
wait_for 20 _paused
_lagging() {
    local a b
    a=$(metric 'trigd_source_partition_lag{source="k",partition="bp-0"}')
    b=$(metric 'trigd_source_partition_lag{source="k",partition="bp-1"}')
    ((${a%.*} > 0 || ${b%.*} > 0))
}
wait_for 10 _lagging
held=$(metric 'trigd_source_held{source="k"}')
((${held%.*} >= 10)) || fail "trigd_source_held is $held with the partitions paused at max_buffered 10"
log "2 partitions paused, lag per partition: $(curl -fsS "$(trigd_url /metrics)" | grep '^trigd_source_partition_lag' | tr '\n' ' ')"

sink_ctl release > /dev/null
_all() { (($(krecords | wc -l) >= 120)); }
wait_for 60 _all
_drained() {
    [[ $(metric 'trigd_source_paused_partitions{source="k"}') == 0 && $(metric 'trigd_source_held{source="k"}') == 0 &&
        $(metric 'trigd_source_partition_lag{source="k",partition="bp-0"}') == 0 &&
        $(metric 'trigd_source_partition_lag{source="k",partition="bp-1"}') == 0 ]] &&
        curl -fsS "$(trigd_url /metrics)" | grep -q '^trigd_source_partition_lag{source="k",partition="bp-1"} 0$'
}
wait_for 10 _drained
stop_trigd
log "ok"
