#!/usr/bin/env bash
# hostile_webhook_redact.sh — credentials on a webhook request never reach the function or the DLQ: the
# bearer token trigd checked (Authorization), and every header on redact_headers (default Authorization,
# Proxy-Authorization, Cookie, X-Api-Key; Cookie also empties "cookies") are left out of the event.
# Other headers still arrive. A source with its own list drops exactly that list (Authorization too
# when it has an auth_token).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

export HOOK_TOKEN="tok-secret-$RANDOM$RANDOM"
start_sink --status 500
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "timeout_ms": 5000}},
  "sources": {
    "guarded": {"type": "webhook", "path": "/guarded", "auth_token_env": "HOOK_TOKEN"},
    "custom": {"type": "webhook", "path": "/custom", "redact_headers": ["X-Custom-Secret"]}
  },
  "routes": {
    "rg": {"source": "guarded", "function": "f", "max_retry_attempts": 0},
    "rc": {"source": "custom", "function": "f", "max_retry_attempts": 0}
  }
}
JSON
start_trigd "$WORK/trigd.json"

post() { # post PATH HEADER...: POST {"n":1} with the headers; prints the status
    local path=$1
    shift
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${args[@]}" --data-binary '{"n":1}' \
        "$(trigd_url "$path")" || true
}

assert_eq 202 "$(post /guarded "Authorization: Bearer $HOOK_TOKEN" "Proxy-Authorization: Basic cHJveHk6c2VjcmV0" \
    "Cookie: session=cookie-secret; b=2" "X-Api-Key: key-secret" "X-Trace: keep-me")" "guarded POST"
wait_sink_lines 1
dlq="$WORK/state/dlq/rg.jsonl"
_dlq_written() { [[ -s "$dlq" ]]; }
wait_for 20 _dlq_written

ev=$(sink_line 1)
assert_eq keep-me "$(json_get "$ev" 'j["body"]["headers"].get("x-trace")')" "a header not on the list"
for name in authorization proxy-authorization cookie x-api-key; do
    assert_eq None "$(json_get "$ev" "str(j['body']['headers'].get('$name'))")" "$name in the event's headers"
done
assert_eq None "$(json_get "$ev" 'str(j["body"].get("cookies"))')" "cookies in the event"
for secret in "$HOOK_TOKEN" cHJveHk6c2VjcmV0 cookie-secret key-secret; do
    if grep -q -- "$secret" "$SINK_OUT"; then fail "$secret reached the function"; fi
    if grep -q -- "$secret" "$dlq"; then fail "$secret reached the DLQ"; fi
done

# Its own list: X-Custom-Secret dropped; with no auth_token, Authorization and Cookie are the function's.
assert_eq 202 "$(post /custom "X-Custom-Secret: custom-secret" "Authorization: Bearer for-the-fn" \
    "Cookie: c=1")" "custom POST"
wait_sink_lines 2
ev=$(sink_line 2)
assert_eq None "$(json_get "$ev" 'str(j["body"]["headers"].get("x-custom-secret"))')" "x-custom-secret"
assert_eq "Bearer for-the-fn" "$(json_get "$ev" 'j["body"]["headers"].get("authorization")')" \
    "authorization without auth_token and not on the list"
assert_eq '["c=1"]' "$(json_get "$ev" 'j["body"].get("cookies")')" "cookies when Cookie is not on the list"
stop_trigd
log "ok"
