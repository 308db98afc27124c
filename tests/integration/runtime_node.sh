#!/usr/bin/env bash
# runtime_node.sh — examples/runtimes/node/index.mjs as trigd `runtime` functions run by AWS's Node.js
# runtime interface client (aws-lambda-ric from npm, which ./dev test installs): a handler starts cold and
# serves the next invoke warm in the same process (Init Duration on the first REPORT only) and sees its
# function name and memory_mb in its context; a thrown Error reaches the invoker as a function error with
# ric's errorType and errorMessage (ric sends no error-type header, and "trace", not "stackTrace"); a
# handler the module does not export is ric's init error Runtime.HandlerNotFound.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=runtime_examples_lib.sh
. "$(dirname "$0")/runtime_examples_lib.sh"
require_cmd curl python3
require_ric

HTTP_PORT=$(free_port)
node_fn() { # node_fn HANDLER: a runtime function running index.HANDLER under aws-lambda-ric
    printf '{"type": "runtime", "code_dir": "%s", "handler": "index.%s", "command": ["%s", "%s", "index.%s"],
             "memory_mb": 256, "timeout_ms": 20000, "init_timeout_ms": 20000, "max_concurrency": 2}' \
        "$NODE_EXAMPLE_DIR" "$1" "$NODE" "$RIC/bin/index.mjs" "$1"
}
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "node-echo": $(node_fn handler),
    "node-fail": $(node_fn fail),
    "node-missing": $(node_fn nope)
  }
}
EOF
start_trigd "$WORK/trigd.json"

check_cold_then_warm node-echo
NODE_PID=$WARM_PID
assert_eq node-echo "$(json_get "$INV_BODY" 'j["functionName"]')" "context.functionName"
assert_eq 256 "$(json_get "$INV_BODY" 'j["memoryLimitInMB"]')" "context.memoryLimitInMB"
assert_eq 2 "$(json_get "$INV_BODY" 'j["invocations"]')" "the module's state did not survive between warm invokes"

invoke_error node-fail '{}'
assert_eq Error "$(json_get "$INV_BODY" 'j["errorType"]')" "node-fail: errorType"
assert_eq "fail: this handler always fails" "$(json_get "$INV_BODY" 'j["errorMessage"]')" "node-fail: errorMessage"
log "a thrown Error reached the invoker as a function error with ric's errorType and errorMessage"

invoke_error node-missing '{}'
assert_eq Runtime.HandlerNotFound "$(json_get "$INV_BODY" 'j["errorType"]')" "node-missing: errorType"
log "a handler the module does not export: ric's init error Runtime.HandlerNotFound"

stop_trigd
wait_for 10 _gone "$NODE_PID"
log "ok"
