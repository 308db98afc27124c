#!/usr/bin/env bash
# webhook_limits.sh — a webhook source's HTTP face: bearer auth (401), max_body_bytes (413), methods
# (405), unknown paths (404); what reaches the function (the API Gateway v2 request event: text body
# as a string, binary body base64 with isBase64Encoded, query string parameters, headers); and sync
# mode answering with the function's structured response.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3 base64 head cmp

export HOOK_TOKEN="tok-$RANDOM$RANDOM"

start_sink
ASYNC_OUT=$SINK_OUT
ASYNC_URL=$SINK_URL
start_sink --body '{"statusCode":201,"headers":{"x-a":"b"},"body":"made"}'
SYNC_OUT=$SINK_OUT
SYNC_URL=$SINK_URL

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "log": { "level": "debug" },
  "state_dir": "$WORK/state",
  "functions": {
    "async-fn": { "type": "http", "url": "$ASYNC_URL/async", "timeout_ms": 5000 },
    "sync-fn": { "type": "http", "url": "$SYNC_URL/sync", "timeout_ms": 5000 }
  },
  "sources": {
    "guarded": { "type": "webhook", "path": "/hooks/guarded", "max_body_bytes": 1000,
                 "auth_token_env": "HOOK_TOKEN" },
    "synchronous": { "type": "webhook", "path": "/hooks/sync", "mode": "sync", "sync_timeout_ms": 10000 }
  },
  "routes": {
    "guarded-route": { "source": "guarded", "function": "async-fn" },
    "sync-route": { "source": "synchronous", "function": "sync-fn" }
  }
}
EOF
start_trigd "$WORK/trigd.json"
URL=$(trigd_url /hooks/guarded)
AUTH="Authorization: Bearer $HOOK_TOKEN"

# status ARGS...: curl's status code for a request (body in $WORK/resp, headers in $WORK/hdrs).
status() {
    curl -sS -o "$WORK/resp" -D "$WORK/hdrs" -w '%{http_code}' --max-time 10 "$@" || true
}

# --- refusals: none of them reaches the function ----------------------------------------------
assert_eq 401 "$(status -H 'Content-Type: application/json' --data-binary '{"n":0}' "$URL")" "no token"
grep -qi '^www-authenticate: *bearer' "$WORK/hdrs" || fail "401 without WWW-Authenticate: Bearer"
assert_eq 401 "$(status -H 'Authorization: Bearer wrong' --data-binary '{"n":0}' "$URL")" "wrong token"
assert_eq 401 "$(status -H "Authorization: Bearer ${HOOK_TOKEN}x" --data-binary '{"n":0}' "$URL")" \
    "token with a suffix"
assert_eq 401 "$(status -H "Authorization: Basic $HOOK_TOKEN" --data-binary '{"n":0}' "$URL")" \
    "another auth scheme"

head -c 2000 /dev/zero | tr '\0' 'a' > "$WORK/big.txt"
assert_eq 413 "$(status -H "$AUTH" -H 'Content-Type: text/plain' --data-binary @"$WORK/big.txt" "$URL")" \
    "2000-byte body over max_body_bytes 1000"
# Just over the limit too, and also when the sender does not announce the length (chunked).
head -c 1001 /dev/zero | tr '\0' 'b' > "$WORK/over.txt"
assert_eq 413 "$(status -H "$AUTH" -H 'Content-Type: text/plain' --data-binary @"$WORK/over.txt" "$URL")" \
    "1001-byte body"
assert_eq 413 "$(status -H "$AUTH" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$WORK/big.txt" "$URL")" "chunked 2000-byte body"

assert_eq 405 "$(status -H "$AUTH" "$URL")" "GET"
grep -qi '^allow: *POST' "$WORK/hdrs" || fail "405 without Allow: POST"
assert_eq 405 "$(status -X PUT -H "$AUTH" --data-binary '{}' "$URL")" "PUT"

assert_eq 404 "$(status -H "$AUTH" --data-binary '{}' "$(trigd_url /hooks/unknown)")" "unknown path"
assert_eq 404 "$(status -H "$AUTH" --data-binary '{}' "$(trigd_url /hooks/guarded/more)")" "path below the hook"

# Nothing of the above reached the function (checked again at the end, by count).
wait_route_idle 15 guarded-route sync-route # negative check: nothing was accepted, nothing is on its way
assert_eq 0 "$(sink_count "$ASYNC_OUT")" "requests that reached the function after refusals"

# --- accepted events ---------------------------------------------------------------------------
# 1: exactly at the limit (1000 bytes), JSON.
python3 -c 'import json; print(json.dumps({"pad": "x" * 989}), end="")' > "$WORK/limit.json"
assert_eq 1000 "$(wc -c < "$WORK/limit.json" | tr -d ' ')" "size of limit.json"
assert_eq 202 "$(status -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$WORK/limit.json" \
    "$URL")" "a 1000-byte body"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["requestId"], j' "$WORK/resp" ||
    fail "202 without a requestId: $(cat "$WORK/resp")"
wait_sink_lines 1 10 "$ASYNC_OUT"

