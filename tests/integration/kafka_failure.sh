#!/usr/bin/env bash
# kafka_failure.sh — on_failure "kafka://TOPIC": a poison record is produced to TOPIC with its key and headers
# plus x-trigd-condition/function/error/request-id headers, its partition continues; when the broker rejects
# that delivery (injected Produce errors), the record is kept, the source paused and the record produced
# again until it lands, once, and its partition continues; the config refuses kafka:// for a route whose
# source is not kafka.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --topic in:1 --topic failed:1
start_sink --fail-when-contains cG9pc29u # base64 "poison"
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["in"], "group": "gf",
                    "commit_interval_ms": 200, "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "k", "function": "f", "batch_size": 1, "batch_window_ms": 10,
                   "max_retry_attempts": 1, "retry_base_ms": 10, "retry_max_ms": 20,
                   "on_failure": "kafka://failed"}}
}
JSON
# kafka:// is refused for a source that is not kafka
python3 - "$WORK/trigd.json" "$WORK/bad.json" << 'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["sources"]["w"] = {"type": "webhook", "path": "/hook"}
c["routes"]["rw"] = {"source": "w", "function": "f", "on_failure": "kafka://failed"}
c["routes"]["r2"] = {"source": "k", "function": "f", "on_failure": "kafka://"}
json.dump(c, open(sys.argv[2], "w"))
PY
rc=0
out=$("$TRIGD" --check-config -c "$WORK/bad.json" 2>&1) || rc=$?
assert_eq 2 "$rc" "kafka:// on a webhook route and an empty topic are refused"
grep -q 'routes.rw.on_failure: must be "dlq"$' <<< "$out" || fail "webhook route: $out"
grep -q 'routes.r2.on_failure: must be "dlq" or "kafka://NAME"' <<< "$out" || fail "empty topic: $out"

start_trigd "$WORK/trigd.json"
wait_kafka_ready 30
printf 'k0:ok0\nkp:poison\nk2:ok2\n' | kproduce in -p 0 -K: -H trace=abc -H bin=x
_failed_has() { (($(kcat -b "$KAFKA_BOOTSTRAP" -C -t failed -e -q -f '%s\n' | wc -l) >= $1)); }
# check_failed N KEY: the failure topic holds N records, the last one the poison record with key KEY, its
# headers and the x-trigd-* headers
check_failed() {
    local got key value headers h
    got=$(kcat -b "$KAFKA_BOOTSTRAP" -C -t failed -e -q -f '%k|%s|%h\n')
    log "failure topic: $got"
    [[ $(wc -l <<< "$got") == "$1" ]] || fail "expected $1 failed record(s): $got"
    IFS='|' read -r key value headers <<< "$(tail -n 1 <<< "$got")"
    assert_eq "$2" "$key" "the original key"
    assert_eq poison "$value" "the original value"
    for h in trace=abc bin=x x-trigd-condition=RetryAttemptsExhausted x-trigd-function=f x-trigd-error=Unhandled \
        x-trigd-request-id=; do
        [[ ",$headers," == *",$h"* ]] || fail "header $h missing: $headers"
    done
}
wait_for 20 _failed_has 1
check_failed 1 kp
# the partition continues, and the offset passed the poison record
printf 'k3:after\n' | kproduce in -p 0 -K:
_received() { krecords > "$WORK/kr"; grep -q "^in-0 $1 $2 [0-9]* 200$" "$WORK/kr"; } # _received OFFSET "KEY VALUE"
_logs+=("$WORK/kr")
wait_for 20 _received 3 "k3 after"
_lag_zero() { [[ $(metric 'trigd_source_lag{source="k"}') == 0 ]]; }
wait_for 10 _lag_zero
[[ ! -s "$WORK/state/dlq/r.jsonl" ]] || fail "the DLQ got the record too"
stop_trigd
log "poison record in the failure topic"

# the broker rejects the failure topic's delivery: the records are kept, the source pauses and they are
# produced again a second later. Written while trigd is stopped, so that the injected Produce errors can
# only hit trigd's failure producer (its consumer sends no Produce requests).
printf 'k4:ok4\nkq:poison\nk6:ok6\n' | kproduce in -p 0 -K: -H trace=abc -H bin=x
kafka_ctl "err 0 2 29" # the next two Produce requests: TOPIC_AUTHORIZATION_FAILED, permanent for librdkafka
_mock_took() { grep -q "^kafka_mock: $1\$" "$WORK/kafka_mock.err"; }
wait_for 5 _mock_took "err 0 2 29"
start_trigd "$WORK/trigd.json"
wait_for 30 _failed_has 2
wait_for 20 _received 6 "k6 ok6"
wait_for 10 _lag_zero
check_failed 2 kq # once: the rejected deliveries left no copy
grep -q 'cannot produce failed records to "failed": Broker: Topic authorization failed (retried)' "$TRIGD_LOG" ||
    fail "no log line about the rejected delivery"
grep -q "cannot write 1 event(s) to kafka://failed .*pausing the route's source" "$TRIGD_LOG" ||
    fail "no log line about pausing the source"
grep -q 'resuming the source' "$TRIGD_LOG" || fail "no log line about resuming the source"
log "rejected $(grep -c 'cannot produce failed records' "$TRIGD_LOG") time(s), then delivered"
stop_trigd
log "ok"
