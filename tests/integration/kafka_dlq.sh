#!/usr/bin/env bash
# kafka_dlq.sh — failures on a Kafka route: a poison record is bisected out of its batch, goes to the DLQ
# (with KafkaBatchInfo) after max_retry_attempts, and its partition moves on; the committed offset passes it
# only then. A partial batch response with {"topic-partition","offset"} restarts the batch at that record.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

start_kafka_mock --topic dl:2 --topic pf:1
# "poison" is 6 bytes: alone in a value it is always base64 "cG9pc29u"
start_sink --fail-when-contains cG9pc29u
SINK_A=$SINK_OUT URL_A=$SINK_URL
start_sink --body '{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"pf-0","offset":2}}]}'
SINK_B=$SINK_OUT URL_B=$SINK_URL
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": 2000,
  "functions": {"a": {"type": "http", "url": "$URL_A/fn"}, "b": {"type": "http", "url": "$URL_B/fn"}},
  "sources": {"dl": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["dl"], "group": "g",
                     "commit_interval_ms": 200, "rdkafka": $KAFKA_RDKAFKA},
              "pf": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["pf"], "group": "g2",
                     "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"ra": {"source": "dl", "function": "a", "batch_size": 8, "batch_window_ms": 300,
                    "bisect_on_error": true, "max_retry_attempts": 4, "retry_base_ms": 10, "retry_max_ms": 20},
             "rb": {"source": "pf", "function": "b", "batch_size": 5, "batch_window_ms": 300,
                    "report_batch_item_failures": true, "retry_base_ms": 10, "retry_max_ms": 50}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30

printf 'ok0\nok1\nok2\npoison\nok4\nok5\nok6\nok7\n' | kproduce dl -p 0
printf 'a\nb\nc\nd\ne\n' | kproduce pf -p 0
_dlq_has_poison() { [[ -s "$WORK/state/dlq/ra.jsonl" ]]; }
wait_for 20 _dlq_has_poison
# the partition moves on: a later record arrives too
printf 'after\n' | kproduce dl -p 0
_after() { krecords "$SINK_A" | grep -q ' after 1*[0-9]* 200$'; }
wait_for 20 _after

python3 - "$SINK_A" "$WORK/state/dlq/ra.jsonl" "$KAFKA_BOOTSTRAP" << 'PY' || fail "poison record handling is wrong"
import base64, json, sys
ok = set()
for line in open(sys.argv[1]):
    l = json.loads(line)
    if l["status"] == 200:
        for r in l["body"]["records"]["dl-0"]:
            ok.add(base64.b64decode(r["value"]).decode())
assert ok == {"ok0", "ok1", "ok2", "ok4", "ok5", "ok6", "ok7", "after"}, ok
dlq = [json.loads(l) for l in open(sys.argv[2])]
assert len(dlq) == 1, dlq
rec = dlq[0]["record"]
assert rec["requestContext"]["condition"] == "RetryAttemptsExhausted", rec["requestContext"]
info = rec["KafkaBatchInfo"]
assert info["batchSize"] == 1 and info["bootstrapServers"] == sys.argv[3], info
ri = info["recordsInfo"]["dl-0"]
assert ri["firstRecordOffset"] == 3 and ri["lastRecordOffset"] == 3, ri
payload = rec["requestPayload"]
assert payload["eventSource"] == "SelfManagedKafka"
assert [base64.b64decode(r["value"]) for r in payload["records"]["dl-0"]] == [b"poison"], payload
PY
log "poison record bisected out, dead-lettered with KafkaBatchInfo; the partition continued"

# everything the partition holds was read: the lag gauge is back to 0
_lag_zero() { [[ $(metric 'trigd_source_lag{source="dl"}') == 0 ]]; }
wait_for 10 _lag_zero

_two_requests() { (($(sink_count "$SINK_B") >= 2)); }
wait_for 20 _two_requests
python3 - "$SINK_B" << 'PY' || fail "a partial batch response did not restart at the failed record"
import base64, json, sys
reqs = [json.loads(l)["body"]["records"]["pf-0"] for l in open(sys.argv[1])]
assert [r["offset"] for r in reqs[0]] == [0, 1, 2, 3, 4], reqs[0]
assert [r["offset"] for r in reqs[1]] == [2, 3, 4], reqs[1]
PY
log "partial batch failure restarted at pf-0@2"
stop_trigd  # the rb batch still retries: shutdown_timeout_ms abandons it (no offset stored past it)
log "ok"