# 2: plain text, with a query string and custom headers.
assert_eq 202 "$(status -H "$AUTH" -H 'Content-Type: text/plain' -H 'X-Custom-Thing: hello there' \
    --data-binary 'just some text, not JSON' "$URL?colour=blue&size=10&empty=")" "a text body"
wait_sink_lines 2 10 "$ASYNC_OUT"

# 3: binary bytes (every byte value), octet-stream.
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) + b"\x00\xff\xfe")' > "$WORK/bin.dat"
assert_eq 202 "$(status -H "$AUTH" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/bin.dat" "$URL")" "a binary body"
wait_sink_lines 3 10 "$ASYNC_OUT"

# Find each event by content: the function may see them in any order.
# event_where PY_COND: the recorded event body (JSON) whose body string satisfies PY_COND on `b`.
event_where() {
    python3 - "$ASYNC_OUT" "$1" << 'EOF'
import json, sys
found = [json.loads(l)["body"] for l in open(sys.argv[1]) if l.strip()]
for ev in found:
    b = ev.get("body", "") if isinstance(ev, dict) else ""
    if eval(sys.argv[2], {"b": b, "ev": ev}):
        print(json.dumps(ev))
        sys.exit(0)
sys.exit("no recorded event matches: " + sys.argv[2])
EOF
}

ev=$(event_where '"pad" in b') || fail "the 1000-byte event is missing"
assert_eq 2.0 "$(json_get "$ev" 'j["version"]')" "event version"
assert_eq false "$(json_get "$ev" 'j["isBase64Encoded"]')" "JSON body isBase64Encoded"
assert_eq "$(cat "$WORK/limit.json")" "$(json_get "$ev" 'j["body"]')" "JSON body arrives as the body string"
assert_eq /hooks/guarded "$(json_get "$ev" 'j["rawPath"]')" "rawPath"
assert_eq POST "$(json_get "$ev" 'j["requestContext"]["http"]["method"]')" "requestContext.http.method"

ev=$(event_where 'b.startswith("just some text")') || fail "the text event is missing"
assert_eq "just some text, not JSON" "$(json_get "$ev" 'j["body"]')" "text body"
assert_eq false "$(json_get "$ev" 'j["isBase64Encoded"]')" "text isBase64Encoded"
assert_eq blue "$(json_get "$ev" 'j["queryStringParameters"]["colour"]')" "query parameter colour"
assert_eq 10 "$(json_get "$ev" 'j["queryStringParameters"]["size"]')" "query parameter size"
assert_eq "" "$(json_get "$ev" 'j["queryStringParameters"].get("empty")')" "empty query parameter"
assert_eq "colour=blue&size=10&empty=" "$(json_get "$ev" 'j["rawQueryString"]')" "rawQueryString"
assert_eq "hello there" "$(json_get "$ev" 'j["headers"]["x-custom-thing"]')" "custom header (lowercased)"
assert_eq text/plain "$(json_get "$ev" 'j["headers"]["content-type"]')" "content-type header"
assert_eq 127.0.0.1 "$(json_get "$ev" 'j["requestContext"]["http"]["sourceIp"]')" "sourceIp"
[[ -n "$(json_get "$ev" 'j["requestContext"]["requestId"]')" ]] || fail "event without a requestId"

ev=$(event_where 'ev.get("isBase64Encoded") is True') || fail "the binary event is missing (or not base64)"
json_get "$ev" 'j["body"]' | base64 -d > "$WORK/bin.back" || fail "the binary body is not base64"
cmp -s "$WORK/bin.dat" "$WORK/bin.back" || fail "the binary body does not decode to the bytes sent"
assert_eq application/octet-stream "$(json_get "$ev" 'j["headers"]["content-type"]')" "binary content-type"

# Exactly the three accepted events reached the function, once each.
wait_route_idle 15 guarded-route sync-route # negative check: nothing more is on its way
assert_eq 3 "$(sink_count "$ASYNC_OUT")" "events that reached the async function"
assert_eq 0 "$(sink_count "$SYNC_OUT")" "events that reached the sync function"

# --- sync mode: the function's structured response is the webhook's answer --------------------
assert_eq 201 "$(status -H 'Content-Type: application/json' --data-binary '{"make":"it"}' \
    "$(trigd_url /hooks/sync)")" "sync status"
grep -qi '^x-a: *b' "$WORK/hdrs" || fail "sync answer without header x-a: b: $(cat "$WORK/hdrs")"
assert_eq made "$(cat "$WORK/resp")" "sync body"
assert_eq 1 "$(sink_count "$SYNC_OUT")" "sync function calls after the answer"
ev=$(json_get "$(sink_line 1 "$SYNC_OUT")" 'j["body"]')
assert_eq '{"make":"it"}' "$(json_get "$ev" 'j["body"]')" "sync event body"
assert_eq /sync "$(json_get "$(sink_line 1 "$SYNC_OUT")" 'j["path"]')" "sync function path"
# Sync mode also refuses other methods.
assert_eq 405 "$(status "$(trigd_url /hooks/sync)")" "GET on the sync hook"

stop_trigd
log "ok"
