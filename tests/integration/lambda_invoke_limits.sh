#!/usr/bin/env bash
# lambda_invoke_limits.sh — synchronous Invoke API calls at the edges, with Lambda's own clients (Debian's AWS
# CLI and @aws-sdk/client-lambda); every held invocation is a gate (an exec function that waits for a file).
#   concurrency: with max_concurrency 1 and one invocation held, a second RequestResponse is throttled at once,
#     as Lambda does: 429 TooManyRequestsException, Reason ReservedFunctionConcurrentInvocationLimitExceeded,
#     Retry-After (the SDK's retryAfterSeconds); Event invocations still queue; once released it works again.
#   drain: a RequestResponse in flight at SIGTERM gets the function's answer; a new one during the drain gets
#     503 ServiceException (which the CLI and SDKs retry); trigd waits for the held call and exits 0.
#   past shutdown_timeout_ms: the held caller gets 503 ServiceException in AWS's shape, not a dropped connection.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3 node
# shellcheck source-path=SCRIPTDIR source=lambda_lib.sh
. "$(dirname "$0")/lambda_lib.sh"

G="$WORK/gate"
mkdir -p "$G"
# gate.sh: notes its request id in $G/started-ID, waits for $G/release, answers {"released":ID}.
cat > "$G/gate.sh" << 'EOF'
#!/usr/bin/env bash
set -u
cat > /dev/null
touch "$G/started-$AWS_REQUEST_ID"
while [[ ! -e "$G/release" ]]; do sleep 0.05; done
printf '{"released":"%s"}' "$AWS_REQUEST_ID"
EOF
chmod +x "$G/gate.sh"

HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT"
# write_config SHUTDOWN_TIMEOUT_MS
write_config() {
    cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": $1,
  "functions": {
    "gate": { "type": "exec", "command": ["$G/gate.sh"], "max_concurrency": 1, "timeout_ms": 600000,
              "env": { "G": "$G" } }
  }
}
EOF
}

lam() { "$AWS" --endpoint-url "$URL" lambda "$@"; }
sdk() { node "$SDK_JS" "$URL" "$@"; }
n_started() { find "$G" -name 'started-*' | wc -l; }
started_at_least() { (($(n_started) >= $1)); }
# held_invoke OUT: aws lambda invoke gate in the background (its stdout in OUT.cli, payload in OUT); sets HELD.
held_invoke() {
    lam invoke --function-name gate --cli-binary-format raw-in-base64-out --payload '{}' "$1" \
        > "$1.cli" 2> "$1.err" &
    HELD=$!
    _track "$HELD"
}
# finished PID: has it exited? Its status in FINISHED_RC.
finished() {
    kill -0 "$1" 2> /dev/null && return 1
    FINISHED_RC=0
    wait "$1" || FINISHED_RC=$?
    _untrack "$1"
}
log_has() { grep -q -- "$1" "$TRIGD_LOG"; }

log "concurrency: a synchronous invoke beyond max_concurrency is throttled at once, in Lambda's shape"
write_config 60000
start_trigd "$WORK/trigd.json"
held_invoke "$WORK/held1.json"
wait_for 30 started_at_least 1
if lam invoke --function-name gate --payload '{}' "$WORK/t.json" > /dev/null 2> "$WORK/t.err"; then
    fail "the CLI's invoke beyond max_concurrency succeeded"
fi
grep -q 'TooManyRequestsException' "$WORK/t.err" || fail "the CLI did not report TooManyRequestsException: $(cat "$WORK/t.err")"
grep -q 'Rate Exceeded' "$WORK/t.err" || fail "the CLI did not print Lambda's message: $(cat "$WORK/t.err")"
r=$(sdk invoke gate '{}')
assert_eq TooManyRequestsException "$(json_get "$r" 'j["error"]')" "the SDK's exception: $r"
assert_eq 429 "$(json_get "$r" 'j["status"]')" "the SDK's status: $r"
assert_eq ReservedFunctionConcurrentInvocationLimitExceeded "$(json_get "$r" 'j["Reason"]')" "Reason: $r"
assert_eq 1 "$(json_get "$r" 'j["retryAfterSeconds"]')" "retryAfterSeconds (Retry-After): $r"
[[ -n "$(json_get "$r" 'j["requestId"]')" ]] || fail "no x-amzn-RequestId on the throttle: $r"
curl -sS -D "$WORK/h.txt" -o "$WORK/b.txt" --max-time 30 --data-binary '{}' \
    "$URL/2015-03-31/functions/gate/invocations" > /dev/null
