# shellcheck shell=bash
# runtime_examples_lib.sh — sourced by runtime_examples*.sh and runtime_node*.sh (after lib.sh): where the
# example runtimes of examples/runtimes/ are, invoking a function through the Invoke API, and reading the
# REPORT lines of trigd's log.

# The C runtime is built (make builds it next to its source, in the build tree); the others are sources.
# shellcheck disable=SC2034 # used by the scripts that source this file
C_RUNTIME_DIR="$TOP_BUILDDIR/examples/runtimes/c"
# shellcheck disable=SC2034
BASH_RUNTIME_DIR="$TOP_SRCDIR/examples/runtimes/bash"
# shellcheck disable=SC2034
NODE_EXAMPLE_DIR="$TOP_SRCDIR/examples/runtimes/node"

require_c_runtime() {
    [[ -x "$C_RUNTIME_DIR/bootstrap" ]] || fail "$C_RUNTIME_DIR/bootstrap not built (make builds it)"
}

# require_ric: sets NODE (node's path) and RIC, the directory of AWS's Node.js runtime interface client
# (aws-lambda-ric, holding bin/index.mjs): $TRIGD_LAMBDA_RIC, else where ./dev test installs it (the
# version is the one ./dev names).
require_ric() {
    require_cmd node
    # shellcheck disable=SC2034 # used by the scripts that source this file
    NODE=$(command -v node)
    RIC=${TRIGD_LAMBDA_RIC:-}
    if [[ -z "$RIC" ]]; then
        local version major
        version=$(sed -n 's/^RIC_VERSION=//p' "$TOP_SRCDIR/dev")
        major=$(node -p 'process.versions.node.split(".")[0]')
        RIC="${XDG_CACHE_HOME:-$HOME/.cache}/trigd/aws-lambda-ric-$version-node$major/node_modules/aws-lambda-ric"
    fi
    [[ -f "$RIC/bin/index.mjs" ]] || skip_or_fail "aws-lambda-ric is not installed in $RIC (./dev test installs it)"
}

_n_invokes=0

# invoke FUNCTION BODY [CURL ARGS...]: a RequestResponse invoke through trigd's Invoke API. Sets INV_STATUS,
# INV_BODY and INV_ERROR (the X-Amz-Function-Error header, empty when absent).
invoke() {
    local fn=$1 body=$2
    shift 2
    _n_invokes=$((_n_invokes + 1))
    local base="$WORK/invoke-$_n_invokes"
    INV_STATUS=$(curl -sS -o "$base.body" -D "$base.headers" -w '%{http_code}' --max-time 60 \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" \
        "$(trigd_url "/2015-03-31/functions/$fn/invocations")") || INV_STATUS=000
    INV_BODY=$(cat "$base.body" 2> /dev/null || true)
    INV_ERROR=$(awk -F': *' 'tolower($1) == "x-amz-function-error" { sub(/\r$/, "", $2); print $2 }' \
        "$base.headers" 2> /dev/null || true)
}

# invoke_ok FUNCTION BODY: invoke, and fail unless it answered 200 without a function error.
invoke_ok() {
    invoke "$1" "$2"
    [[ "$INV_STATUS" == 200 && -z "$INV_ERROR" ]] ||
        fail "invoke $1: status $INV_STATUS, function error '$INV_ERROR', body: $INV_BODY"
}

# invoke_error FUNCTION BODY: invoke, and fail unless it answered 200 with X-Amz-Function-Error: Unhandled.
invoke_error() {
    invoke "$1" "$2"
    [[ "$INV_STATUS" == 200 && "$INV_ERROR" == Unhandled ]] ||
        fail "invoke $1: expected a function error, got status $INV_STATUS, function error '$INV_ERROR': $INV_BODY"
}

_report_logged() { grep -qF "REPORT RequestId: $1" "$TRIGD_LOG"; }

# report_line REQUEST_ID: the REPORT line of that invoke in trigd's log (waits for it).
report_line() {
    wait_for 10 _report_logged "$1"
    grep -F "REPORT RequestId: $1" "$TRIGD_LOG" | head -n 1
}

# check_cold_then_warm FUNCTION: two invokes of a function that answers {"pid","requestId","event"} and has
# no instance yet: both succeed with their own event, the second in the same process as the first (a warm
# instance), and only the first REPORT carries an Init Duration. Sets WARM_PID.
check_cold_then_warm() {
    local fn=$1 rid1 rid2 pid2
    invoke_ok "$fn" '{"n":1}'
    [[ $(json_get "$INV_BODY" 'j["event"]') == '{"n":1}' ]] || fail "$fn: the event did not arrive whole: $INV_BODY"
    WARM_PID=$(json_get "$INV_BODY" 'j["pid"]')
    rid1=$(json_get "$INV_BODY" 'j["requestId"]')
    invoke_ok "$fn" '{"n":2}'
    [[ $(json_get "$INV_BODY" 'j["event"]') == '{"n":2}' ]] || fail "$fn: the event did not arrive whole: $INV_BODY"
    pid2=$(json_get "$INV_BODY" 'j["pid"]')
    rid2=$(json_get "$INV_BODY" 'j["requestId"]')
    assert_eq "$WARM_PID" "$pid2" "$fn: the second invoke ran in another process (not warm)"
    [[ "$rid1" != "$rid2" ]] || fail "$fn: both invokes had request id $rid1"
    kill -0 "$WARM_PID" 2> /dev/null || fail "$fn: the instance (pid $WARM_PID) is gone after its invokes"
    local r1 r2
    r1=$(report_line "$rid1")
    r2=$(report_line "$rid2")
    [[ "$r1" == *"Init Duration: "* ]] || fail "$fn: the cold start's REPORT has no Init Duration: $r1"
    [[ "$r2" != *"Init Duration"* ]] || fail "$fn: a warm invoke's REPORT has an Init Duration: $r2"
    log "$fn: cold then warm in pid $WARM_PID; Init Duration on the first REPORT only"
}
