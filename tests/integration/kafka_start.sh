#!/usr/bin/env bash
# kafka_start.sh — starting_position AT_TIMESTAMP: a partition without a committed offset is read from the
# oldest record and the records before starting_timestamp are skipped (their offsets stored, never invoked),
# under the eager and the cooperative rebalance protocol; once the group has committed offsets, they win over
# the timestamp.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --topic ts:2
start_sink
printf 'old0\nold1\nold2\n' | kproduce ts -p 0
printf 'old3\n' | kproduce ts -p 1
# the timestamp: 1 ms past the newest old record's (CreateTime, set by kcat)
TS=$(kcat -b "$KAFKA_BOOTSTRAP" -C -t ts -e -q -f '%T\n' | sort -n | tail -1)
TS=$((TS + 1))
_clock_past() { (($(date +%s%3N) >= TS)); }
wait_for 5 _clock_past
printf 'new0\nnew1\n' | kproduce ts -p 0
printf 'new2\n' | kproduce ts -p 1

config() { # config STARTING_TIMESTAMP [GROUP [RDKAFKA]]
    cat << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["ts"], "group": "${2:-gt}",
                    "starting_position": "AT_TIMESTAMP", "starting_timestamp": $1,
                    "commit_interval_ms": 200, "rdkafka": ${3:-$KAFKA_RDKAFKA}}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 10, "batch_window_ms": 50}}
}
JSON
}
HTTP_PORT=$(free_port)
config "$TS" > "$WORK/trigd.json"
# validation: the timestamp is required with AT_TIMESTAMP, refused without it
python3 - "$WORK/trigd.json" "$WORK/no_ts.json" "$WORK/ts_latest.json" << 'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["sources"]["k"]["starting_timestamp"]
json.dump(c, open(sys.argv[2], "w"))
c["sources"]["k"]["starting_position"] = "LATEST"
c["sources"]["k"]["starting_timestamp"] = 5
json.dump(c, open(sys.argv[3], "w"))
PY
rc=0
out=$("$TRIGD" --check-config -c "$WORK/no_ts.json" 2>&1) || rc=$?
assert_eq 2 "$rc" "AT_TIMESTAMP without starting_timestamp is refused"
grep -q 'starting_timestamp: required' <<< "$out" || fail "no error naming starting_timestamp: $out"
rc=0
out=$("$TRIGD" --check-config -c "$WORK/ts_latest.json" 2>&1) || rc=$?
assert_eq 2 "$rc" "starting_timestamp without AT_TIMESTAMP is refused"
grep -q 'starting_timestamp: only with' <<< "$out" || fail "no error naming starting_timestamp: $out"

start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
_three() { (($(krecords | wc -l) >= 3)); }
wait_for 20 _three
got=$(krecords | awk '{ print $1, $2, $4 }' | sort)
assert_eq $'ts-0 3 new0\nts-0 4 new1\nts-1 1 new2' "$got" "only the records from starting_timestamp on arrive"
grep -q 'skipping to starting_timestamp' "$TRIGD_LOG" || fail "no log line about skipping to the timestamp"
# the skipped offsets are committed with the rest: the group's lag is 0
_lag_zero() { [[ $(metric 'trigd_source_lag{source="k"}') == 0 ]]; }
wait_for 10 _lag_zero
stop_trigd
log "AT_TIMESTAMP skipped the older records"

# committed offsets win: restarted with a timestamp an hour ahead, new records still arrive
config $(($(date +%s%3N) + 3600000)) > "$WORK/trigd2.json"
start_trigd "$WORK/trigd2.json"
wait_kafka_ready 30
printf 'later\n' | kproduce ts -p 1
_later() { krecords | grep -q '^ts-1 2 - later '; }
wait_for 20 _later
[[ $(krecords | wc -l) == 4 ]] || fail "records replayed or lost after the restart: $(krecords)"
stop_trigd
log "a committed offset won over the timestamp"

# cooperative: a new group (no committed offsets) restarts its partitions with incremental unassign/assign
start_sink
config "$TS" gc "${KAFKA_RDKAFKA%\}}, \"partition.assignment.strategy\": \"cooperative-sticky\"}" > "$WORK/trigd3.json"
start_trigd "$WORK/trigd3.json"
wait_kafka_ready 30
_four() { (($(krecords | wc -l) >= 4)); }
wait_for 20 _four
grep -q 'partition(s) (cooperative rebalance)' "$TRIGD_LOG" || fail "the group is not cooperative"
restarted=$(grep -o 'ts-[01] has no committed offset' "$TRIGD_LOG" | sort -u | wc -l)
assert_eq 2 "$restarted" "partitions restarted at their oldest record"
wait_for 10 _lag_zero
got=$(krecords | awk '{ print $1, $2, $4 }' | sort)
assert_eq $'ts-0 3 new0\nts-0 4 new1\nts-1 1 new2\nts-1 2 later' "$got" \
    "cooperative: only the records from starting_timestamp on arrive"
stop_trigd
log "ok"
