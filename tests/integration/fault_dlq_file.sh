#!/usr/bin/env bash
# fault_dlq_file.sh — the disk refuses the DLQ write (a file-size limit on trigd, SIGXFSZ ignored, set with
# prlimit once it runs): the failed event is kept, the route's source is paused (the webhook answers 503),
# the failure is logged once (not once per retry), and it shows in /healthz ("degraded", the route named)
# and in trigd_dlq_blocked / trigd_dlq_write_failures_total. Once the limit is lifted the record is
# written, complete, and everything is back to normal.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 prlimit

start_sink --status 500
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "timeout_ms": 5000}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0}}
}
JSON
# trigd's log goes through a pipe (cat was started before the limit and is not bound by it); trigd
# ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing it.
TRIGD_LOG="$WORK/trigd.log"
_logs+=("$TRIGD_LOG")
(
    trap '' XFSZ
    exec "$TRIGD" -c "$WORK/trigd.json"
) > >(cat > "$TRIGD_LOG") 2>&1 &
TRIGD_PID=$!
_track "$TRIGD_PID"
wait_for 20 _trigd_healthy
prlimit --pid "$TRIGD_PID" --fsize=2048: || fail "prlimit could not set trigd's file-size limit"

big=$(python3 -c 'import json; print(json.dumps({"pad": "x" * 4000}))')
assert_eq 202 "$(post_json "$(trigd_url /in)" "$big")" "POST of a 4 KB event"
_blocked() { [[ "$(metric 'trigd_dlq_blocked{route="r"}')" == 1 ]]; }
wait_for 20 _blocked
_retried() { (($(metric 'trigd_dlq_write_failures_total{route="r"}' | cut -d. -f1) >= 3)); }
wait_for 20 _retried
assert_eq 503 "$(post_json "$(trigd_url /in)" '{"probe":1}')" "a webhook while the DLQ is blocked"
health=$(curl -fsS "$(trigd_url /healthz)")
assert_eq degraded "$(json_get "$health" 'j["status"]')" "/healthz status"
assert_eq '["r"]' "$(json_get "$health" 'j["dlq_blocked"]')" "/healthz dlq_blocked"
assert_eq 1 "$(grep -c 'cannot write 1 event(s) to the DLQ' "$TRIGD_LOG")" \
    "lines logged for $(metric 'trigd_dlq_write_failures_total{route="r"}') failed writes"
grep -q 'File too large' "$TRIGD_LOG" || fail "the log does not say why the write failed"
dlq="$WORK/state/dlq/r.jsonl"
[[ ! -s "$dlq" ]] || fail "a partial record was left in the DLQ file: $(wc -c < "$dlq") bytes"

# The disk takes writes again.
prlimit --pid "$TRIGD_PID" --fsize=unlimited:
_written() { [[ -s "$dlq" ]]; }
wait_for 20 _written
assert_eq 4000 "$(json_get "$(head -1 "$dlq")" 'len(json.loads(j["record"]["requestPayload"]["body"])["pad"])')" \
    "the padding of the record's payload, complete"
_unblocked() { [[ "$(metric 'trigd_dlq_blocked{route="r"}')" == 0 ]]; }
wait_for 10 _unblocked
assert_eq ok "$(json_get "$(curl -fsS "$(trigd_url /healthz)")" 'j["status"]')" "/healthz status after"
_accepting() { [[ "$(post_json "$(trigd_url /in)" '{"n":2}')" == 202 ]]; }
wait_for 10 _accepting
stop_trigd
log "ok"
