#!/usr/bin/env bash
# lambda_clients.sh — Lambda's own clients against trigd: Debian's AWS CLI (/usr/bin/aws) and the JavaScript
# SDK v3 (@aws-sdk/client-lambda, installed by ./dev under ${XDG_CACHE_HOME:-~/.cache}/trigd/awssdk).
#   unsigned: every answer's x-amzn-RequestId is the id the function saw (AWS_REQUEST_ID, the REPORT line);
#     LogType Tail; Runtime.ExitError, Sandbox.Timedout, Function.ResponseSizeTooLarge; 413
#     RequestEntityTooLargeException; 404 "Function not found: arn:..." for unknown functions and qualifiers;
#     names, partial and full ARNs; read-only function and event source mapping APIs (environment names,
#     never values); UpdateEventSourceMapping Enabled pauses and resumes the route; other writes refused;
#     Event invocations: fails twice then succeeds = 3 runs; always fails = Lambda's record in the on_failure
#     function, or in the DLQ async.NAME; 1 MB limit; InvokeAsync; /metrics.
#   signed (http.invoke_credentials): the right key works through `aws configure` profiles and the SDK; a
#     wrong secret, an unknown key, a clock 10 minutes off and an unsigned request are refused with 403 in
#     AWS's shape; the admin bearer token still guards /admin/.
# Redis: an Event invocation is in Redis before its 202 and runs again after a kill -9 of trigd; each retry
#   is a new entry recording the invocations so far, so a crash does not start the retries again.
# shellcheck disable=SC2016 # $LATEST is Lambda's qualifier, literal on purpose
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3 node base64 redis-server redis-cli
# shellcheck source-path=SCRIPTDIR source=lambda_lib.sh
. "$(dirname "$0")/lambda_lib.sh"

FN="$WORK/fn"
mkdir -p "$FN"
cat > "$FN/fn.sh" << 'EOF'
#!/usr/bin/env bash
# $1: echo | fail | sleep | big | flaky | doomed | catch. Appends its request id to $FN/calls-$1.
set -u
mode=$1
echo "${AWS_REQUEST_ID:-none}" >> "$FN/calls-$mode"
echo "hello from $mode (${AWS_REQUEST_ID:-none})" >&2
case $mode in
echo) cat ;;
fail) cat > /dev/null; exit 1 ;;
sleep) cat > /dev/null; exec sleep 30 ;;
big) cat > /dev/null; head -c 6291557 /dev/zero | tr '\0' 'a' ;;
flaky) cat > /dev/null; (($(wc -l < "$FN/calls-flaky") >= 3)) && echo '{"ok":true}' || exit 2 ;;
doomed) cat > /dev/null; exit 3 ;;
catch) cat > "$FN/caught-${AWS_REQUEST_ID:-none}.json"; echo '{}' ;;
once) cat > /dev/null; (($(wc -l < "$FN/calls-once") >= 2)) && echo '{"ok":true}' || exit 4 ;;
crashy) cat > /dev/null; exit 5 ;;
esac
EOF
chmod +x "$FN/fn.sh"

HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT"
# write_config EXTRA_HTTP [EXTRA_TOP]: the config, with EXTRA_HTTP added to "http" (credentials, admin token)
# and EXTRA_TOP to the top level (redis).
write_config() {
    cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" $1 }, ${2:-}
  "state_dir": "$WORK/state",
  "functions": {
    "echo": { "type": "exec", "command": ["$FN/fn.sh", "echo"], "max_concurrency": 3,
              "env": { "FN": "$FN", "API_SECRET": "value-never-shown" } },
    "fail": { "type": "exec", "command": ["$FN/fn.sh", "fail"], "env": { "FN": "$FN" } },
    "sleep": { "type": "exec", "command": ["$FN/fn.sh", "sleep"], "timeout_ms": 1000, "kill_grace_ms": 100,
               "env": { "FN": "$FN" } },
    "big": { "type": "exec", "command": ["$FN/fn.sh", "big"], "env": { "FN": "$FN" } },
    "flaky": { "type": "exec", "command": ["$FN/fn.sh", "flaky"], "env": { "FN": "$FN" },
               "async": { "retry_delay_ms": 50 } },
    "doomed": { "type": "exec", "command": ["$FN/fn.sh", "doomed"], "env": { "FN": "$FN" },
                "async": { "retry_delay_ms": 50, "on_failure": "catcher" } },
    "doomed_dlq": { "type": "exec", "command": ["$FN/fn.sh", "doomed"], "env": { "FN": "$FN" },
                    "async": { "max_retry_attempts": 0, "on_failure": "dlq" } },
    "catcher": { "type": "exec", "command": ["$FN/fn.sh", "catch"], "env": { "FN": "$FN" } },
    "once": { "type": "exec", "command": ["$FN/fn.sh", "once"], "env": { "FN": "$FN" },
              "async": { "retry_delay_ms": 3600000 } },
    "crashy": { "type": "exec", "command": ["$FN/fn.sh", "crashy"], "env": { "FN": "$FN" },
                "async": { "retry_delay_ms": 3600000, "on_failure": "dlq" } },
    "rt": { "type": "runtime", "code_dir": "$TOP_SRCDIR/tests/runtimes/echo", "handler": "index.handler",
            "memory_mb": 256, "environment": { "RT_TOKEN": "value-never-shown" } }
  },
  "sources": { "hook": { "type": "webhook", "path": "/hook" } },
  "routes": { "hooked": { "source": "hook", "function": "echo", "batch_size": 1,
                          "filters": [ { "body": { "kind": ["order"] } } ] } }
}
EOF
}

lam() { "$AWS" --endpoint-url "$URL" lambda "$@"; }
sdk() { node "$SDK_JS" "$URL" "$@"; }
# cli_invoke NAME ARGS...: aws lambda invoke into $WORK/out.json; the CLI's JSON in $WORK/cli.json, its debug
# log (with the request id it read) in $WORK/cli.log; returns the CLI's status.
cli_invoke() {
    local name=$1
    shift
    lam invoke --function-name "$name" --cli-binary-format raw-in-base64-out "$@" --debug "$WORK/out.json" \
        > "$WORK/cli.json" 2> "$WORK/cli.log"
}
cli_rid() { sed -n 's/.*awscli.formatter - DEBUG - RequestId: \([0-9a-f-]*\).*/\1/p' "$WORK/cli.log" | tail -n 1; }
cli() { json_get "$(cat "$WORK/cli.json")" "$1"; }
out() { json_get "$(cat "$WORK/out.json")" "$1"; }
last_call() { tail -n 1 "$FN/calls-$1"; }
# cli_error ARGS...: run aws lambda ARGS, expect failure; prints its stderr.
cli_error() {
    if lam "$@" > "$WORK/err.out" 2> "$WORK/err.txt"; then fail "aws lambda $* succeeded: $(cat "$WORK/err.out")"; fi
    cat "$WORK/err.txt"
}

log "config: async and invoke_credentials are validated (exit 2, one line per error)"
cat > "$WORK/bad.json" << 'EOF'
{ "http": { "invoke_credentials": { "AK ID": { "secret_key": "inline" }, "AK2": 5 } },
  "functions": { "f": { "type": "exec", "command": ["/bin/cat"],
                        "async": { "max_retry_attempts": 3, "max_event_age_s": 59, "on_failure": "nope" } },
                 "g": { "type": "exec", "command": ["/bin/cat"], "async": 7 } } }
EOF
rc=0
"$TRIGD" --check-config -c "$WORK/bad.json" 2> "$WORK/bad.err" || rc=$?
assert_eq 2 "$rc" "exit status of a bad config"
for re in 'async.max_retry_attempts: 3 is out of range' 'async.max_event_age_s: 59 is out of range' \
    'async.on_failure: must be "dlq" or the name of another function' '\$.functions.g.async: must be an object' \
    'invoke_credentials.AK ID.secret_key: secrets are never written inline' \
    'invoke_credentials.AK2: must be an object'; do
    grep -Eq -- "$re" "$WORK/bad.err" || fail "no error line matches /$re/: $(cat "$WORK/bad.err")"
done

write_config ""
start_trigd "$WORK/trigd.json"

