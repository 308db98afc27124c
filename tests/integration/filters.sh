#!/usr/bin/env bash
# filters.sh — a route's EventBridge patterns on webhook events: non-matching events are acknowledged
# without an invocation and counted; matching ones (by parsed body and by request fields) are delivered.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" <<JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "filters": [
      {"body": {"kind": ["keep"], "price": [{"numeric": [">", 10]}]}},
      {"rawQueryString": [{"prefix": "force="}]}
  ]}}
}
JSON
start_trigd "$WORK/trigd.json"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"kind":"keep","price":11}')" "match"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"kind":"keep","price":5}')" "numeric fails"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"kind":"drop","price":50}')" "value fails"
assert_eq 202 "$(post_json "$(trigd_url '/in?force=1')" 'not json')" "second pattern"
wait_sink_lines 2 10
_filtered() { [[ "$(metric 'trigd_events_filtered_total{route="r"}')" == 2 ]]; }
wait_for 5 _filtered
assert_eq 2 "$(sink_count)" "delivered"
assert_eq keep "$(json_get "$(sink_line 1)" 'json.loads(j["body"]["body"])["kind"]')" "first delivered"
assert_eq 'not json' "$(json_get "$(sink_line 2)" 'j["body"]["body"]')" "second delivered"

# An invalid pattern is a config error naming the path inside the pattern.
cat > "$WORK/bad.json" <<JSON
{"functions": {"f": {"type": "http", "url": "$SINK_URL"}}, "sources": {"in": {"type": "webhook", "path": "/in"}},
 "routes": {"r": {"source": "in", "function": "f", "filters": [{"body": {"price": [{"numeric": [">"]}]}}]}}}
JSON
rc=0
"$TRIGD" --check-config -c "$WORK/bad.json" 2> "$WORK/bad.err" || rc=$?
assert_eq 2 "$rc" "exit status of a bad pattern"
grep -q 'bad.json: \$.routes.r.filters\[0\].body.price' "$WORK/bad.err" || fail "error does not name the path: $(cat "$WORK/bad.err")"
stop_trigd
log "ok"
