#!/usr/bin/env bash
# runtime_examples.sh — the C and the bash custom runtimes of examples/runtimes/ as trigd `runtime`
# functions, invoked through the Invoke API: each starts cold, then serves the next invoke warm in the same
# process, with Init Duration on the first REPORT only. The function's default command is code_dir/bootstrap.
# The bash runtime posts its answers as application/x-www-form-urlencoded (curl's default): the answer
# reaches the invoker verbatim ('+' and '%20' not decoded). A handler error posted to /error reaches the
# invoker as a function error with the runtime's errorType and errorMessage; an unknown handler is an init
# error whose type (Runtime.HandlerNotFound) the invoke returns; the C runtime exiting mid-invoke is
# Runtime.ExitError. No instance outlives trigd's SIGTERM.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=runtime_examples_lib.sh
. "$(dirname "$0")/runtime_examples_lib.sh"
require_cmd curl python3
require_c_runtime

HTTP_PORT=$(free_port)
rt() { # rt CODE_DIR HANDLER: a runtime function's settings
    printf '{"type": "runtime", "code_dir": "%s", "handler": "%s", "timeout_ms": 20000, "init_timeout_ms": 20000, "max_concurrency": 2}' \
        "$1" "$2"
}
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "c-echo": $(rt "$C_RUNTIME_DIR" handler.echo),
    "c-error": $(rt "$C_RUNTIME_DIR" handler.error),
    "c-exit": $(rt "$C_RUNTIME_DIR" handler.exit),
    "c-missing": $(rt "$C_RUNTIME_DIR" handler.nope),
    "bash-echo": $(rt "$BASH_RUNTIME_DIR" function.handler),
    "bash-fail": $(rt "$BASH_RUNTIME_DIR" function.fail),
    "bash-missing": $(rt "$BASH_RUNTIME_DIR" nofile.handler)
  }
}
EOF
start_trigd "$WORK/trigd.json"

# --- cold, then warm ---------------------------------------------------------------------------
check_cold_then_warm c-echo
C_PID=$WARM_PID
check_cold_then_warm bash-echo
BASH_PID=$WARM_PID

# --- the bash runtime's form-urlencoded answer, taken verbatim ---------------------------------
invoke_ok bash-echo '{"s":"a+b%20c&d=e"}'
assert_eq '{"s":"a+b%20c&d=e"}' "$(json_get "$INV_BODY" 'j["event"]')" \
    "the bash runtime's form-urlencoded answer was altered on its way"
assert_eq "$BASH_PID" "$(json_get "$INV_BODY" 'j["pid"]')" "bash-echo: a third invoke left the warm instance"
log "bash runtime: its application/x-www-form-urlencoded answer reached the invoker verbatim"

# --- errors --------------------------------------------------------------------------------------
invoke_error c-error '{}'
assert_eq HandlerError "$(json_get "$INV_BODY" 'j["errorType"]')" "c-error: errorType"
assert_eq "the error handler failed, as asked" "$(json_get "$INV_BODY" 'j["errorMessage"]')" "c-error: errorMessage"
invoke_error bash-fail '{}'
assert_eq HandlerError "$(json_get "$INV_BODY" 'j["errorType"]')" "bash-fail: errorType"
assert_eq "fail: this handler always fails" "$(json_get "$INV_BODY" 'j["errorMessage"]')" "bash-fail: errorMessage"
log "handler errors posted to /error reached the invoker with their errorType and errorMessage"

invoke_error c-missing '{}'
assert_eq Runtime.HandlerNotFound "$(json_get "$INV_BODY" 'j["errorType"]')" "c-missing: errorType"
invoke_error bash-missing '{}'
assert_eq Runtime.HandlerNotFound "$(json_get "$INV_BODY" 'j["errorType"]')" "bash-missing: errorType"
log "an unknown handler is an init error: the invoke fails with the runtime's Runtime.HandlerNotFound"

invoke_error c-exit '{}'
assert_eq Runtime.ExitError "$(json_get "$INV_BODY" 'j["errorType"]')" "c-exit: errorType"
log "the C runtime exiting mid-invoke is Runtime.ExitError"

# --- the warm instances still serve, and none outlives trigd -------------------------------------
invoke_ok c-echo '{"n":3}'
assert_eq "$C_PID" "$(json_get "$INV_BODY" 'j["pid"]')" "c-echo: the warm instance changed"
stop_trigd
wait_for 10 _gone "$C_PID"
wait_for 10 _gone "$BASH_PID"
log "ok"