log "CLI: RequestResponse with LogType Tail; the request id is the function's"
cli_invoke echo --payload '{"kind":"hello"}' --log-type Tail || fail "invoke echo: $(tail -n 3 "$WORK/cli.log")"
rid=$(last_call echo)
assert_eq '{"kind":"hello"}' "$(cat "$WORK/out.json")" "echo's answer"
assert_eq "$rid" "$(cli_rid)" "x-amzn-RequestId as the CLI read it"
assert_eq 200 "$(cli 'j["StatusCode"]')" "StatusCode"
assert_eq '$LATEST' "$(cli 'j["ExecutedVersion"]')" "ExecutedVersion"
tail_log=$(cli 'j["LogResult"]' | base64 -d)
grep -q "hello from echo ($rid)" <<< "$tail_log" || fail "the log tail lacks the function's line: $tail_log"
grep -q "REPORT RequestId: $rid " <<< "$tail_log" || fail "the log tail lacks the REPORT line: $tail_log"

log "CLI: a runtime function's log tail and request id"
cli_invoke rt --payload '{"from":"cli"}' --log-type Tail || fail "invoke rt: $(tail -n 3 "$WORK/cli.log")"
rid=$(cli_rid)
[[ -n "$rid" ]] || fail "no request id from the runtime function's invoke"
assert_eq '{"from":"cli"}' "$(out 'json.dumps(j["event"], separators=(",", ":"))')" "the runtime's answer"
tail_log=$(cli 'j["LogResult"]' | base64 -d)
grep -q 'got event {"from":"cli"}' <<< "$tail_log" || fail "the runtime's log tail lacks its line: $tail_log"
grep -q "REPORT RequestId: $rid" <<< "$tail_log" || fail "the runtime's REPORT is not for $rid: $tail_log"

log "CLI: function errors as Lambda types them"
cli_invoke fail --payload '{}'
assert_eq Unhandled "$(cli 'j["FunctionError"]')" "FunctionError of an exit 1"
assert_eq Runtime.ExitError "$(out 'j["errorType"]')" "errorType of an exit 1"
assert_eq "RequestId: $(last_call fail) Error: Runtime exited with error: exit status 1" "$(out 'j["errorMessage"]')" \
    "errorMessage of an exit 1"
assert_eq "$(last_call fail)" "$(cli_rid)" "request id of a failed invoke"
cli_invoke sleep --payload '{}'
assert_eq Sandbox.Timedout "$(out 'j["errorType"]')" "errorType of a timeout"
assert_eq "RequestId: $(last_call sleep) Error: Task timed out after 1.00 seconds" "$(out 'j["errorMessage"]')" \
    "errorMessage of a timeout"
cli_invoke big --payload '{}'
assert_eq Function.ResponseSizeTooLarge "$(out 'j["errorType"]')" "errorType of a 6 MB + 101 bytes answer"

log "CLI: request errors in AWS's shape"
head -c 6291457 /dev/zero | tr '\0' ' ' > "$WORK/big.json"
err=$(cli_error invoke --function-name echo --payload "fileb://$WORK/big.json" "$WORK/o")
grep -q '(RequestEntityTooLargeException).*Request must be smaller than 6291456 bytes' <<< "$err" ||
    fail "a 6 MB + 1 request: $err"
err=$(cli_error invoke --function-name nope --payload '{}' "$WORK/o")
grep -q '(ResourceNotFoundException).*Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope$' \
    <<< "$err" || fail "unknown function: $err"
err=$(cli_error invoke --function-name echo --qualifier 7 --payload '{}' "$WORK/o")
grep -q '(ResourceNotFoundException).*function:echo:7$' <<< "$err" || fail "qualifier 7: $err"
err=$(cli_error invoke --function-name echo:prod --payload '{}' "$WORK/o")
grep -q '(ResourceNotFoundException).*function:echo:prod$' <<< "$err" || fail "echo:prod: $err"
err=$(cli_error invoke --function-name echo --cli-binary-format raw-in-base64-out --payload '{not json' "$WORK/o")
grep -q '(InvalidRequestContentException)' <<< "$err" || fail "bad JSON: $err"
for name in 'echo:$LATEST' '000000000000:function:echo' 'arn:aws:lambda:eu-west-1:123456789012:function:echo' \
    'arn:aws:lambda:eu-west-1:123456789012:function:echo:$LATEST'; do
    cli_invoke "$name" --payload '{"n":1}' || fail "invoke $name: $(tail -n 3 "$WORK/cli.log")"
    assert_eq '{"n":1}' "$(cat "$WORK/out.json")" "answer of $name"
