#!/usr/bin/env bash
# hostile_minio_listen_noretry.sh — in listen mode every record reaches the function on its first attempt.
# The records arrive inside libcurl's write callback, where libcurl refuses to start another transfer;
# the invocation they lead to must start outside it. With max_retry_attempts 0 a first attempt that
# failed would send the event straight to the DLQ, so: every record delivered, the DLQ empty.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

FIX="$TOP_SRCDIR/tests/fixtures/minio"
put_line=$(sed -n 1p "$FIX/listen-stream-ping.ndjson")
N=6
{
    for i in $(seq 1 "$N"); do echo "${put_line//photos\//photos\/n$i-}"; done
    echo "#hold"
} > "$WORK/stream"

_has_line() { [[ -s "$1" ]]; }
python3 "$TOP_SRCDIR/tests/helpers/minio_listen.py" --stream "$WORK/stream" --access-key AKIDTRIGD \
    --secret-key "minio-secret" --region eu-west-1 --record "$WORK/requests" > "$WORK/port" \
    2> "$WORK/listen.stderr" &
_track $!
_logs+=("$WORK/listen.stderr")
wait_for 10 _has_line "$WORK/port"
LISTEN_PORT=$(head -n 1 "$WORK/port")

start_sink
HTTP_PORT=$(free_port)
export MINIO_ACCESS_KEY=AKIDTRIGD MINIO_SECRET_KEY="minio-secret"
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"fn": {"type": "http", "url": "$SINK_URL/fn", "timeout_ms": 10000}},
  "sources": {
    "media": {"type": "minio", "mode": "listen", "endpoint": "http://127.0.0.1:$LISTEN_PORT/",
              "bucket": "media", "ping_s": 1, "reconnect_max_ms": 1000, "region": "eu-west-1",
              "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"}
  },
  "routes": {"r": {"source": "media", "function": "fn", "max_retry_attempts": 0, "batch_size": 1}}
}
JSON
start_trigd "$WORK/trigd.json"

# Every record, each on its first and only attempt (the order of batches is not asserted).
_all_delivered() {
    local n=0 i
    for i in $(seq 1 "$N"); do grep -q "n$i-" "$SINK_OUT" && n=$((n + 1)); done
    ((n == N))
}
wait_for 30 _all_delivered
dlq="$WORK/state/dlq/r.jsonl"
if [[ -s "$dlq" ]]; then fail "events went to the DLQ: $(head -c 400 "$dlq")"; fi
if grep -q 'curl_multi_add_handle' "$TRIGD_LOG"; then
    fail "an invocation was started inside a libcurl callback: $(grep -m1 curl_multi_add_handle "$TRIGD_LOG")"
fi
stop_trigd
if [[ -s "$dlq" ]]; then fail "events went to the DLQ by shutdown: $(head -c 400 "$dlq")"; fi
log "ok"
