#!/usr/bin/env bash
# lambda_client_context.sh — the Invoke API's ClientContext (X-Amz-Client-Context, base64 of a JSON object)
# reaches functions, sent by Lambda's own clients (@aws-sdk/client-lambda's ClientContext, the AWS CLI's
# --client-context):
#   runtime: examples/runtimes/node under AWS's Node.js runtime interface client (aws-lambda-ric) sees it as
#     context.clientContext (trigd sends it decoded as Lambda-Runtime-Client-Context with next);
#   exec: as AWS_LAMBDA_CLIENT_CONTEXT (the decoded JSON, on one line);
#   only synchronous invocations get it (as in Lambda): an Event invocation's function does not;
#   not base64, not a JSON object, or over 3583 bytes of base64: 400 InvalidRequestContentException, nothing runs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=runtime_examples_lib.sh
. "$(dirname "$0")/runtime_examples_lib.sh"

require_cmd curl python3 node base64
require_ric
# shellcheck source-path=SCRIPTDIR source=lambda_lib.sh
. "$(dirname "$0")/lambda_lib.sh"

FN="$WORK/fn"
mkdir -p "$FN"
# ctx.sh: writes AWS_LAMBDA_CLIENT_CONTEXT (or "unset") to $FN/ctx-$AWS_REQUEST_ID and answers it.
cat > "$FN/ctx.sh" << 'EOF'
#!/usr/bin/env bash
set -u
cat > /dev/null
printf '%s' "${AWS_LAMBDA_CLIENT_CONTEXT-unset}" > "$FN/ctx-$AWS_REQUEST_ID.tmp"
mv "$FN/ctx-$AWS_REQUEST_ID.tmp" "$FN/ctx-$AWS_REQUEST_ID"
printf '{"clientContext":"%s"}' "$(printf '%s' "${AWS_LAMBDA_CLIENT_CONTEXT-unset}" | base64 -w0)"
EOF
chmod +x "$FN/ctx.sh"

HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT"
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "node": { "type": "runtime", "code_dir": "$NODE_EXAMPLE_DIR", "handler": "index.handler",
              "command": ["$NODE", "$RIC/bin/index.mjs", "index.handler"],
              "memory_mb": 256, "timeout_ms": 20000, "init_timeout_ms": 20000 },
    "ctx": { "type": "exec", "command": ["$FN/ctx.sh"], "env": { "FN": "$FN" } }
  }
}
EOF
start_trigd "$WORK/trigd.json"

lam() { "$AWS" --endpoint-url "$URL" lambda "$@"; }
sdk() { node "$SDK_JS" "$URL" "$@"; }
b64() { printf '%s' "$1" | base64 -w0; }
# Mobile SDKs' shape (client, custom, env), with a line break and non-ASCII text inside
CTX='{"client":{"installation_id":"inst-1","app_title":"trigd test"},
"custom":{"tenant":"acme","note":"line\nbreak é"},"env":{"platform":"linux"}}'
CTX_B64=$(b64 "$CTX")
same_json() { # same_json A B: equal as JSON values
    python3 -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1]) == json.loads(sys.argv[2]) else 1)' "$1" "$2"
}

log "runtime (Node ric): the SDK's ClientContext is context.clientContext"
r=$(sdk invoke node '{"k":1}' '' '' '' "$CTX_B64")
assert_eq 200 "$(json_get "$r" 'j["status"]')" "the SDK's invoke: $r"
payload=$(json_get "$r" 'j["Payload"]')
got=$(json_get "$payload" 'j["clientContext"]')
same_json "$CTX" "$got" || fail "context.clientContext is $got, want $CTX"
r=$(sdk invoke node '{"k":2}')
assert_eq null "$(json_get "$(json_get "$r" 'j["Payload"]')" 'j["clientContext"]')" \
    "context.clientContext without a ClientContext"

log "exec: the CLI's --client-context is AWS_LAMBDA_CLIENT_CONTEXT"
lam invoke --function-name ctx --cli-binary-format raw-in-base64-out --payload '{}' \
    --client-context "$CTX_B64" "$WORK/out.json" > /dev/null
got=$(json_get "$(cat "$WORK/out.json")" 'j["clientContext"]' | base64 -d)
same_json "$CTX" "$got" || fail "AWS_LAMBDA_CLIENT_CONTEXT is $got, want $CTX"
[[ "$got" != *$'\n'* ]] || fail "AWS_LAMBDA_CLIENT_CONTEXT is not one line: $got"

log "an Event invocation's function gets no client context (Lambda passes it to synchronous calls only)"
r=$(sdk invoke ctx '{}' Event '' '' "$CTX_B64")
assert_eq 202 "$(json_get "$r" 'j["status"]')" "the Event invoke: $r"
rid=$(json_get "$r" 'j["requestId"]')
wait_for 30 test -e "$FN/ctx-$rid"
assert_eq unset "$(cat "$FN/ctx-$rid")" "AWS_LAMBDA_CLIENT_CONTEXT of an Event invocation"

log "bad client contexts: 400 InvalidRequestContentException, and the function does not run"
n_before=$(find "$FN" -name 'ctx-*' | wc -l)
bad_ctx() { # bad_ctx VALUE WHAT: the SDK and the CLI are refused with InvalidRequestContentException
    local r
    r=$(sdk invoke ctx '{}' '' '' '' "$1")
    assert_eq InvalidRequestContentException "$(json_get "$r" 'j["error"]')" "$2 (SDK): $r"
    assert_eq 400 "$(json_get "$r" 'j["status"]')" "$2 (SDK status): $r"
    if lam invoke --function-name ctx --payload '{}' --client-context "$1" "$WORK/bad.json" \
        > /dev/null 2> "$WORK/bad.err"; then
        fail "$2: the CLI's invoke succeeded"
    fi
    grep -q InvalidRequestContentException "$WORK/bad.err" || fail "$2 (CLI): $(cat "$WORK/bad.err")"
    LAST_MSG=$(json_get "$r" 'j["message"]')
}
bad_ctx 'not base64!' "not base64"
assert_eq "Client context must be a valid Base64-encoded JSON object." "$LAST_MSG" "the message"
bad_ctx "$(b64 '[1,2]')" "a JSON array"
bad_ctx "$(b64 '{"a":')" "not JSON"
big=$(python3 -c 'import base64, json; print(base64.b64encode(json.dumps({"pad": "x" * 2700}).encode()).decode())')
((${#big} > 3583)) || fail "the big client context is only ${#big} bytes"
bad_ctx "$big" "a client context over 3583 bytes"
[[ "$LAST_MSG" == *3583* ]] || fail "the message does not name the limit: $LAST_MSG"
assert_eq "$n_before" "$(find "$FN" -name 'ctx-*' | wc -l)" "invocations of ctx after refused requests"
fit=$(python3 -c 'import base64, json; print(base64.b64encode(json.dumps({"pad": "x" * 2670}).encode()).decode())')
((${#fit} <= 3583)) || fail "the fitting client context is ${#fit} bytes"
r=$(sdk invoke ctx '{}' '' '' '' "$fit")
assert_eq 200 "$(json_get "$r" 'j["status"]')" "a client context of ${#fit} bytes: $r"

stop_trigd
log "ok"