done
cli_invoke echo --qualifier '$LATEST' --payload '{"n":2}' || fail "invoke --qualifier \$LATEST"

log "CLI: read-only management APIs"
assert_eq '["big","catcher","crashy","doomed","doomed_dlq","echo","fail","flaky","once","rt","sleep"]' \
    "$(lam list-functions --query 'sort(Functions[].FunctionName)' --output json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")))')" \
    "list-functions"
conf=$(lam get-function-configuration --function-name echo)
assert_eq arn:aws:lambda:us-east-1:000000000000:function:echo "$(json_get "$conf" 'j["FunctionArn"]')" "FunctionArn"
assert_eq Active "$(json_get "$conf" 'j["State"]')" "State"
assert_eq 30 "$(json_get "$conf" 'j["Timeout"]')" "Timeout"
assert_eq '["API_SECRET","FN"]' "$(json_get "$conf" 'sorted(j["Environment"]["Variables"])')" "environment names"
grep -q value-never-shown <<< "$conf" && fail "get-function-configuration shows an environment value"
assert_eq echo "$(lam get-function --function-name echo --query Configuration.FunctionName --output text)" "get-function"
assert_eq 3 "$(lam get-function-concurrency --function-name echo --query ReservedConcurrentExecutions --output text)" \
    "get-function-concurrency"
eic=$(lam get-function-event-invoke-config --function-name doomed)
assert_eq 2 "$(json_get "$eic" 'j["MaximumRetryAttempts"]')" "event invoke config MaximumRetryAttempts"
assert_eq 21600 "$(json_get "$eic" 'j["MaximumEventAgeInSeconds"]')" "event invoke config MaximumEventAgeInSeconds"
assert_eq arn:aws:lambda:us-east-1:000000000000:function:catcher \
    "$(json_get "$eic" 'j["DestinationConfig"]["OnFailure"]["Destination"]')" "event invoke config on_failure"
err=$(cli_error list-tags --resource arn:aws:lambda:us-east-1:000000000000:function:echo)
grep -q '(InvalidParameterValueException).*not supported by trigd' <<< "$err" || fail "list-tags: $err"
err=$(cli_error get-function --function-name nope)
grep -q '(ResourceNotFoundException)' <<< "$err" || fail "get-function nope: $err"
esm=$(lam list-event-source-mappings --function-name echo)
assert_eq 1 "$(json_get "$esm" 'len(j["EventSourceMappings"])')" "mappings of echo"
uuid=$(json_get "$esm" 'j["EventSourceMappings"][0]["UUID"]')
assert_eq 1 "$(json_get "$esm" 'j["EventSourceMappings"][0]["BatchSize"]')" "BatchSize"
assert_eq '{"body":{"kind":["order"]}}' "$(json_get "$esm" 'j["EventSourceMappings"][0]["FilterCriteria"]["Filters"][0]["Pattern"]')" \
    "FilterCriteria"
assert_eq trigd:dlq:hooked "$(json_get "$esm" 'j["EventSourceMappings"][0]["DestinationConfig"]["OnFailure"]["Destination"]')" \
    "DestinationConfig"
assert_eq Enabled "$(lam get-event-source-mapping --uuid "$uuid" --query State --output text)" "State"
assert_eq 0 "$(json_get "$(lam list-event-source-mappings --function-name fail)" 'len(j["EventSourceMappings"])')" \
    "mappings of fail"

