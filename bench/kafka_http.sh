#!/usr/bin/env bash
# kafka_http.sh — Kafka -> http function throughput and produce-to-function latency, next to kcat's raw
# consume rate from the same mock cluster in the same run.
#   bench/kafka_http.sh [RECORDS (default 50000)] [PARTITIONS (default 8)]
# Cases: batch_size 100 with batch_window_ms 0, batch_size 100 with Lambda's default 500 ms window, and
# batch_size 1 (RECORDS/10 records). For each, a fresh topic is filled with kcat and trigd (a new group,
# from the oldest record) delivers it to tests/helpers/sink; records/s = records / (last receipt - first
# receipt). Latency = receipt time - the CREATE_TIME timestamp of each request's first record (so the
# oldest of the batch), for a second, live wave produced while trigd runs. Progress is polled from trigd's /metrics (trigd_batch_size_sum), not from the sink's
# file, so the bench itself takes no CPU from what it measures.
# The baseline: kcat consumes the same topic (-e), timed from its first record to its last, like trigd; the
# best of KCAT_RUNS (default 3) runs.
# kcat runs with queued.min.messages 10 000 000: with the default (100 000) librdkafka 2.0 stops fetching
# when its queue holds that many records and looks again only a second later, so kcat's own rate swings
# 2.5x between runs (trigd works around that re-check: wake_fetcher in connectors/kafka/kafka.c).
# A second line per case: the rate over the full batches only (first receipt to the last batch of
# batch_size records), trigd's CPU seconds, peak RSS (VmHWM) and the partitions paused/resumed counts.
# Knobs: SRCX (text added to the source's config, e.g. SRCX=' "max_buffered": 1000000,'), RDX (text added
# to its rdkafka settings), FNX (text added to the function's config), MAXQ (the route's
# max_queued_events), KCATX (kcat's options), KCAT_ENV (variables kcat runs with, e.g.
# KCAT_ENV=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 for a baseline on trigd's malloc),
# KCAT_RUNS, BENCH_LOG, CASES (default "100:0 100:500 1:0", batch_size:batch_window_ms; batch_size 1 uses
# RECORDS/10 records).
# The mock cluster keeps at most 5 MB per partition and drops the oldest records beyond that (the bench
# would then wait for them forever): keep RECORDS / PARTITIONS under about 150 000.
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
[[ ${KCAT_RUNS:-3} =~ ^[1-9][0-9]*$ ]] || fail "KCAT_RUNS must be a number of runs, at least 1"
start_kafka_mock --topic t1:"$P" --topic t2:"$P" --topic t3:"$P" --topic t4:"$P"


run_case() { # BATCH_SIZE WINDOW_MS TOPIC RECORDS
    local batch=$1 window=$2 topic=$3 n=$4
    # the function: per request, its receipt time, its records and its first record's timestamp (no JSON
    # parse, so the function's own cost stays small next to trigd's)
    start_sink --count-only --sent-key '"timestamp":' --count '"offset":'
    HTTP_PORT=$(free_port)
    cat > "$WORK/bench-$topic.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "${BENCH_LOG:-warn}"},
  "state_dir": "$WORK/state-$topic",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 64${FNX:-}}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["$topic"], "group": "bench-$topic",${SRCX:-}
                    "rdkafka": {"fetch.wait.max.ms": "10"${RDX:-}}}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": $batch, "batch_window_ms": $window, "max_queued_events": ${MAXQ:-10000}}}
}
JSON
    # wave 1 (throughput): the topic is filled before trigd starts
    python3 -c "import sys; sys.stdout.write(''.join('v%08d\n' % i for i in range($n)))" > "$WORK/recs-$topic"
    kproduce "$topic" -X linger.ms=5 -l "$WORK/recs-$topic"
    local part first
    for ((part = 0; part < P; part++)); do
        first=$(kcat -b "$KAFKA_BOOTSTRAP" -C -t "$topic" -p "$part" -o beginning -c 1 -e -q -f '%o')
        if [ "${first:-0}" != 0 ]; then
            echo "kafka_http: the mock cluster dropped the oldest records of $topic [$part] (it keeps 5 MB per" \
                "partition): use fewer RECORDS or more PARTITIONS" >&2
            exit 1
        fi
    done
    start_trigd "$WORK/bench-$topic.json"
    # every record cut into a batch, and no invocation left in flight: the sink has them all
    _got() {
        local m
        m=$(curl -fsS --max-time 5 "$(trigd_url /metrics)") || return 1
        awk -v n="$1" '$1 == "trigd_batch_size_sum{route=\"r\"}" { sum = $2 }
                       $1 == "trigd_inflight{function=\"f\"}" { inflight = $2 }
                       END { exit !(sum + 0 >= n && inflight + 0 == 0) }' <<< "$m"
    }
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
    # the sink's lines, in order of receipt: the first wave's batches until n records, then the live ones
    python3 - "$SINK_OUT" "$n" "$batch" > "$WORK/result-$topic" << 'PY'
