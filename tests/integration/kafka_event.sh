#!/usr/bin/env bash
# kafka_event.sh — the function receives Lambda's self-managed Kafka event: one batch of one partition, keys
# (and a null key), headers as byte arrays, a binary value; compared with tests/fixtures/kafka/event.json byte
# for byte after the run-specific timestamps and bootstrap servers are replaced. Filters see decoded values.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
require_cmd curl python3 kcat

# librdkafka settings are checked with the config, each error naming its key
cat > "$WORK/bad.json" << 'JSON'
{"functions": {"f": {"type": "http", "url": "http://127.0.0.1:1/"}},
 "sources": {"k": {"type": "kafka", "brokers": "127.0.0.1:1", "topics": ["t"], "group": "g",
                   "rdkafka": {"no.such.key": "1", "enable.auto.commit": "true", "session.timeout.ms": "abc"}}},
 "routes": {"r": {"source": "k", "function": "f"}}}
JSON
rc=0
"$TRIGD" --check-config -c "$WORK/bad.json" > "$WORK/bad.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "--check-config exit status"
for key in no.such.key enable.auto.commit session.timeout.ms; do
    grep -q "\$.sources.k: rdkafka.\"$key\"" "$WORK/bad.out" || fail "no error for rdkafka.$key: $(cat "$WORK/bad.out")"
done

start_kafka_mock --topic ev:2 --topic mn:1
start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"k": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["ev"], "group": "g",
                    "rdkafka": $KAFKA_RDKAFKA},
              "mn": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["mn"], "group": "gm",
                     "format": "minio", "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "k", "function": "sink", "batch_size": 4, "batch_window_ms": 5000},
             "only_blue": {"source": "k", "function": "sink", "batch_size": 1,
                           "filters": [{"value": {"color": ["blue"]}, "key": [{"prefix": "k"}]}]},
             "s3": {"source": "mn", "function": "sink", "batch_size": 3, "batch_window_ms": 2000}}
}
JSON
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30

printf 'k1|{"color":"blue"}\nk2|{"color":"red"}\n' | kproduce ev -p 0 -K '|' -H trace=abc -H empty=
printf 'plain text, no key\n' | kproduce ev -p 0
printf '\000\001\377binary' > "$WORK/bin"
kproduce ev -p 0 -k k-bin "$WORK/bin"
wait_sink_lines 2 20

body=$(python3 - "$SINK_OUT" "$KAFKA_BOOTSTRAP" << 'PY'
import json, re, sys
for line in open(sys.argv[1]):
    b = json.loads(line)["body"]
    if len(b["records"].get("ev-0", [])) == 4:
        s = json.dumps(b, separators=(",", ":"))
        s = s.replace(sys.argv[2], "BOOTSTRAP")
        print(re.sub(r'"timestamp":\d+', '"timestamp":0', s))
        break
PY
)
[[ -n "$body" ]] || fail "no batch of the 4 records of ev-0: $(cat "$SINK_OUT")"
if [[ "${KAFKA_UPDATE_GOLDEN:-0}" == 1 ]]; then
    printf '%s\n' "$body" > "$TOP_SRCDIR/tests/fixtures/kafka/event.json"
fi
expected=$(cat "$TOP_SRCDIR/tests/fixtures/kafka/event.json")
assert_eq "$expected" "$body" "the Kafka event differs from tests/fixtures/kafka/event.json"
log "event matches the golden file"

# the filtered route saw decoded, parsed values: only the blue record with a k* key went through
python3 - "$SINK_OUT" << 'PY' || fail "the filter on key/value did not select exactly the blue record"
import base64, json, sys
singles = [json.loads(l)["body"]["records"]["ev-0"] for l in open(sys.argv[1])]
singles = [r for r in singles if len(r) == 1]
assert len(singles) == 1, singles
assert base64.b64decode(singles[0][0]["key"]) == b"k1", singles
PY
# format "minio": MinIO notifications published to Kafka become one S3 Records event; other values are skipped
{
    echo '{"EventName":"s3:ObjectCreated:Put","Key":"b/a.jpg","Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"a.jpg"}}}]}'
    echo 'not a notification'
    echo '{"EventName":"s3:ObjectRemoved:Delete","Key":"b/c.jpg","Records":[{"eventName":"s3:ObjectRemoved:Delete","s3":{"object":{"key":"c.jpg"}}}]}'
    echo '{"EventName":"s3:ObjectCreated:Put","Key":"b/d.jpg","Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"d.jpg"}}}]}'
} | kproduce mn -p 0
_s3() { grep -q '"Records"' "$SINK_OUT"; }
wait_for 20 _s3
python3 - "$SINK_OUT" << 'PY' || fail "format minio did not produce the S3 event"
import json, sys
ev = [json.loads(l)["body"] for l in open(sys.argv[1])]
ev = [b for b in ev if "Records" in b]
assert len(ev) == 1, ev
assert [r["s3"]["object"]["key"] for r in ev[0]["Records"]] == ["a.jpg", "c.jpg", "d.jpg"], ev
PY
grep -q 'mn-0@1 is not a MinIO notification' "$TRIGD_LOG" || fail "the skipped value was not logged"
log "format minio: S3 Records event, a non-notification skipped"
stop_trigd
log "ok"
