#!/usr/bin/env bash
# runtime_basic.sh — the "runtime" function type with a bash + curl custom runtime
# (tests/runtimes/echo): a cold invoke then a warm one served by the same process (Init Duration only
# on the first REPORT), START/END/REPORT and the runtime's own lines logged with the request id, the
# environment the runtime sees (Lambda's variables, `environment`, RLIMIT_DATA = memory_mb, none of
# trigd's own variables), a handler error through /error reaching the Invoke API answer and, through
# a webhook route, the DLQ record; usage in /metrics, `trigctl functions` and `trigctl usage`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

export TRIGD_TEST_SECRET="not-for-functions" # trigd's environment, not the function's
RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "echo": { "type": "runtime", "code_dir": "$RT/echo", "handler": "index.handler", "memory_mb": 256,
              "timeout_ms": 20000, "max_concurrency": 2, "environment": { "STAGE": "dev" } }
  },
  "sources": { "hook": { "type": "webhook", "path": "/hooks/fail" } },
  "routes": { "fail-route": { "source": "hook", "function": "echo", "max_retry_attempts": 0 } }
}
EOF
start_trigd "$WORK/trigd.json"
DLQ_DIR="$WORK/state/dlq"

invoke() { # invoke BODY: the Invoke API answer in $WORK/out, headers in $WORK/hdr
    curl -sS -D "$WORK/hdr" -o "$WORK/out" --max-time 30 -X POST \
        "$(trigd_url /2015-03-31/functions/echo/invocations)" --data-binary "$1"
}
out() { json_get "$(cat "$WORK/out")" "$1"; }
_log_has() { grep -qF -- "$1" "$TRIGD_LOG"; }

# --- cold, then warm in the same process -------------------------------------------------------
invoke '{"n":1}'
pid1=$(out 'j["pid"]')
assert_eq '{"n":1}' "$(out 'j["event"]')" "the event the runtime got"
invoke '{"n":2}'
assert_eq "$pid1" "$(out 'j["pid"]')" "the warm invoke's process"
assert_eq 2 "$(out 'j["n"]')" "invokes the warm process has served"
assert_eq 2 "$(grep -c 'REPORT RequestId: ' "$TRIGD_LOG")" "REPORT lines"
assert_eq 1 "$(grep 'REPORT RequestId: ' "$TRIGD_LOG" | grep -c 'Init Duration: ')" "REPORT lines with Init Duration"
grep 'REPORT RequestId: ' "$TRIGD_LOG" | head -n 1 | grep -q 'Init Duration: ' ||
    fail "the cold start's REPORT has no Init Duration"
grep -qP 'REPORT RequestId: [0-9a-f-]+\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\tMemory Size: 256 MB\tMax Memory Used: [1-9][0-9]* MB' \
    "$TRIGD_LOG" || fail "no well-formed REPORT line"
rid=$(grep -o 'START RequestId: [0-9a-f-]*' "$TRIGD_LOG" | tail -n 1 | cut -d' ' -f3)
_log_has "[runtime:echo] $rid got event" || fail "the runtime's stdout line is not logged with its request id"
_log_has "END RequestId: $rid" || fail "no END line"

# --- the environment ---------------------------------------------------------------------------
invoke '{"env":true}'
envf="$WORK/out"
for want in "AWS_LAMBDA_FUNCTION_NAME=echo" "AWS_LAMBDA_FUNCTION_VERSION=\$LATEST" \
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256" "_HANDLER=index.handler" "LAMBDA_TASK_ROOT=$RT/echo" \
    "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand" "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/echo" \
    "AWS_REGION=us-east-1" "TZ=:UTC" "STAGE=dev" "PWD=$RT/echo"; do
    grep -qxF -- "$want" "$envf" || fail "the runtime's environment lacks $want"
done
grep -qE '^AWS_LAMBDA_RUNTIME_API=127\.0\.0\.1:[0-9]+$' "$envf" || fail "no AWS_LAMBDA_RUNTIME_API"
# shellcheck disable=SC2016 # a literal $LATEST
grep -qE '^AWS_LAMBDA_LOG_STREAM_NAME=[0-9]{4}/[0-9]{2}/[0-9]{2}/\[\$LATEST\][0-9a-f]{32}$' "$envf" ||
    fail "no well-formed AWS_LAMBDA_LOG_STREAM_NAME"