grep -qi '^x-amzn-ErrorType: TooManyRequestsException' "$WORK/h.txt" || fail "no x-amzn-ErrorType: $(cat "$WORK/h.txt")"
grep -qi '^Retry-After: 1' "$WORK/h.txt" || fail "no Retry-After: $(cat "$WORK/h.txt")"
assert_eq ReservedFunctionConcurrentInvocationLimitExceeded "$(json_get "$(cat "$WORK/b.txt")" 'j["Reason"]')" \
    "the body's Reason"
# An Event invocation is queued, not throttled (Lambda queues async invokes and runs them when it can).
r=$(sdk invoke gate '{}' Event)
assert_eq 202 "$(json_get "$r" 'j["status"]')" "an Event invocation at max_concurrency: $r"
assert_eq 1 "$(n_started)" "invocations started while the gate holds the only slot"
touch "$G/release"
wait_for 60 finished "$HELD"
assert_eq 0 "$FINISHED_RC" "the held CLI invoke's exit status ($(cat "$WORK/held1.json.err"))"
grep -q '"released"' "$WORK/held1.json" || fail "the held invoke's payload: $(cat "$WORK/held1.json")"
wait_for 30 started_at_least 2 # the queued Event ran once the slot was free
r=$(sdk invoke gate '{}')
assert_eq 200 "$(json_get "$r" 'j["status"]')" "an invoke once the slot is free again: $r"
stop_trigd
rm -f "$G"/started-* "$G/release"

log "drain: the call in flight at SIGTERM gets its answer; new calls get 503 ServiceException"
start_trigd "$WORK/trigd.json"
held_invoke "$WORK/held2.json"
wait_for 30 started_at_least 1
rid=$(basename "$(find "$G" -name 'started-*')")
rid=${rid#started-}
kill -TERM "$TRIGD_PID"
wait_for 30 log_has 'and 1 direct invocation(s)'
if lam invoke --function-name gate --payload '{}' "$WORK/t.json" > /dev/null 2> "$WORK/t.err"; then
    fail "the CLI's invoke during the drain succeeded"
fi
grep -q 'ServiceException' "$WORK/t.err" || fail "the CLI did not report ServiceException: $(cat "$WORK/t.err")"
r=$(sdk invoke gate '{}')
assert_eq ServiceException "$(json_get "$r" 'j["error"]')" "the SDK's exception during the drain: $r"
assert_eq 503 "$(json_get "$r" 'j["status"]')" "the SDK's status during the drain: $r"
kill -0 "$TRIGD_PID" 2> /dev/null || fail "trigd exited with a synchronous invocation in flight"
kill -0 "$HELD" 2> /dev/null || fail "the held caller was answered before the function finished"
touch "$G/release"
wait_for 60 finished "$HELD"
assert_eq 0 "$FINISHED_RC" "the held CLI invoke's exit status ($(cat "$WORK/held2.json.err"))"
assert_eq "$rid" "$(json_get "$(cat "$WORK/held2.json")" 'j["released"]')" "the held caller's answer"
stop_trigd
rm -f "$G"/started-* "$G/release"

log "past shutdown_timeout_ms: the held caller gets 503 ServiceException, not a dropped connection"
write_config 200
start_trigd "$WORK/trigd.json"
sdk invoke gate '{}' > "$WORK/sdk-held.json" &
HELD=$!
_track "$HELD"
wait_for 30 started_at_least 1
stop_trigd # the gate is never released: shutdown_timeout_ms passes whatever the machine's speed
wait_for 60 finished "$HELD"
r=$(cat "$WORK/sdk-held.json")
assert_eq ServiceException "$(json_get "$r" 'j["error"]')" "the held SDK caller's exception: $r"
assert_eq 503 "$(json_get "$r" 'j["status"]')" "the held SDK caller's status: $r"
json_get "$r" 'j["message"]' | grep -q 'shutdown_timeout_ms' || fail "the message does not say why: $r"
[[ -n "$(json_get "$r" 'j["requestId"]')" ]] || fail "no x-amzn-RequestId: $r"
touch "$G/release"

log "ok"
