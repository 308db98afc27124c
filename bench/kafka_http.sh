#!/usr/bin/env bash
# kafka_http.sh — Kafka -> http function throughput and produce-to-function latency, next to kcat's raw
# consume rate from the same mock cluster in the same run.
#   bench/kafka_http.sh [RECORDS (default 50000)] [PARTITIONS (default 8)]
# For each batch_size (100, then 1 with RECORDS/10 records): a fresh topic is filled with kcat, trigd (group
# from the beginning) delivers it to tests/helpers/sink; records/s = records / (last receipt - first receipt);
# latency = receipt time - the record's CREATE_TIME timestamp for a second, live wave produced while trigd
# runs. Then kcat consumes the same topic (-e) and its rate is printed with trigd's as a ratio.
# A second line per case: the rate over the full batches only (first receipt to the last batch of
# batch_size records, so without the last partial batches' batch_window_ms wait), trigd's CPU seconds,
# peak RSS (VmHWM) and trigd_source_events_total partitions_paused/resumed.
# Knobs: SRCX (text added to the source's config, e.g. SRCX=' "max_buffered": 1000000,'), RDX (text added
# to its rdkafka settings), MAXQ (the route's max_queued_events), BENCH_LOG, BENCH_ONLY100=1 (skip
# batch_size 1).
# Run from a built tree (make check builds the sink and kafka_mock).
set -euo pipefail
export TEST_NAME=kafka_http
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=../tests/integration/kafka_lib.sh
. "$(dirname "$0")/../tests/integration/kafka_lib.sh"
require_cmd kcat python3 curl
N=${1:-50000}
P=${2:-8}
start_kafka_mock --topic b100:"$P" --topic b1:"$P"

now_ms() { _now_ms; }

run_case() { # BATCH_SIZE TOPIC RECORDS
    local batch=$1 topic=$2 n=$3 window=500
    ((batch == 1)) && window=0
    start_sink
    HTTP_PORT=$(free_port)
    cat > "$WORK/bench-$topic.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "${BENCH_LOG:-warn}"},
  "state_dir": "$WORK/state-$topic",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 64}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["$topic"], "group": "bench-$topic",${SRCX:-}
                    "rdkafka": {"fetch.wait.max.ms": "10"${RDX:-}}}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": $batch, "batch_window_ms": $window, "max_queued_events": ${MAXQ:-10000}}}
}
JSON
    # wave 1 (throughput): the topic is filled before trigd starts
    python3 -c "import sys; sys.stdout.write(''.join('v%08d\n' % i for i in range($n)))" > "$WORK/recs-$topic"
    kproduce "$topic" -X linger.ms=5 -l "$WORK/recs-$topic"
    start_trigd "$WORK/bench-$topic.json"
    _got() { [[ $(krecords | wc -l) -ge $1 ]]; }
    wait_for 600 _got "$n"
    # wave 2 (latency): records produced live, a few thousand at a steady pace
    local live=$((n / 10 < 2000 ? n / 10 : 2000))
    python3 -c "
import sys, time
for i in range($live):
    sys.stdout.write('live%08d\n' % i); sys.stdout.flush(); time.sleep(0.001)" |
        kproduce "$topic" -X linger.ms=0 -X queue.buffering.max.ms=0
    wait_for 120 _got $((n + live))
    # trigd's CPU seconds (user+sys), peak RSS and pause/resume counts for the whole case
    local cpu hwm paused resumed
    cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$TRIGD_PID/stat")
    hwm=$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$TRIGD_PID/status")
    paused=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk -F' ' '/event="partitions_paused"/ { print $2 }')
    resumed=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | awk -F' ' '/event="partitions_resumed"/ { print $2 }')
    stop_trigd
    python3 - "$SINK_OUT" "$n" "$batch" > "$WORK/result-$topic" << 'PY'
import base64, json, sys
n, batch = int(sys.argv[2]), int(sys.argv[3])
first = last = last_full = None
full = 0
lat = []
for line in open(sys.argv[1]):
    l = json.loads(line)
    for tp, recs in l["body"]["records"].items():
        for r in recs:
            v = base64.b64decode(r["value"])
            if v.startswith(b"live"):
                lat.append(l["t_ms"] - r["timestamp"])
            else:
                first = l["t_ms"] if first is None else min(first, l["t_ms"])
                last = l["t_ms"] if last is None else max(last, l["t_ms"])
                if len(recs) == batch:
                    full += 1
                    last_full = l["t_ms"] if last_full is None else max(last_full, l["t_ms"])
lat.sort()
rate = n / max((last - first) / 1000.0, 0.001)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
steady = full / max((last_full - first) / 1000.0, 0.001) if last_full else 0
print("%.0f %d %d %.0f" % (rate, p(0.5), p(0.99), steady))
PY
    # kcat's raw consume rate of the same topic, same cluster
    local t0 t1
    t0=$(now_ms)
    kcat -b "$KAFKA_BOOTSTRAP" -C -t "$topic" -o beginning -e -q -f '%o\n' | wc -l > "$WORK/kcat-$topic"
    t1=$(now_ms)
    read -r rate p50 p99 steady < "$WORK/result-$topic"
    local total kcat_rate
    total=$(cat "$WORK/kcat-$topic")
    kcat_rate=$(python3 -c "print('%.0f' % ($total / max(($t1 - $t0) / 1000.0, 0.001)))")
    printf 'batch_size %-3s  trigd %8s records/s   kcat %8s records/s   ratio %s   latency p50 %s ms  p99 %s ms\n' \
        "$batch" "$rate" "$kcat_rate" "$(python3 -c "print('%.2f' % ($rate / $kcat_rate))")" "$p50" "$p99"
    printf '                full batches only %s records/s   trigd cpu %s s   VmHWM %s   partitions paused %s resumed %s\n' \
        "$steady" "$cpu" "$hwm" "${paused:-0}" "${resumed:-0}"
}

run_case 100 b100 "$N"
[[ -n ${BENCH_ONLY100:-} ]] || run_case 1 b1 $((N / 10))