if grep -q 'TRIGD_TEST_SECRET' "$envf"; then fail "trigd's own environment leaked into the runtime"; fi
# Exactly Lambda's variables and `environment` (plus what bash and env(1) add themselves: PWD, SHLVL, _).
extra=$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$envf" | grep -vxE 'AWS_LAMBDA_RUNTIME_API|_HANDLER|LAMBDA_TASK_ROOT|LAMBDA_RUNTIME_DIR|AWS_EXECUTION_ENV|AWS_LAMBDA_FUNCTION_(NAME|VERSION|MEMORY_SIZE)|AWS_LAMBDA_INITIALIZATION_TYPE|AWS_LAMBDA_LOG_(GROUP_NAME|STREAM_NAME|FORMAT|LEVEL)|AWS_REGION|AWS_DEFAULT_REGION|TZ|LANG|PATH|LD_LIBRARY_PATH|STAGE|PWD|SHLVL|_|ULIMIT_DATA_KB|ULIMIT_NOFILE' || true)
[[ -z "$extra" ]] || fail "the runtime's environment has variables beyond Lambda's: $extra"
if grep -q "RLIMIT_DATA" "$TRIGD_LOG"; then
    grep -qxF "ULIMIT_DATA_KB=$((256 * 1024))" "$envf" || fail "RLIMIT_DATA is not memory_mb: $(grep ULIMIT "$envf")"
else
    grep -q "cgroup v2 memory.max" "$TRIGD_LOG" || fail "the log does not say how memory_mb is enforced"
fi

# --- a handler error: the Invoke API answer and the DLQ record ----------------------------------
invoke '{"fail":"it broke"}'
grep -qi '^X-Amz-Function-Error: Unhandled' "$WORK/hdr" || fail "no X-Amz-Function-Error on a handler error"
assert_eq TestError "$(out 'j["errorType"]')" "errorType of a handler error"
assert_eq "it broke" "$(out 'j["errorMessage"]')" "errorMessage of a handler error"

assert_eq 202 "$(post_json "$(trigd_url /hooks/fail)" '{"fail":"from the route"}')" "POST to the hook"
_dlq_has() { [[ -s "$DLQ_DIR/fail-route.jsonl" ]]; }
wait_for 20 _dlq_has
rec=$(head -n 1 "$DLQ_DIR/fail-route.jsonl")
assert_eq Unhandled "$(json_get "$rec" 'j["record"]["responseContext"]["functionError"]')" "DLQ functionError"
assert_eq TestError "$(json_get "$rec" '(lambda p: p if isinstance(p, dict) else json.loads(p))(j["record"]["responsePayload"])["errorType"]')" \
    "errorType in the DLQ record"
assert_eq "from the route" "$(json_get "$rec" '(lambda p: p if isinstance(p, dict) else json.loads(p))(j["record"]["responsePayload"])["errorMessage"]')" \
    "errorMessage in the DLQ record"

# --- usage: /metrics, trigctl ----------------------------------------------------------------------
assert_eq 1 "$(metric 'trigd_function_cold_starts_total{function="echo"}')" "cold starts"
[[ "$(metric 'trigd_function_billed_ms_total{function="echo"}')" != 0 ]] || fail "no billed milliseconds"
[[ "$(metric 'trigd_function_gb_seconds_total{function="echo"}')" != 0 ]] || fail "no GB-seconds"
assert_eq 1 "$(metric 'trigd_function_instances{function="echo",state="idle"}')" "idle instances"
assert_eq 1 "$(metric 'trigd_function_init_duration_seconds_count{function="echo"}')" "init durations observed"
"$TRIGCTL" --url "$(trigd_url '')" functions > "$WORK/functions.txt"
grep -qE '^echo +runtime ' "$WORK/functions.txt" || fail "trigctl functions has no echo line: $(cat "$WORK/functions.txt")"
"$TRIGCTL" --url "$(trigd_url '')" usage > "$WORK/usage.txt"
grep -qE '^echo +5 +[0-9]+ ' "$WORK/usage.txt" || fail "trigctl usage does not count 5 invocations: $(cat "$WORK/usage.txt")"
grep -q 'estimated total: ' "$WORK/usage.txt" || fail "trigctl usage has no estimated total"

stop_trigd
if kill -0 "$pid1" 2> /dev/null; then fail "the instance (pid $pid1) outlived trigd"; fi
log "ok"
