#!/usr/bin/env bash
# runtime_node_kafka.sh — a Kafka route to a Node.js handler (examples/runtimes/node/index.mjs, "kafka", run
# by aws-lambda-ric) that answers a partial batch response: the batch a, b, fail-once, d, e of partition
# pf-0 fails at offset 2 ({"batchItemFailures":[{"itemIdentifier":{"topic-partition":"pf-0","offset":2}}]}),
# trigd redelivers from offset 2, and the same warm instance (which remembers the failure) succeeds; nothing
# goes to the DLQ and the consumer lag returns to 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kafka_lib.sh
. "$(dirname "$0")/kafka_lib.sh"
# shellcheck source-path=SCRIPTDIR source=runtime_examples_lib.sh
. "$(dirname "$0")/runtime_examples_lib.sh"
require_cmd curl python3 kcat
require_ric

start_kafka_mock --topic pf:1
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": 5000,
  "functions": {"node-kafka": {"type": "runtime", "code_dir": "$NODE_EXAMPLE_DIR", "handler": "index.kafka",
                               "command": ["$NODE", "$RIC/bin/index.mjs", "index.kafka"],
                               "timeout_ms": 20000, "init_timeout_ms": 20000, "max_concurrency": 1}},
  "sources": {"pf": {"type": "kafka", "brokers": "$KAFKA_BOOTSTRAP", "topics": ["pf"], "group": "g",
                     "commit_interval_ms": 200, "rdkafka": $KAFKA_RDKAFKA}},
  "routes": {"r": {"source": "pf", "function": "node-kafka", "batch_size": 5, "batch_window_ms": 300,
                   "report_batch_item_failures": true, "max_retry_attempts": 3,
                   "retry_base_ms": 10, "retry_max_ms": 50}}
}
EOF
start_trigd "$WORK/trigd.json"
wait_kafka_ready 30

printf 'a\nb\nfail-once\nd\ne\n' | kproduce pf -p 0

# kafka-batch lines: what the handler saw in each batch and the offset it reported failed (or null)
batches() { grep -o 'kafka-batch {.*}$' "$TRIGD_LOG" | sed 's/^kafka-batch //' || true; }
_offset4_ok() { batches | grep -q '"offsets":\[[0-9,]*4\],"failed":null'; }
wait_for 30 _offset4_ok

batches > "$WORK/batches.jsonl"
python3 - "$WORK/batches.jsonl" << 'PY' || fail "the partial batch response did not restart the partition at the failed record"
import json, sys
seen = [json.loads(l)["pf-0"] for l in open(sys.argv[1])]
# every record up to the failed one was delivered in order before it, whatever the batch boundaries
first_fail = next(i for i, b in enumerate(seen) if b["failed"] is not None)
assert seen[first_fail]["failed"] == 2, seen
assert 2 in seen[first_fail]["offsets"], seen
before = [o for b in seen[:first_fail + 1] for o in b["offsets"] if o < 2]
assert before == [0, 1], seen
# the next batch restarts at offset 2 and succeeds, and nothing else failed
after = seen[first_fail + 1:]
assert after and after[0]["offsets"][0] == 2, seen
assert all(b["failed"] is None for b in after), seen
assert [o for b in after for o in b["offsets"]] == [2, 3, 4], seen
PY
log "the Node handler's partial batch response failed pf-0@2 and trigd redelivered from offset 2"

[[ ! -s "$WORK/state/dlq/r.jsonl" ]] || fail "a record went to the DLQ: $(cat "$WORK/state/dlq/r.jsonl")"
_lag_zero() { [[ $(metric 'trigd_source_lag{source="pf"}') == 0 ]]; }
wait_for 20 _lag_zero
stop_trigd
log "ok"
