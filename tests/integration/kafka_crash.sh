#!/usr/bin/env bash
# kafka_crash.sh — kill -9 trigd mid-stream and start it again in the same group: every produced record
# reaches the function at least once (offsets are stored only behind finished records); duplicates are
# counted and bounded by what was in flight. While the second instance runs, the mock cluster injects broker
# errors (failed Fetch and OffsetCommit requests, a broker down and up again) without losing a record. The
# route holds 100 events at most, so the source buffers and pauses its partitions throughout (backpressure).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

N=3000
start_kafka_mock --brokers 2 --topic c:4
start_sink --delay-ms 20 --hold # held at first: the route fills and the partitions pause, on any machine
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 4, "timeout_ms": 600000}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["c"], "group": "crash",
                    "commit_interval_ms": 200, "max_buffered": 300, "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 10, "batch_window_ms": 20,
                   "retry_base_ms": 20, "retry_max_ms": 200, "max_queued_events": 100}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
seq 1 "$N" | sed 's/^/rec-/' > "$WORK/records"
kproduce c -l "$WORK/records"

_paused_logged() { grep -q 'paused [0-9]* partition' "$TRIGD_LOG"; }
wait_for 30 _paused_logged
sink_ctl release > /dev/null
wait_sink_lines 60 30
# Mid-stream for certain: the calls in flight are held when trigd is killed.
sink_ctl hold > /dev/null
wait_sink_open 1 10
kill9_trigd
sink_ctl release > /dev/null
before=$(krecords | wc -l)
log "killed trigd after $before records reached the function"

start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
# The group gives the new member partitions only after the killed member's session has timed out; inject
# the broker errors once records flow again (a broker taken down before that may be the group coordinator,
# and then nothing could be assigned until it is back).
_flowing() { (($(krecords | wc -l) > before)); }
wait_for 60 _flowing
kafka_ctl "err 1 5 6"     # five Fetch requests: NOT_LEADER_OR_FOLLOWER
kafka_ctl "err 8 3 15"    # three OffsetCommit requests: COORDINATOR_NOT_AVAILABLE
kafka_ctl "down 2"
_some_more() { (($(krecords | wc -l) >= before + 200)); }
wait_for 60 _some_more
kafka_ctl "up 2"

_all() { [[ $(krecords | awk '$6 == 200 { print $4 }' | sort -u | wc -l) -ge $N ]]; }
wait_for 90 _all
total=$(krecords | awk '$6 == 200' | wc -l)
dups=$((total - N))
log "every one of $N records arrived; $dups duplicate(s) after the kill -9"
((dups >= 0 && dups <= N)) || fail "duplicates out of bounds: $dups"
grep -q 'paused [0-9]* partition' "$TRIGD_LOG" || fail "the full route never paused the partitions"
metrics=$(curl -fsS "$(trigd_url /metrics)")
for ev in commits rebalance_assign partitions_paused; do
    grep -Eq "^trigd_source_events_total\{source=\"k\",event=\"$ev\"\} [1-9]" <<< "$metrics" ||
        fail "no $ev counted: $(grep source_events <<< "$metrics")"
done
_lag_zero() { [[ $(metric 'trigd_source_lag{source="k"}') == 0 ]]; }
wait_for 15 _lag_zero
stop_trigd
log "ok"
