#!/usr/bin/env bash
# runtime_protocol.sh — trigd's Runtime API answers every status of the reference
# (shared/reference/lambda-runtime-api.md), checked by a test runtime (tests/runtimes/protocol) that
# records what it got: 400 InvalidRequestID for an unknown or wrong id, 403 InvalidStateTransition
# for a second next during an invoke, an init error after init and a second answer, 202 for an answer
# in any content type, 413 RequestEntityTooLarge one byte past 6291556 bytes (the invoke fails with
# Function.ResponseSizeTooLarge) and 202 at exactly the limit, the next headers, errors without a type
# header and with "trace" (Node's client) passed through verbatim, an invalid type header with a body
# that is not JSON wrapped as Runtime.Unknown, and the Extensions and Telemetry endpoints.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "proto": { "type": "runtime", "code_dir": "$RT/protocol", "timeout_ms": 60000, "max_concurrency": 1,
               "environment": { "PROTO_LOG": "$WORK/proto.log" } }
  },
  "sources": {}, "routes": {}
}
EOF
start_trigd "$WORK/trigd.json"

invoke() { # invoke BODY: the answer in $WORK/out, headers in $WORK/hdr
    curl -sS -D "$WORK/hdr" -o "$WORK/out" --max-time 60 -X POST \
        "$(trigd_url /2015-03-31/functions/proto/invocations)" --data-binary "$1"
}
out() { json_get "$(cat "$WORK/out")" "$1"; }
got() { sed -n "s/^$1 //p" "$WORK/proto.log" | head -n 1; }
_recorded() { grep -q "^$1 " "$WORK/proto.log" 2> /dev/null; }
# expect STEP VALUE: the runtime recorded VALUE for STEP (steps after an answer are recorded after
# the invoker has the answer: wait for them)
expect() {
    wait_for 20 _recorded "$1"
    assert_eq "$2" "$(got "$1")" "$1"
}

invoke '{"i":1}'
assert_eq answer=1 "$(cat "$WORK/out")" "the form-urlencoded answer, verbatim"
expect init_bogus_response 400
expect init_bogus_response_body '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
expect ext_register 200
expect ext_next 200
[[ "$(json_get "$(got ext_next_body)" 'j["eventType"]')" == SHUTDOWN ]] || fail "an extension's next is not SHUTDOWN"
expect telemetry 200
expect unknown_path 404
for h in Lambda-Runtime-Deadline-Ms Lambda-Runtime-Invoked-Function-Arn Lambda-Runtime-Trace-Id Content-Type; do
    expect "header_$h" present
done
expect second_next 403
assert_eq InvalidStateTransition "$(json_get "$(got second_next_body)" 'j["errorType"]')" "errorType of a second next"
expect late_init_error 403
expect wrong_id 400
expect wrong_id_body '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
expect response_form_urlencoded 202
expect response_body '{"status":"OK"}'
expect second_response 403
expect error_after_response 403

invoke '{"i":2}'
expect too_large 413
expect too_large_body '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}'
grep -qi '^X-Amz-Function-Error: Unhandled' "$WORK/hdr" || fail "a too large response is not a function error"
assert_eq Function.ResponseSizeTooLarge "$(out 'j["errorType"]')" "errorType of a too large response"

invoke '{"i":3}'
expect at_limit 202
assert_eq 6291556 "$(wc -c < "$WORK/out" | tr -d ' ')" "bytes of a response at the limit"

invoke '{"i":4}'
expect node_error 202
grep -qi '^X-Amz-Function-Error: Unhandled' "$WORK/hdr" || fail "Node's error is not a function error"
assert_eq Error "$(out 'j["errorType"]')" "errorType of Node's error"
assert_eq "node says no" "$(out 'j["errorMessage"]')" "errorMessage of Node's error"
assert_eq 2 "$(out 'len(j["trace"])')" "Node's trace, passed on"

invoke '{"i":5}'
expect plain_error 202
assert_eq Runtime.Unknown "$(out 'j["errorType"]')" "errorType with an invalid type header"
assert_eq "plain words" "$(out 'j["errorMessage"]')" "errorMessage of a body that is not JSON"

invoke '{"i":6}'
assert_eq true "$(out 'j["ok"]')" "a normal invoke after all that"
assert_eq 1 "$(metric 'trigd_function_cold_starts_total{function="proto"}')" "instances (one served everything)"

stop_trigd
log "ok"
