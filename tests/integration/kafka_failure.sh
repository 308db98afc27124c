#!/usr/bin/env bash
# kafka_failure.sh — on_failure "kafka://TOPIC": a poison record is produced to TOPIC with its key and headers
# plus x-trigd-condition/function/error/request-id headers, its partition continues; the config refuses
# kafka:// for a route whose source is not kafka.
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
_failed_has() { [[ -n $(kcat -b "$KAFKA_BOOTSTRAP" -C -t failed -e -q -f '%s\n') ]]; }
wait_for 20 _failed_has
got=$(kcat -b "$KAFKA_BOOTSTRAP" -C -t failed -e -q -f '%k|%s|%h\n')
log "failure topic: $got"
[[ $(wc -l <<< "$got") == 1 ]] || fail "expected one failed record: $got"
IFS='|' read -r key value headers <<< "$got"
assert_eq kp "$key" "the original key"
assert_eq poison "$value" "the original value"
for h in trace=abc bin=x x-trigd-condition=RetryAttemptsExhausted x-trigd-function=f x-trigd-error=Unhandled \
    x-trigd-request-id=; do
    [[ ",$headers," == *",$h"* ]] || fail "header $h missing: $headers"
done
# the partition continues, and the offset passed the poison record
printf 'k3:after\n' | kproduce in -p 0 -K:
_after() { krecords > "$WORK/kr"; grep -q "^in-0 3 k3 after [0-9]* 200$" "$WORK/kr"; }
_logs+=("$WORK/kr")
wait_for 20 _after
_lag_zero() { [[ $(metric 'trigd_source_lag{source="k"}') == 0 ]]; }
wait_for 10 _lag_zero
[[ ! -s "$WORK/state/dlq/r.jsonl" ]] || fail "the DLQ got the record too"
stop_trigd
log "ok"
