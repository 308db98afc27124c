#!/usr/bin/env bash
# filters.sh — a route's EventBridge patterns on webhook events: non-matching events are acknowledged
# without an invocation and counted; matching ones (by parsed body and by request fields) are delivered.
# A second route uses cidr on the caller's address, anything-but with a list of prefixes, and a $or
# branch replacing a field named outside it (event-ruler's semantics).
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
  "sources": {"in": {"type": "webhook", "path": "/in"}, "in2": {"type": "webhook", "path": "/in2"}},
  "routes": {"r": {"source": "in", "function": "f", "filters": [
      {"body": {"kind": ["keep"], "price": [{"numeric": [">", 10]}]}},
      {"rawQueryString": [{"prefix": "force="}]}
  ]},
  "r2": {"source": "in2", "function": "f", "filters": [
      {"requestContext": {"http": {"sourceIp": [{"cidr": "127.0.0.0/8"}]}}, "body": {"k": ["loop"]}},
      {"requestContext": {"http": {"sourceIp": [{"cidr": "10.0.0.0/8"}, {"cidr": "::1/128"}]}}, "body": {"k": ["ten"]}},
      {"body": {"id": [{"anything-but": {"prefix": ["\$", "%"]}}]}},
      {"body": {"name": ["a", "b"]}, "\$or": [{"body": {"name": [{"anything-but": "a"}]}}, {"body": {"c": ["x"]}}]}
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

# route r2: the caller is 127.0.0.1
# shellcheck disable=SC2016 # a literal $ in a body
for body in '{"k":"loop"}' '{"k":"ten"}' '{"id":"$1"}' '{"id":"7"}' '{"name":"c"}' '{"name":"a"}' \
    '{"name":"a","c":"x"}' '{"id":"%2"}'; do
    assert_eq 202 "$(post_json "$(trigd_url /in2)" "$body")" "r2 accepts $body"
done
wait_sink_lines 6 10
_filtered2() { [[ "$(metric 'trigd_events_filtered_total{route="r2"}')" == 4 ]]; }
wait_for 5 _filtered2
assert_eq 6 "$(sink_count)" "delivered in all"
delivered=$(for i in 3 4 5 6; do json_get "$(sink_line "$i")" 'j["body"]["body"]'; done | sort | tr '\n' ' ')
assert_eq '{"id":"7"} {"k":"loop"} {"name":"a","c":"x"} {"name":"c"} ' "$delivered" "r2 delivered"

# An invalid pattern is a config error naming the path inside the pattern.
cat > "$WORK/bad.json" <<JSON
{"functions": {"f": {"type": "http", "url": "$SINK_URL"}}, "sources": {"in": {"type": "webhook", "path": "/in"}},
 "routes": {"r": {"source": "in", "function": "f", "filters": [{"body": {"price": [{"numeric": [">"]}]}},
   {"requestContext": {"http": {"sourceIp": [{"cidr": "10.0.0.0/33"}]}}}]}}}
JSON
rc=0
"$TRIGD" --check-config -c "$WORK/bad.json" 2> "$WORK/bad.err" || rc=$?
assert_eq 2 "$rc" "exit status of a bad pattern"
grep -q 'bad.json: \$.routes.r.filters\[0\].body.price' "$WORK/bad.err" || fail "error does not name the path: $(cat "$WORK/bad.err")"
grep -q 'bad.json: \$.routes.r.filters\[1\].requestContext.http.sourceIp: cidr: "10.0.0.0/33"' "$WORK/bad.err" ||
    fail "cidr error does not name the path: $(cat "$WORK/bad.err")"
stop_trigd
log "ok"