log "CLI: UpdateEventSourceMapping Enabled pauses and resumes the route"
assert_eq Disabled "$(lam update-event-source-mapping --uuid "$uuid" --no-enabled --query State --output text)" "paused"
assert_eq Disabled "$(lam get-event-source-mapping --uuid "$uuid" --query State --output text)" "State after pause"
code=$(post_json "$URL/hook" '{"kind":"order"}')
[[ "$code" != 2* ]] || fail "a paused route's source accepted an event (HTTP $code)"
assert_eq Enabled "$(lam update-event-source-mapping --uuid "$uuid" --enabled --query State --output text)" "resumed"
calls_before=$(wc -l < "$FN/calls-echo")
[[ "$(post_json "$URL/hook" '{"kind":"order"}')" == 2* ]] || fail "webhook after resume: $(cat "$WORK/last_response")"
_echo_called() { (($(wc -l < "$FN/calls-echo") > calls_before)); }
wait_for 20 _echo_called
"$TRIGCTL" --url "$URL" pause hooked > "$WORK/ctl.out" || fail "trigctl pause: $(cat "$WORK/ctl.out")"
assert_eq Disabled "$(lam get-event-source-mapping --uuid "$uuid" --query State --output text)" "State after trigctl pause"
"$TRIGCTL" --url "$URL" resume hooked > "$WORK/ctl.out" || fail "trigctl resume: $(cat "$WORK/ctl.out")"
assert_eq Enabled "$(lam get-event-source-mapping --uuid "$uuid" --query State --output text)" "State after trigctl resume"
err=$(cli_error update-event-source-mapping --uuid "$uuid" --batch-size 5)
grep -q '(InvalidParameterValueException).*only Enabled' <<< "$err" || fail "update batch size: $err"
err=$(cli_error delete-function --function-name echo)
grep -q '(InvalidParameterValueException).*not supported by trigd' <<< "$err" || fail "delete-function: $err"

log "CLI: Event invocations follow Lambda's asynchronous model"
cli_invoke flaky --invocation-type Event --payload '{"try":"again"}' || fail "Event flaky"
assert_eq 202 "$(cli 'j["StatusCode"]')" "Event StatusCode"
flaky_rid=$(cli_rid)
_flaky_ok() { [[ "$(metric 'trigd_async_events_total{function="flaky",event="succeeded"}')" == 1 ]]; }
wait_for 30 _flaky_ok
assert_eq 3 "$(wc -l < "$FN/calls-flaky")" "runs of a function that fails twice then succeeds"
assert_eq 1 "$(sort -u "$FN/calls-flaky" | wc -l)" "request ids of the three runs (one event)"
assert_eq "$flaky_rid" "$(sort -u "$FN/calls-flaky")" "the runs' request id is the 202's"
assert_eq 2 "$(metric 'trigd_async_events_total{function="flaky",event="retried"}')" "retries counted"

cli_invoke doomed --invocation-type Event --payload '{"order":7}' || fail "Event doomed"
doomed_rid=$(cli_rid)
# catch logs its call before it writes the record: wait for the record to be whole (one JSON object)
_caught() {
    [[ -s "$FN/calls-catch" ]] || return 1
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$FN/caught-$(last_call catch).json" 2> /dev/null
}
wait_for 30 _caught
assert_eq 3 "$(wc -l < "$FN/calls-doomed")" "runs of an always-failing function (1 + 2 retries)"
rec=$(cat "$FN/caught-$(last_call catch).json")
assert_eq 1.0 "$(json_get "$rec" 'j["version"]')" "record version"
assert_eq "$doomed_rid" "$(json_get "$rec" 'j["requestContext"]["requestId"]')" "record requestId"
assert_eq RetriesExhausted "$(json_get "$rec" 'j["requestContext"]["condition"]')" "record condition"
assert_eq 3 "$(json_get "$rec" 'j["requestContext"]["approximateInvokeCount"]')" "record approximateInvokeCount"
assert_eq 'arn:aws:lambda:us-east-1:000000000000:function:doomed:$LATEST' \
    "$(json_get "$rec" 'j["requestContext"]["functionArn"]')" "record functionArn"
assert_eq '{"order":7}' "$(json_get "$rec" 'j["requestPayload"]')" "record requestPayload"
assert_eq Unhandled "$(json_get "$rec" 'j["responseContext"]["functionError"]')" "record functionError"
assert_eq Runtime.ExitError "$(json_get "$rec" 'j["responsePayload"]["errorType"]')" "record responsePayload"

cli_invoke doomed_dlq --invocation-type Event --payload '{"to":"dlq"}' || fail "Event doomed_dlq"
_in_dlq() { curl -fsS "$URL/admin/dlq/async.doomed_dlq" 2> /dev/null | grep -q RetriesExhausted; }
wait_for 30 _in_dlq
dlq=$(curl -fsS "$URL/admin/dlq/async.doomed_dlq")
assert_eq 1 "$(json_get "$dlq" 'j["entries"][0]["record"]["requestContext"]["approximateInvokeCount"]')" \
    "max_retry_attempts 0: one run"
