#!/usr/bin/env bash
# exec_function.sh — webhook -> exec function, with a script written here: the event arrives on stdin,
# the "env" option's variables are visible (and trigd's own environment is not), stderr lines are
# logged with the request id, the REPORT line is logged; a function past its timeout_ms is killed
# (its process group is gone) and, with max_retry_attempts 0, its event goes to the file DLQ after one
# attempt with functionError Timeout; a non-zero exit is retried max_retry_attempts times, then DLQ'd.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

export TRIGD_TEST_PRIVATE="not-for-functions" # trigd's environment, not the function's

FN_DIR="$WORK/fn"
mkdir -p "$FN_DIR"
cat > "$FN_DIR/fn.sh" << 'EOF'
#!/usr/bin/env bash
# $1: ok | fail | sleep. Writes what it saw under $FN_DIR, named by the request id.
set -u
mode=$1
rid=${AWS_REQUEST_ID:-none}
cat > "$FN_DIR/in-$mode-$rid.json"
env > "$FN_DIR/env-$mode-$rid.txt"
echo "$rid" >> "$FN_DIR/calls-$mode.txt"
echo "hello from stderr ($mode)" >&2
case $mode in
ok)
    echo '{"ok":true}'
    ;;
fail)
    echo "about to fail" >&2
    exit 3
    ;;
sleep)
    # Ignore SIGTERM (so trigd has to SIGKILL) and leave a grandchild in the process group.
    trap '' TERM
    echo $$ > "$FN_DIR/sleep.pid"
    sleep 600 & # longer than the test: reaching the DLQ at all means it was killed
    echo $! > "$FN_DIR/sleep-child.pid"
    wait
    echo '{"late":true}'
    ;;
esac
EOF
chmod +x "$FN_DIR/fn.sh"

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "log": { "level": "info" },
  "state_dir": "$WORK/state",
  "functions": {
    "handler": { "type": "exec", "command": ["$FN_DIR/fn.sh", "ok"], "timeout_ms": 10000,
                 "env": { "GREETING": "hello-exec", "FN_DIR": "$FN_DIR" } },
    "sleeper": { "type": "exec", "command": ["$FN_DIR/fn.sh", "sleep"], "timeout_ms": 300,
                 "kill_grace_ms": 200, "env": { "FN_DIR": "$FN_DIR" } },
    "failer": { "type": "exec", "command": ["$FN_DIR/fn.sh", "fail"], "timeout_ms": 10000,
                "env": { "FN_DIR": "$FN_DIR" } }
  },
  "sources": {
    "ok": { "type": "webhook", "path": "/hooks/ok" },
    "slow": { "type": "webhook", "path": "/hooks/slow" },
    "bad": { "type": "webhook", "path": "/hooks/bad" }
  },
  "routes": {
    "ok-route": { "source": "ok", "function": "handler" },
    "slow-route": { "source": "slow", "function": "sleeper", "max_retry_attempts": 0 },
    "bad-route": { "source": "bad", "function": "failer", "max_retry_attempts": 2,
                   "retry_base_ms": 50, "retry_max_ms": 100 }
  }
}
EOF
start_trigd "$WORK/trigd.json"
DLQ_DIR="$WORK/state/dlq"

_lines_at_least() { [[ -f "$2" ]] && (($(wc -l < "$2") >= $1)); }
# _dead PID: the process is gone, or a zombie (killed, waiting for whoever reaps orphans here).
_dead() {
    local st
    _gone "$1" && return 0
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2> /dev/null) || return 0
    [[ -z "$st" || "$st" == Z || "$st" == X ]]
}
_log_has() { grep -qF -- "$1" "$TRIGD_LOG"; }

# --- a successful invocation -------------------------------------------------------------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/ok)" '{"seq":1,"name":"exec-test"}')" "POST to the ok hook"
wait_for 10 _lines_at_least 1 "$FN_DIR/calls-ok.txt"
RID=$(head -n 1 "$FN_DIR/calls-ok.txt")
[[ -n "$RID" && "$RID" != none ]] || fail "the function saw no AWS_REQUEST_ID"
wait_for 10 _log_has "REPORT RequestId: $RID"

# The event on stdin: the API Gateway v2 request event with the body sent.
ev=$(cat "$FN_DIR/in-ok-$RID.json")
assert_eq '{"seq":1,"name":"exec-test"}' "$(json_get "$ev" 'j["body"]')" "event body on stdin"
assert_eq /hooks/ok "$(json_get "$ev" 'j["rawPath"]')" "event rawPath on stdin"

# The environment: the env option, the Lambda names, not trigd's own variables.
envf="$FN_DIR/env-ok-$RID.txt"
grep -qx 'GREETING=hello-exec' "$envf" || fail "GREETING from the env option is not visible"
grep -qx "FN_DIR=$FN_DIR" "$envf" || fail "FN_DIR from the env option is not visible"
grep -qx 'AWS_LAMBDA_FUNCTION_NAME=handler' "$envf" || fail "AWS_LAMBDA_FUNCTION_NAME is not the function name"
grep -qx "TRIGD_REQUEST_ID=$RID" "$envf" || fail "TRIGD_REQUEST_ID differs from AWS_REQUEST_ID"
if grep -q '^TRIGD_TEST_PRIVATE=' "$envf"; then fail "trigd's own environment leaked into the function"; fi

