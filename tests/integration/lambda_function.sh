#!/usr/bin/env bash
# lambda_function.sh — webhook -> "lambda" function against tests/helpers/lambda_server.py, which
# verifies SigV4 like AWS: with access_key_env/secret_key_env and region the requests are signed and
# accepted, and events arrive as the payload of the Invoke API; a wrong secret is answered 403 and
# the event goes to the DLQ as a function error after its retries; X-Amz-Function-Error is retried
# and DLQ'd with functionError in the record.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3
LAMBDA_SERVER="$TOP_SRCDIR/tests/helpers/lambda_server.py"
[[ -f "$LAMBDA_SERVER" ]] || skip_or_fail "$LAMBDA_SERVER not found"

export TEST_AK="AKIDTRIGDTEST$RANDOM"
export TEST_SK="secret-$RANDOM$RANDOM/with+chars"
export TEST_SK_WRONG="${TEST_SK}-but-wrong"
REGION=eu-west-3

_has_port() { grep -Eq '^[0-9]+$' "$1"; }

# start_lambda NAME ARGS...: lambda_server.py with ARGS, recording to $WORK/NAME.jsonl; sets
# LAMBDA_URL and LAMBDA_REC.
start_lambda() {
    local name=$1
    shift
    LAMBDA_REC="$WORK/$name.jsonl"
    : > "$LAMBDA_REC"
    : > "$WORK/$name.stdout"
    python3 "$LAMBDA_SERVER" --record "$LAMBDA_REC" "$@" > "$WORK/$name.stdout" 2> "$WORK/$name.stderr" &
    local pid=$!
    _track "$pid"
    _logs+=("$WORK/$name.stderr")
    wait_for 10 _has_port "$WORK/$name.stdout"
    LAMBDA_URL="http://127.0.0.1:$(head -n 1 "$WORK/$name.stdout")"
}

# Good: signed with the right keys; echoes the payload.
start_lambda good --access-key "$TEST_AK" --secret-key "$TEST_SK" --region "$REGION" --function my-fn
GOOD_URL=$LAMBDA_URL GOOD_REC=$LAMBDA_REC
# The same server configuration, but trigd signs with the wrong secret.
start_lambda wrong --access-key "$TEST_AK" --secret-key "$TEST_SK" --region "$REGION" --function my-fn
WRONG_URL=$LAMBDA_URL WRONG_REC=$LAMBDA_REC
# Well signed, but the function fails (200 with X-Amz-Function-Error: Unhandled).
start_lambda failing --access-key "$TEST_AK" --secret-key "$TEST_SK" --region "$REGION" --mode error
FAIL_URL=$LAMBDA_URL FAIL_REC=$LAMBDA_REC

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "good": { "type": "lambda", "endpoint": "$GOOD_URL", "function_name": "my-fn", "region": "$REGION",
              "access_key_env": "TEST_AK", "secret_key_env": "TEST_SK", "timeout_ms": 5000 },
    "wrong": { "type": "lambda", "endpoint": "$WRONG_URL", "function_name": "my-fn", "region": "$REGION",
               "access_key_env": "TEST_AK", "secret_key_env": "TEST_SK_WRONG", "timeout_ms": 5000 },
    "failing": { "type": "lambda", "endpoint": "$FAIL_URL/", "function_name": "fails", "region": "$REGION",
                 "access_key_env": "TEST_AK", "secret_key_env": "TEST_SK", "timeout_ms": 5000 }
  },
  "sources": {
    "good": { "type": "webhook", "path": "/hooks/good" },
    "wrong": { "type": "webhook", "path": "/hooks/wrong" },
    "failing": { "type": "webhook", "path": "/hooks/failing" }
  },
  "routes": {
    "good-route": { "source": "good", "function": "good" },
    "wrong-route": { "source": "wrong", "function": "wrong", "max_retry_attempts": 1,
                     "retry_base_ms": 50, "retry_max_ms": 100 },
    "failing-route": { "source": "failing", "function": "failing", "max_retry_attempts": 2,
                       "retry_base_ms": 50, "retry_max_ms": 100 }
  }
}
EOF
start_trigd "$WORK/trigd.json"
DLQ_DIR="$WORK/state/dlq"

_lines_at_least() { [[ -f "$2" ]] && (($(wc -l < "$2") >= $1)); }
nlines() { if [[ -f "$1" ]]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }

# --- signed requests are accepted; events arrive as the payload ---------------------------------
for i in 1 2 3; do
    assert_eq 202 "$(post_json "$(trigd_url /hooks/good)" "{\"seq\":$i}")" "POST $i to the good hook"