import json, sys
n, batch = int(sys.argv[2]), int(sys.argv[3])
seen = full = reqs = 0
first = last = last_full = None
lat = []
for line in open(sys.argv[1]):
    l = json.loads(line)
    if seen < n:
        seen += l["count"]
        reqs += 1
        first = l["t_ms"] if first is None else min(first, l["t_ms"])
        last = l["t_ms"] if last is None else max(last, l["t_ms"])
        if l["count"] == batch:
            full += batch
            last_full = l["t_ms"] if last_full is None else max(last_full, l["t_ms"])
    elif l["sent_ms"] is not None:
        lat += [l["t_ms"] - l["sent_ms"]] * l["count"]
lat.sort()
rate = n / max((last - first) / 1000.0, 0.001)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else -1
steady = full / max((last_full - first) / 1000.0, 0.001) if last_full else 0
print("%.0f %d %d %.0f %.1f" % (rate, p(0.5), p(0.99), steady, seen / max(reqs, 1)))
PY
    # kcat's raw consume rate of the same topic, same cluster: records / (last record - first record); the
    # best of KCAT_RUNS runs, so that one slow run cannot flatter trigd's ratio
    local run
    for ((run = 0; run < ${KCAT_RUNS:-3}; run++)); do
        # shellcheck disable=SC2086 # KCAT_ENV and KCATX are word lists, split on purpose
        env ${KCAT_ENV:-} kcat -b "$KAFKA_BOOTSTRAP" -C -t "$topic" -o beginning -e -q -X queued.min.messages=10000000 ${KCATX:-} \
            -f '%o\n' | python3 -c "
import sys, time
n, t0, t1 = 0, None, None
while True:
    b = sys.stdin.buffer.read1(1 << 16)
    if not b:
        break
    t1 = time.monotonic()
    t0 = t0 or t1
    n += b.count(b'\n')
print(n, '%.0f' % (n / max(t1 - t0, 0.001)))" >> "$WORK/kcat-$topic"
    done
    read -r rate p50 p99 steady mean < "$WORK/result-$topic"
    local total kcat_rate
    read -r total kcat_rate < <(sort -k2,2n "$WORK/kcat-$topic" | tail -1)
    total=$(sort -k1,1n "$WORK/kcat-$topic" | head -1 | cut -d' ' -f1)
    [[ $total -ge $n ]] || fail "a kcat run read $total of $n records"
    printf 'batch_size %-3s window %-3s ms  trigd %8s records/s   kcat %8s records/s   ratio %s   latency p50 %s ms  p99 %s ms\n' \
        "$batch" "$window" "$rate" "$kcat_rate" "$(python3 -c "print('%.2f' % ($rate / $kcat_rate))")" "$p50" "$p99"
    printf '                full batches only %s records/s   mean batch %s   trigd cpu %s s   VmHWM %s   partitions paused %s resumed %s\n' \
        "$steady" "$mean" "$cpu" "$hwm" "${paused:-0}" "${resumed:-0}"
}

i=0
for c in ${CASES:-100:0 100:500 1:0}; do
    batch=${c%%:*} window=${c##*:}
    i=$((i + 1))
    ((batch == 1)) && n=$((N / 10)) || n=$N
    run_case "$batch" "$window" "t$i" "$n"
done