# The log: the stderr line with the request id, and the REPORT line.
grep -F "$RID" "$TRIGD_LOG" | grep -qF 'hello from stderr (ok)' ||
    fail "the function's stderr line is not logged with its request id"
grep -F 'exec' "$TRIGD_LOG" | grep -F "$RID" | grep -qF 'hello from stderr (ok)' ||
    fail "the stderr line is not attributed to the exec function"
grep -Eq "REPORT RequestId: $RID Duration: [0-9.]+ ms Billed Duration: [0-9]+ ms Memory Size: [0-9]+ MB Max Memory Used: [0-9]+ MB" \
    "$TRIGD_LOG" || fail "no well-formed REPORT line for $RID"
[[ ! -e "$DLQ_DIR/ok-route.jsonl" ]] || [[ ! -s "$DLQ_DIR/ok-route.jsonl" ]] ||
    fail "the successful event is in the DLQ"

# dlq_line ROUTE N: the Nth entry of the route's file DLQ.
dlq_line() { sed -n "${2}p" "$DLQ_DIR/$1.jsonl"; }

# --- a function past its timeout is killed, then the event goes to the DLQ ---------------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/slow)" '{"seq":2,"sleepy":true}')" "POST to the slow hook"
wait_for 10 _lines_at_least 1 "$FN_DIR/sleep-child.pid"
SLEEP_PID=$(cat "$FN_DIR/sleep.pid")
CHILD_PID=$(cat "$FN_DIR/sleep-child.pid")
# The function would run for 10 minutes: it reaches the DLQ only because trigd killed it at its timeout.
wait_for 20 _lines_at_least 1 "$DLQ_DIR/slow-route.jsonl"
# Killed: the script and the grandchild it left in its process group are gone.
wait_for 10 _dead "$SLEEP_PID"
wait_for 10 _dead "$CHILD_PID"
grep -q "timed out after .* and was killed" "$TRIGD_LOG" || fail "no log line saying the function was killed"
rec=$(dlq_line slow-route 1)
assert_eq Timeout "$(json_get "$rec" 'j["record"]["responseContext"]["functionError"]')" "DLQ functionError"
assert_eq RetryAttemptsExhausted "$(json_get "$rec" 'j["record"]["requestContext"]["condition"]')" \
    "DLQ condition"
assert_eq 1 "$(json_get "$rec" 'j["record"]["requestContext"]["approximateInvokeCount"]')" \
    "invocations of the timed-out event (max_retry_attempts 0)"
assert_eq sleeper "$(json_get "$rec" 'j["record"]["requestContext"]["function"]')" "DLQ function"
assert_eq '{"seq":2,"sleepy":true}' "$(json_get "$rec" 'j["record"]["requestPayload"]["body"]')" \
    "DLQ requestPayload"
assert_eq 1 "$(wc -l < "$FN_DIR/calls-sleep.txt" | tr -d ' ')" "calls of the sleeper (no retry)"

# --- a non-zero exit is retried max_retry_attempts (2) times, then DLQ'd -----------------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/bad)" '{"seq":3}')" "POST to the bad hook"
wait_for 15 _lines_at_least 1 "$DLQ_DIR/bad-route.jsonl"
assert_eq 3 "$(wc -l < "$FN_DIR/calls-fail.txt" | tr -d ' ')" "calls of the failing function (1 + 2 retries)"
rec=$(dlq_line bad-route 1)
assert_eq Unhandled "$(json_get "$rec" 'j["record"]["responseContext"]["functionError"]')" \
    "DLQ functionError of a non-zero exit"
assert_eq RetryAttemptsExhausted "$(json_get "$rec" 'j["record"]["requestContext"]["condition"]')" \
    "DLQ condition of the failing function"
assert_eq 3 "$(json_get "$rec" 'j["record"]["requestContext"]["approximateInvokeCount"]')" \
    "approximateInvokeCount of the failing function"
assert_eq '{"seq":3}' "$(json_get "$rec" 'j["record"]["requestPayload"]["body"]')" "DLQ requestPayload (fail)"
grep -q 'exited with status 3' "$TRIGD_LOG" || fail "the exit status is not logged"
n_about=$(grep -c 'about to fail' "$TRIGD_LOG" || true)
assert_eq 3 "$n_about" "stderr lines of the three failing calls"
wait_route_idle 15 bad-route # negative check: no further attempt after the DLQ
assert_eq 3 "$(wc -l < "$FN_DIR/calls-fail.txt" | tr -d ' ')" "calls of the failing function after the DLQ"
assert_eq 1 "$(wc -l < "$DLQ_DIR/bad-route.jsonl" | tr -d ' ')" "DLQ entries of the failing route"

stop_trigd
log "ok"