done
wait_for 10 _lines_at_least 3 "$GOOD_REC"
wait_route_idle 15 good-route # negative check: no retries or duplicates
assert_eq 3 "$(nlines "$GOOD_REC")" "requests to the good Lambda"
python3 - "$GOOD_REC" "$TEST_AK" "$REGION" << 'EOF' || fail "the good Lambda's requests are not right"
import json, sys
rec, ak, region = sys.argv[1:]
seqs = []
for line in open(rec):
    r = json.loads(line)
    assert r["status"] == 200, r
    assert r["signature_ok"] is True, r.get("signature_error")
    assert r["path"] == "/2015-03-31/functions/my-fn/invocations", r["path"]
    assert r["function"] == "my-fn", r
    h = {k.lower(): v for k, v in r["headers"].items()}
    assert h["authorization"].startswith("AWS4-HMAC-SHA256 Credential=%s/" % ak), h["authorization"]
    assert "/%s/lambda/aws4_request" % region in h["authorization"], h["authorization"]
    assert h.get("x-amz-invocation-type", "RequestResponse") == "RequestResponse", h
    ev = json.loads(r["body"])
    assert ev["version"] == "2.0" and ev["rawPath"] == "/hooks/good", ev
    seqs.append(json.loads(ev["body"])["seq"])
assert sorted(seqs) == [1, 2, 3], seqs
EOF
# The secret never appears in trigd's log.
if grep -qF "$TEST_SK" "$TRIGD_LOG"; then fail "the secret key is in trigd's log"; fi
[[ ! -s "$DLQ_DIR/good-route.jsonl" ]] || fail "a successful event is in the DLQ"

# --- a wrong secret: 403 from the server, retried, then the DLQ as a function error --------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/wrong)" '{"seq":10}')" "POST to the wrong-secret hook"
wait_for 15 _lines_at_least 1 "$DLQ_DIR/wrong-route.jsonl"
assert_eq 2 "$(nlines "$WRONG_REC")" "requests with a wrong secret (1 + 1 retry)"
python3 - "$WRONG_REC" << 'EOF' || fail "the wrong-secret requests are not 403 signature failures"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["status"] == 403 and r["signature_ok"] is False, r
    assert r["signature_error"] == "signature does not match", r["signature_error"]
EOF
rec=$(sed -n 1p "$DLQ_DIR/wrong-route.jsonl")
assert_eq RetryAttemptsExhausted "$(json_get "$rec" 'j["record"]["requestContext"]["condition"]')" \
    "wrong secret: DLQ condition"
assert_eq 2 "$(json_get "$rec" 'j["record"]["requestContext"]["approximateInvokeCount"]')" \
    "wrong secret: approximateInvokeCount"
assert_eq 403 "$(json_get "$rec" 'j["record"]["responseContext"]["statusCode"]')" "wrong secret: statusCode"
assert_eq wrong "$(json_get "$rec" 'j["record"]["requestContext"]["function"]')" "wrong secret: function"
assert_eq '{"seq":10}' "$(json_get "$rec" 'j["record"]["requestPayload"]["body"]')" \
    "wrong secret: requestPayload"
json_get "$rec" 'json.dumps(j["record"].get("responsePayload"))' | grep -q 'signature' ||
    fail "wrong secret: the DLQ record's responsePayload does not carry the server's message"
if grep -qF "$TEST_SK_WRONG" "$DLQ_DIR/wrong-route.jsonl"; then fail "the secret key is in the DLQ record"; fi

# --- X-Amz-Function-Error: retried, then DLQ'd with functionError --------------------------------
assert_eq 202 "$(post_json "$(trigd_url /hooks/failing)" '{"seq":20}')" "POST to the failing hook"
wait_for 15 _lines_at_least 1 "$DLQ_DIR/failing-route.jsonl"
assert_eq 3 "$(nlines "$FAIL_REC")" "calls of the failing Lambda (1 + 2 retries)"
python3 - "$FAIL_REC" << 'EOF' || fail "the failing Lambda's requests are not right"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["signature_ok"] is True, r.get("signature_error")
    assert r["function"] == "fails" and r["status"] == 200, r
    assert r["path"] == "/2015-03-31/functions/fails/invocations", r["path"]  # no double slash
EOF
rec=$(sed -n 1p "$DLQ_DIR/failing-route.jsonl")
assert_eq Unhandled "$(json_get "$rec" 'j["record"]["responseContext"]["functionError"]')" \
    "function error: functionError"
assert_eq RetryAttemptsExhausted "$(json_get "$rec" 'j["record"]["requestContext"]["condition"]')" \
    "function error: condition"
assert_eq 3 "$(json_get "$rec" 'j["record"]["requestContext"]["approximateInvokeCount"]')" \
    "function error: approximateInvokeCount"
assert_eq 200 "$(json_get "$rec" 'j["record"]["responseContext"]["statusCode"]')" "function error: statusCode"
assert_eq "handler failed" "$(json_get "$rec" 'j["record"]["responsePayload"]["errorMessage"]')" \
    "function error: responsePayload"
assert_eq '{"seq":20}' "$(json_get "$rec" 'j["record"]["requestPayload"]["body"]')" \
    "function error: requestPayload"

wait_route_idle 15 good-route wrong-route failing-route # negative check: nothing more after the DLQ
assert_eq 2 "$(nlines "$WRONG_REC")" "requests with a wrong secret at the end"
assert_eq 3 "$(nlines "$FAIL_REC")" "calls of the failing Lambda at the end"
assert_eq 3 "$(nlines "$GOOD_REC")" "requests to the good Lambda at the end"

stop_trigd
log "ok"