assert_eq '{"to":"dlq"}' "$(json_get "$dlq" 'j["entries"][0]["record"]["requestPayload"]')" "DLQ requestPayload"

head -c 1048577 /dev/zero | tr '\0' ' ' > "$WORK/mb.json"
err=$(cli_error invoke --function-name echo --invocation-type Event --payload "fileb://$WORK/mb.json" "$WORK/o")
grep -q '(RequestEntityTooLargeException).*1048576' <<< "$err" || fail "a 1 MB + 1 Event: $err"
cli_invoke echo --invocation-type DryRun --payload '{}' || fail "DryRun"
assert_eq 204 "$(cli 'j["StatusCode"]')" "DryRun StatusCode"
calls_before=$(wc -l < "$FN/calls-echo")
echo '{"legacy":1}' > "$WORK/legacy.json"
lam invoke-async --function-name echo --invoke-args "$WORK/legacy.json" > "$WORK/legacy.out" 2>&1 ||
    fail "invoke-async: $(cat "$WORK/legacy.out")"
assert_eq 202 "$(json_get "$(cat "$WORK/legacy.out")" 'j["Status"]')" "InvokeAsync Status"
wait_for 20 _echo_called
(($(metric 'trigd_async_events_total{function="echo",event="queued"}') >= 1)) || fail "Event path not in /metrics"

log "SDK v3: the same answers through @aws-sdk/client-lambda"
r=$(sdk invoke echo '{"sdk":1}' "" Tail)
assert_eq '{"sdk":1}' "$(json_get "$r" 'j["Payload"]')" "SDK payload"
assert_eq "$(last_call echo)" "$(json_get "$r" 'j["requestId"]')" "SDK \$metadata.requestId"
grep -q "REPORT RequestId: $(last_call echo) " <<< "$(json_get "$r" 'j["Log"]')" || fail "SDK log tail: $r"
r=$(sdk invoke fail '{}')
assert_eq Unhandled "$(json_get "$r" 'j["FunctionError"]')" "SDK FunctionError"
assert_eq "$(last_call fail)" "$(json_get "$r" 'j["requestId"]')" "SDK request id of a failure"
r=$(sdk invoke nope '{}')
assert_eq ResourceNotFoundException "$(json_get "$r" 'j["error"]')" "SDK error name"
assert_eq "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" "$(json_get "$r" 'j["message"]')" \
    "SDK error message"
[[ -n "$(json_get "$r" 'j["requestId"] or ""')" ]] || fail "SDK: no request id on an error"
r=$(sdk invoke echo '{}' "" "" 7)
assert_eq ResourceNotFoundException "$(json_get "$r" 'j["error"]')" "SDK qualifier 7"
r=$(sdk invoke flaky '{}' Event)
assert_eq 202 "$(json_get "$r" 'j["StatusCode"]')" "SDK Event"
assert_eq 11 "$(json_get "$(sdk list-functions)" 'len(j["Functions"])')" "SDK ListFunctions"
rt=$(sdk get-function-configuration rt)
assert_eq '{"Variables":{"RT_TOKEN":"*****"}}' "$(json_get "$rt" 'j["Environment"]')" "a runtime function's environment"
assert_eq index.handler "$(json_get "$rt" 'j["Handler"]')" "a runtime function's Handler"
assert_eq 256 "$(json_get "$rt" 'j["MemorySize"]')" "a runtime function's MemorySize"
assert_eq echo "$(json_get "$(sdk get-function-configuration echo)" 'j["FunctionName"]')" "SDK GetFunctionConfiguration"
assert_eq 3 "$(json_get "$(sdk get-function-concurrency echo)" 'j["ReservedConcurrentExecutions"]')" "SDK concurrency"
assert_eq "$uuid" "$(json_get "$(sdk list-event-source-mappings echo)" 'j["EventSourceMappings"][0]["UUID"]')" \
    "SDK ListEventSourceMappings"
