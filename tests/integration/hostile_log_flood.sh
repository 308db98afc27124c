#!/usr/bin/env bash
# hostile_log_flood.sh — a caller cannot fill the disk through the log: 2,000 requests with a wrong
# bearer token are all refused (401), yet the refusal is logged at most 20 times (the per-call-site
# burst, log.h), and one line then tells how many more were held back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

export HOOK_TOKEN="tok-$RANDOM$RANDOM"
start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in", "auth_token_env": "HOOK_TOKEN"}},
  "routes": {"r": {"source": "in", "function": "f"}}
}
JSON
start_trigd "$WORK/trigd.json"

N=2000
curl -sS -o /dev/null -w '%{http_code}\n' --max-time 300 -H 'Authorization: Bearer wrong' \
    --data-binary '{}' "$(trigd_url "/in?n=[1-$N]")" > "$WORK/codes" || true
assert_eq "$N" "$(grep -c '^401$' "$WORK/codes")" "requests answered 401"

refusals=$(grep -c 'refused a POST from' "$TRIGD_LOG" || true)
((refusals >= 1 && refusals <= 20)) || fail "$refusals refusal lines in the log (want 1..20)"
# The held-back count is told once the 10 s window is over (trigd checks every second).
_told() { grep -q 'more like "refused a POST from' "$TRIGD_LOG"; }
wait_for 30 _told
held=$(grep -o '[0-9]* more like "refused a POST from' "$TRIGD_LOG" | awk '{ s += $1 } END { print s }')
assert_eq "$N" "$((refusals + held))" "lines printed plus lines held back"
# Still serving.
assert_eq 202 "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $HOOK_TOKEN" \
    --data-binary '{}' "$(trigd_url /in)")" "a request with the right token"
stop_trigd
log "ok"
