# shellcheck shell=bash
# kafka_lib.sh — sourced by the kafka_*.sh tests (after lib.sh): the librdkafka mock cluster
# (tests/helpers/kafka_mock) on loopback, kcat as producer, and readers of what the sink received.

# Settings every test consumer uses: a short session so a killed member's partitions move quickly.
KAFKA_RDKAFKA='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "2000"}'

_kafka_has_bootstrap() { grep -q '^BOOTSTRAP ' "$1"; }

# start_kafka_mock [--brokers N] [--topic NAME:PARTS]... : sets KAFKA_BOOTSTRAP, KAFKA_MOCK_PID, KAFKA_CTL (a FIFO
# taking "down ID", "up ID", "err APIKEY COUNT CODE" lines).
start_kafka_mock() {
    require_cmd kcat python3
    [[ -x "$HELPERS/kafka_mock" ]] || fail "$HELPERS/kafka_mock not built (make check builds it)"
    KAFKA_CTL="$WORK/kafka_mock.ctl"
    mkfifo "$KAFKA_CTL"
    "$HELPERS/kafka_mock" --ctl "$KAFKA_CTL" "$@" > "$WORK/kafka_mock.out" 2> "$WORK/kafka_mock.err" &
    KAFKA_MOCK_PID=$!
    _track "$KAFKA_MOCK_PID"
    _logs+=("$WORK/kafka_mock.err")
    wait_for 10 _kafka_has_bootstrap "$WORK/kafka_mock.out"
    KAFKA_BOOTSTRAP=$(awk '/^BOOTSTRAP / { print $2; exit }' "$WORK/kafka_mock.out")
    export KAFKA_BOOTSTRAP
}

# kafka_ctl LINE: a command to the mock cluster.
kafka_ctl() { echo "$*" > "$KAFKA_CTL"; }

# kproduce TOPIC [KCAT ARGS...] < lines : produce one record per input line (acks=all, waits for delivery).
kproduce() {
    local topic=$1
    shift
    kcat -b "$KAFKA_BOOTSTRAP" -P -t "$topic" -X acks=all "$@"
}

_trigd_ready() { curl -fsS -o /dev/null --max-time 1 "$(trigd_url /readyz)" 2> /dev/null; }

# wait_kafka_ready [DEADLINE_S]: trigd's /readyz answers 200 (every kafka source joined its group).
wait_kafka_ready() { wait_for "${1:-20}" _trigd_ready; }

# krecords [FILE]: every record the sink received, one line each: "tp offset key value n_request" with key
# and value decoded (key "-" when null), in order of receipt.
krecords() {
    python3 - "${1:-$SINK_OUT}" << 'PY'
import base64, json, sys
for line in open(sys.argv[1]):
    l = json.loads(line)
    body = l.get("body")
    if not isinstance(body, dict) or "records" not in body:
        continue
    for tp, recs in body["records"].items():
        for r in recs:
            k = base64.b64decode(r["key"]).decode("latin-1") if "key" in r else "-"
            v = base64.b64decode(r.get("value", "")).decode("latin-1")
            print(tp, r["offset"], k, v, l["n"], l["status"])
PY
}