assert_eq Enabled "$(json_get "$(sdk get-event-source-mapping "$uuid")" 'j["State"]')" "SDK GetEventSourceMapping"
assert_eq InvalidParameterValueException "$(json_get "$(sdk create-function zz)" 'j["error"]')" "SDK CreateFunction"
stop_trigd

log "signed: http.invoke_credentials with aws configure profiles"
printf 's3cret-from-a-file\n' > "$WORK/secret"
export TRIGD_TEST_SECRET=s3cret-from-env TRIGD_TEST_ADMIN=admin-token
write_config ', "admin_token_env": "TRIGD_TEST_ADMIN", "invoke_credentials": {
    "AKIDTRIGDENV": { "secret_key_env": "TRIGD_TEST_SECRET" }, "AKIDTRIGDFILE": { "secret_key_file": "'"$WORK/secret"'" } }'
start_trigd "$WORK/trigd.json"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
"$AWS" configure set aws_access_key_id AKIDTRIGDENV --profile trigd
"$AWS" configure set aws_secret_access_key s3cret-from-env --profile trigd
"$AWS" configure set region eu-central-1 --profile trigd
"$AWS" configure set aws_access_key_id AKIDTRIGDFILE --profile trigd-file
"$AWS" configure set aws_secret_access_key s3cret-from-a-file --profile trigd-file
"$AWS" configure set region ap-south-1 --profile trigd-file
"$AWS" configure set aws_access_key_id AKIDTRIGDENV --profile wrong
"$AWS" configure set aws_secret_access_key not-the-secret --profile wrong
"$AWS" configure set aws_access_key_id AKIDUNKNOWN --profile unknown
"$AWS" configure set aws_secret_access_key s3cret-from-env --profile unknown
export AWS_PROFILE=trigd
cli_invoke 'echo:$LATEST' --payload '{"signed":true}' || fail "signed invoke: $(tail -n 3 "$WORK/cli.log")"
assert_eq '{"signed":true}' "$(cat "$WORK/out.json")" "signed invoke"
assert_eq "$(last_call echo)" "$(cli_rid)" "signed invoke's request id"
assert_eq echo "$(lam get-function --function-name echo --query Configuration.FunctionName --output text)" \
    "signed get-function"
AWS_PROFILE=trigd-file cli_invoke echo --payload '{"file":true}' || fail "signed with the *_file secret"
err=$(cli_error invoke --function-name echo --payload "fileb://$WORK/big.json" "$WORK/o")
grep -q '(RequestEntityTooLargeException)' <<< "$err" || fail "a signed 6 MB + 1 request: $err"
err=$(AWS_PROFILE=wrong cli_error invoke --function-name echo --payload '{}' "$WORK/o")
grep -q '(InvalidSignatureException)' <<< "$err" || fail "a wrong secret: $err"
err=$(AWS_PROFILE=unknown cli_error list-functions)
grep -q '(UnrecognizedClientException).*The security token included in the request is invalid' <<< "$err" ||
    fail "an unknown key: $err"
code=$(curl -s -o "$WORK/unsigned" -D "$WORK/unsigned.hdr" -w '%{http_code}' -d '{}' "$URL/2015-03-31/functions/echo/invocations")
assert_eq 403 "$code" "an unsigned invoke"
grep -qi '^x-amzn-ErrorType:' "$WORK/unsigned.hdr" || fail "no x-amzn-ErrorType on a 403"
grep -qi '^x-amzn-RequestId:' "$WORK/unsigned.hdr" || fail "no x-amzn-RequestId on a 403"
r=$(AWS_ACCESS_KEY_ID=AKIDTRIGDENV AWS_SECRET_ACCESS_KEY=s3cret-from-env sdk invoke echo '{"sdk":"signed"}')
assert_eq '{"sdk":"signed"}' "$(json_get "$r" 'j["Payload"]')" "SDK signed invoke"
r=$(AWS_ACCESS_KEY_ID=AKIDTRIGDENV AWS_SECRET_ACCESS_KEY=s3cret-from-env SKEW_MS=600000 sdk invoke echo '{}')
assert_eq InvalidSignatureException "$(json_get "$r" 'j["error"]')" "SDK with a clock 10 minutes ahead"
grep -q 'Signature expired' <<< "$(json_get "$r" 'j["message"]')" || fail "skewed clock: $r"
r=$(AWS_ACCESS_KEY_ID=AKIDTRIGDENV AWS_SECRET_ACCESS_KEY=wrong sdk invoke echo '{}')
assert_eq InvalidSignatureException "$(json_get "$r" 'j["error"]')" "SDK with a wrong secret"
assert_eq 403 "$(json_get "$r" 'j["status"]')" "SDK status of a wrong secret"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/admin/status")" "/admin/ without the token"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer admin-token' "$URL/admin/status")" \
    "/admin/ with the token"
