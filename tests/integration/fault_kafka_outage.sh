#!/usr/bin/env bash
# fault_kafka_outage.sh — the Kafka broker goes away for 30 s while trigd works through a batch of records
# (the function is slow), then comes back; more records are produced once it is back. Every record
# reaches the function, the duplicates are counted and stated (at-least-once), and trigd does not spin
# while the broker is away (under 10 % of one core).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --brokers 1 --topic t:1
seq 1 200 | sed 's/.*/v&/' | kproduce t
start_sink --delay-ms 100
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["t"], "group": "g",
                    "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 5}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
values() { krecords | awk '{ print $4 }'; }
_some() { (($(values | wc -l) >= 20)); }
wait_for 60 _some
before=$(values | wc -l)
((before < 200)) || fail "every record was delivered before the broker went away: nothing was in flight"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$TRIGD_PID/stat"; }
kafka_ctl "down 1"
t0=$(cpu_ticks)
sleep 30 # the outage itself: the broker stays away this long
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
log "broker away 30 s: trigd used $(((t1 - t0) * 1000 / hz)) ms of CPU; $before of 200 delivered before"
(((t1 - t0) * 10 < 30 * hz)) || fail "trigd used $(((t1 - t0) / hz)) s of CPU in 30 s without the broker: a busy loop"
kill -0 "$TRIGD_PID" || fail "trigd died while the broker was away"
kafka_ctl "up 1"
# The mock takes the broker up when it reads the command: wait until it answers before producing (kcat
# gives up at once when every broker refuses it).
_broker_up() { kcat -b "$KAFKA_BOOTSTRAP" -L -m 2 > /dev/null 2>&1; }
wait_for 60 _broker_up
seq 201 300 | sed 's/.*/v&/' | kproduce t
_all() { (($(values | sort -u | wc -l) >= 300)); }
wait_for 120 _all
got=$(values | sort -u | wc -l)
dups=$(($(values | wc -l) - got))
log "after the broker came back: $got of 300 records delivered, $dups duplicates (at-least-once)"
assert_eq 300 "$got" "records delivered"
stop_trigd
log "ok"
