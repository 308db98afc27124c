#!/usr/bin/env bash
# kafka_order.sh — order under load: with parallelization 1 each partition's records reach the function in
# offset order (one batch in flight per partition, batches never mix partitions); with parallelization 4
# the order holds per record key while a partition has several batches in flight. A third source runs
# with a tiny buffer and queue (max_buffered 50, queued.min.messages 30, a route of 40 events): it pauses
# and resumes its partitions and restarts librdkafka's fetcher again and again (trigd_source_events_total
# partitions_paused and fetch_restarts), and still delivers every record once, in offset order.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

N=3000
start_kafka_mock --brokers 2 --topic o:4
start_sink --delay-ms 5
SINK1=$SINK_OUT URL1=$SINK_URL
start_sink --delay-ms 5
SINK4=$SINK_OUT URL4=$SINK_URL
start_sink --delay-ms 2 --hold # the small source's calls are held until it has paused its partitions
SINKB=$SINK_OUT URLB=$SINK_URL
RDKAFKA_SMALL=${KAFKA_RDKAFKA%\}}', "queued.min.messages": "30"}'
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f1": {"type": "http", "url": "$URL1/fn", "max_concurrency": 8},
                "f4": {"type": "http", "url": "$URL4/fn", "max_concurrency": 16},
                "fb": {"type": "http", "url": "$URLB/fn", "max_concurrency": 8, "timeout_ms": 600000}},
  "sources": {"p1": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["o"], "group": "g1",
                     "rdkafka": $KAFKA_RDKAFKA},
              "p4": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["o"], "group": "g4",
                     "parallelization": 4, "rdkafka": $KAFKA_RDKAFKA},
              "pb": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["o"], "group": "gb",
                     "max_buffered": 50, "rdkafka": $RDKAFKA_SMALL}},
  "routes": {"r1": {"source": "p1", "function": "f1", "batch_size": 20, "batch_window_ms": 50},
             "r4": {"source": "p4", "function": "f4", "batch_size": 20, "batch_window_ms": 50},
             "rb": {"source": "pb", "function": "fb", "batch_size": 10, "batch_window_ms": 20,
                    "max_queued_events": 40}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30

python3 -c "
for i in range($N):
    k = 'k%d' % (i % 40)
    print('%s|%s:%d' % (k, k, i))" > "$WORK/records"
kproduce o -K '|' -l "$WORK/records"

# The small source pauses for certain: its route (40 events) and buffer (50) fill behind held calls. Once
# released it resumes, restarts its fetcher and (while the function keeps up less than it reads) pauses
# again and again.
_pb_paused() { [[ $(metric 'trigd_source_events_total{source="pb",event="partitions_paused"}') != 0 ]]; }
wait_for 30 _pb_paused
sink_ctl release "$URLB" > /dev/null
_all() { [[ $(krecords "$1" | wc -l) -ge $N ]]; }
wait_for 120 _all "$SINK1"
wait_for 120 _all "$SINK4"
wait_for 120 _all "$SINKB"

krecords "$SINK1" > "$WORK/got1"
krecords "$SINK4" > "$WORK/got4"
krecords "$SINKB" > "$WORK/gotb"
python3 - "$WORK/got1" "$WORK/got4" "$N" "$WORK/gotb" << 'PY' || fail "order broken"
import sys
n = int(sys.argv[3])
def load(p):
    return [l.split() for l in open(p)]
g1, g4, gb = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[4])
# parallelization 1: per partition, offsets strictly increase in order of receipt (so none twice)
for name, g in (("p1", g1), ("pb", gb)):
    last = {}
    for tp, off, key, val, req, st in g:
        off = int(off)
        assert off > last.get(tp, -1), "%s: %s offset %d after %d" % (name, tp, off, last[tp])
        last[tp] = off
    assert len({v for _, _, _, v, _, _ in g}) == n, "%s: not every record arrived" % name
    assert len(g) == n, "%s: %d deliveries of %d records" % (name, len(g), n)
# parallelization 4: per key, the producer's sequence strictly increases
lastk = {}
for tp, off, key, val, req, st in g4:
    seq = int(val.split(":")[1])
    assert seq > lastk.get(key, -1), "p4: key %s seq %d after %d" % (key, seq, lastk[key])
    lastk[key] = seq
assert len({v for _, _, _, v, _, _ in g4}) == n, "p4: not every record arrived"
# a request carries one partition only
print("p1 requests", len({r for *_, r, _ in g1}), "p4 requests", len({r for *_, r, _ in g4}))
PY
python3 - "$SINK1" "$SINK4" "$SINKB" << 'PY' || fail "a batch mixed partitions"
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        assert len(json.loads(line)["body"]["records"]) == 1
PY
paused=$(metric 'trigd_source_events_total{source="pb",event="partitions_paused"}')
restarts=$(metric 'trigd_source_events_total{source="pb",event="fetch_restarts"}')
log "small buffers: partitions paused $paused times, fetcher restarted $restarts times"
[[ ${paused%.*} -gt 0 && ${restarts%.*} -gt 0 ]] || fail "the small source never paused or never restarted its fetcher"
stop_trigd
log "ok"