stop_trigd

log "Redis: an Event invocation is durable before its 202 and survives kill -9"
start_redis
unset AWS_PROFILE
export AWS_ACCESS_KEY_ID=AKIDANY AWS_SECRET_ACCESS_KEY=anything
write_config "" '"redis": { "url": "'"$REDIS_URL"'", "intake_visibility_timeout_ms": 1000 },'
start_trigd "$WORK/trigd.json"
cli_invoke once --invocation-type Event --payload '{"durable":true}' || fail "Event once: $(tail -n 3 "$WORK/cli.log")"
once_rid=$(cli_rid)
# The first run fails and the retry waits an hour: the entry must be in Redis now, as the 202 promised.
(($(rcli XLEN trigd:async) >= 1)) || fail "trigd:async is empty after the 202"
cli_invoke crashy --invocation-type Event --payload '{"crash":1}' || fail "Event crashy: $(tail -n 3 "$WORK/cli.log")"
crashy_rid=$(cli_rid)
# _retry_recorded RID: the stream holds one entry for RID, the retry's, recording 1 invocation.
_retry_recorded() {
    rcli XRANGE trigd:async - + | python3 -c '
import re, sys
entries, cur = [], None
for line in sys.stdin.read().split("\n"):
    if re.fullmatch(r"\d+-\d+", line):
        cur = []
        entries.append(cur)
    elif cur is not None:
        cur.append(line)
mine = [dict(zip(e[0::2], e[1::2])) for e in entries if sys.argv[1] in e]
sys.exit(0 if len(mine) == 1 and mine[0].get("attempts") == "1" and "retry_at_ms" in mine[0] else 1)' "$1"
}
wait_for 20 _retry_recorded "$once_rid"
wait_for 20 _retry_recorded "$crashy_rid"
kill9_trigd
assert_eq 2 "$(rcli XLEN trigd:async)" "entries in trigd:async after kill -9 (one per event)"
# The retries waited an hour: a config with short ones takes over after the restart (the recorded wait is
# capped by the config's), and the attempts recorded before the crash still count.
sed -i 's/"retry_delay_ms": 3600000/"retry_delay_ms": 50/g' "$WORK/trigd.json"
start_trigd "$WORK/trigd.json"
_once_ok() { [[ "$(metric 'trigd_async_events_total{function="once",event="succeeded"}')" == 1 ]]; }
wait_for 30 _once_ok
assert_eq 2 "$(wc -l < "$FN/calls-once")" "runs of the reclaimed event (one before the crash, one after)"
assert_eq "$once_rid" "$(sort -u "$FN/calls-once")" "the reclaimed event kept its request id"
_crashy_in_dlq() { curl -fsS "$URL/admin/dlq/async.crashy" 2> /dev/null | grep -q RetriesExhausted; }
wait_for 30 _crashy_in_dlq
assert_eq 3 "$(wc -l < "$FN/calls-crashy")" \
    "runs of an always failing event across kill -9 (1 + max_retry_attempts 2, not restarted by the crash)"
dlq=$(curl -fsS "$URL/admin/dlq/async.crashy")
assert_eq 3 "$(json_get "$dlq" 'j["entries"][0]["record"]["requestContext"]["approximateInvokeCount"]')" \
    "approximateInvokeCount of the record after kill -9"
assert_eq Runtime.ExitError "$(json_get "$dlq" 'j["entries"][0]["record"]["responsePayload"]["errorType"]')" \
    "the record's responsePayload"
_stream_empty() { [[ "$(rcli XLEN trigd:async)" == 0 ]]; }
wait_for 10 _stream_empty
stop_trigd
log "ok"
