#!/usr/bin/env bash
# dlq_unavailable.sh — when the DLQ cannot be written, failed events are not dropped: the route pauses its
# source (webhooks answer 503) and retries the write; once the DLQ works again the record is written and
# the route takes events again. (File backend; the DLQ directory is replaced by a plain file meanwhile.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --status 500
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0}}
}
JSON
start_trigd "$WORK/trigd.json"
dlq="$WORK/state/dlq"
[[ -d "$dlq" ]] || fail "no DLQ directory at $dlq"

# The DLQ directory becomes a plain file: writes fail (ENOTDIR) until it is a directory again.
mv "$dlq" "$dlq.saved"
touch "$dlq"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":1}')" "POST"
_blocked() { [[ "$(post_json "$(trigd_url /in)" '{"probe":1}')" == 503 ]]; }
wait_for 10 _blocked
grep -q "cannot write 1 event(s) to the DLQ" "$TRIGD_LOG" || fail "the DLQ failure is not logged"
_status_blocked() { curl -fsS "$(trigd_url /admin/status)" | grep -q '"dlq_blocked":true'; }
wait_for 5 _status_blocked

# The DLQ works again: the record is written and the route resumes.
rm "$dlq"
mv "$dlq.saved" "$dlq"
# Probes that arrived before the route was blocked failed too and are written beside it, in any order.
_dlq_written() { grep -q '' "$dlq/r.jsonl" 2> /dev/null; }
wait_for 20 _dlq_written
_n1_written() {
    local line
    while IFS= read -r line; do
        [[ "$(json_get "$line" 'j["record"]["requestPayload"]["body"]')" == '{"n":1}' ]] && return 0
    done < "$dlq/r.jsonl"
    return 1
}
wait_for 20 _n1_written
_accepting() { [[ "$(post_json "$(trigd_url /in)" '{"n":2}')" == 202 ]]; }
wait_for 10 _accepting
stop_trigd
log "ok"
