#!/usr/bin/env bash
# trigctl.sh — the admin API and the Invoke API through trigctl and curl: status, routes, DLQ list,
# show, redrive (one, all, paced, failing again, a few hundred), purge, invoke, test-pattern, the
# admin token, and trigctl's exit statuses (0 ok, 1 error answer, 2 usage or bad input, 3 unreachable).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3
[[ -x "$TRIGCTL" ]] || fail "$TRIGCTL not built"

TOKEN=s3cret-admin-token
export TRIGD_TEST_ADMIN_TOKEN=$TOKEN

# Sink A fails its first 3 requests, then succeeds; sink B always fails.
start_sink --fail-first 3
OK_URL=$SINK_URL OK_OUT=$SINK_OUT
start_sink --status 500 --body '{"errorMessage":"boom","errorType":"Boom"}'
BAD_URL=$SINK_URL BAD_OUT=$SINK_OUT

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "admin_token_env": "TRIGD_TEST_ADMIN_TOKEN"},
  "state_dir": "$WORK/state",
  "functions": {
    "ok": {"type": "http", "url": "$OK_URL/fn", "timeout_ms": 5000, "max_concurrency": 8},
    "bad": {"type": "http", "url": "$BAD_URL/fn", "timeout_ms": 5000, "max_concurrency": 8}
  },
  "sources": {
    "in": {"type": "webhook", "path": "/in"},
    "in-bad": {"type": "webhook", "path": "/in-bad"}
  },
  "routes": {
    "main": {"source": "in", "function": "ok", "max_retry_attempts": 0, "retry_base_ms": 10,
             "retry_max_ms": 20},
    "poison": {"source": "in-bad", "function": "bad", "max_retry_attempts": 0, "retry_base_ms": 10,
               "retry_max_ms": 20}
  }
}
EOF
start_trigd "$WORK/trigd.json"

export TRIGD_URL="http://127.0.0.1:$HTTP_PORT"
export TRIGD_ADMIN_TOKEN=$TOKEN

# ctl ARGS...: trigctl, stdout kept in $WORK/out, stderr in $WORK/err; sets CTL_RC.
ctl() {
    CTL_RC=0
    "$TRIGCTL" "$@" > "$WORK/out" 2> "$WORK/err" || CTL_RC=$?
}
# ctl_ok ARGS...: trigctl must exit 0.
ctl_ok() {
    ctl "$@"
    ((CTL_RC == 0)) || fail "trigctl $* exited $CTL_RC: $(cat "$WORK/err")"
}
dlq_count() { # dlq_count ROUTE: entries in the route's DLQ (up to 1000)
    "$TRIGCTL" --json dlq list "$1" --count 1000 | python3 -c 'import json, sys
print(len(json.load(sys.stdin)["entries"]))'
}
dlq_has() { (($(dlq_count "$1") == $2)); }
dlq_ids() { # dlq_ids ROUTE: the entry ids, one per line
    "$TRIGCTL" --json dlq list "$1" --count 1000 | python3 -c 'import json, sys
for e in json.load(sys.stdin)["entries"]:
    print(e["id"])'
}
sink_has_text() { grep -q -- "$2" "$1"; }

# --- the admin token ------------------------------------------------------------------------------
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$TRIGD_URL/admin/status")
assert_eq 401 "$code" "/admin/status without a token"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer wrong" "$TRIGD_URL/admin/status")
assert_eq 401 "$code" "/admin/status with a wrong token"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$TRIGD_URL/admin/status")
assert_eq 200 "$code" "/admin/status with the token"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$TRIGD_URL/admin/nothing")
assert_eq 404 "$code" "unknown admin path"
code=$(curl -s -o /dev/null -w '%{http_code}' -d '{}' "$TRIGD_URL/2015-03-31/functions/ok/invocations")
assert_eq 401 "$code" "Invoke API without a token"
CTL_RC=0
env -u TRIGD_ADMIN_TOKEN "$TRIGCTL" status > /dev/null 2> "$WORK/err" || CTL_RC=$?
assert_eq 1 "$CTL_RC" "trigctl status without a token"
grep -q "HTTP 401" "$WORK/err" || fail "no HTTP 401 in: $(cat "$WORK/err")"
printf '%s\n' "$TOKEN" > "$WORK/token"
CTL_RC=0
env -u TRIGD_ADMIN_TOKEN "$TRIGCTL" --token-file "$WORK/token" status > /dev/null || CTL_RC=$?
assert_eq 0 "$CTL_RC" "trigctl --token-file"
CTL_RC=0
env -u TRIGD_ADMIN_TOKEN MY_TOKEN="$TOKEN" "$TRIGCTL" --token-env MY_TOKEN routes > /dev/null || CTL_RC=$?
assert_eq 0 "$CTL_RC" "trigctl --token-env"

# --- status and routes ----------------------------------------------------------------------------
ctl_ok status
grep -q '^main  *in  *ok ' "$WORK/out" || fail "status table lacks route main: $(cat "$WORK/out")"
grep -q '^poison  *in-bad  *bad ' "$WORK/out" || fail "status table lacks route poison"
ctl_ok --json status
assert_eq true "$(json_get "$(cat "$WORK/out")" 'j["ready"]')" "status ready"
ctl_ok routes
head -1 "$WORK/out" | grep -q '^ROUTE  *SOURCE  *FUNCTION' || fail "routes header: $(head -1 "$WORK/out")"
ctl_ok --json routes
assert_eq '["main","poison"]' "$(json_get "$(cat "$WORK/out")" 'sorted(r["name"] for r in j["routes"])')" \
    "routes names"

# --- DLQ: three events fail on route main ---------------------------------------------------------
for i in 1 2 3; do
    assert_eq 202 "$(post_json "$TRIGD_URL/in" "{\"marker\":\"event-$i\"}")" "webhook POST $i"
    wait_for 10 dlq_has main "$i" # one at a time, so that the DLQ order is the POST order
done
mapfile -t ids < <(dlq_ids main)
assert_eq 3 "${#ids[@]}" "DLQ entries after 3 failures"
assert_eq 3 "$(sink_count "$OK_OUT")" "sink A requests"

ctl_ok dlq list main
head -1 "$WORK/out" | grep -q '^ID  *CONDITION  *FUNCTION  *TIMESTAMP  *INVOKES' || fail "dlq list header"
grep -q "^${ids[0]}  *RetryAttemptsExhausted  *ok " "$WORK/out" || fail "dlq list row: $(cat "$WORK/out")"
ctl_ok --json dlq list main --count 2
assert_eq "${ids[1]}" "$(json_get "$(cat "$WORK/out")" 'j["next"]')" "next cursor"
ctl_ok --json dlq list main --after "${ids[1]}"
assert_eq "[\"${ids[2]}\"]" "$(json_get "$(cat "$WORK/out")" '[e["id"] for e in j["entries"]]')" "--after"
assert_eq None "$(json_get "$(cat "$WORK/out")" 'str(j["next"])')" "last page next"

ctl_ok --json dlq show main "${ids[0]}"
rec=$(cat "$WORK/out")
assert_eq RetryAttemptsExhausted "$(json_get "$rec" 'j["record"]["requestContext"]["condition"]')" "condition"
assert_eq ok "$(json_get "$rec" 'j["record"]["requestContext"]["function"]')" "function"
grep -q 'event-1' <<< "$rec" || fail "entry 1 does not hold event-1"
ctl_ok dlq show main "${ids[0]}"
grep -q 'RetryAttemptsExhausted' "$WORK/out" || fail "dlq show (human)"
ctl dlq show main 1-0
assert_eq 1 "$CTL_RC" "dlq show of a missing entry"
grep -q 'HTTP 404' "$WORK/err" || fail "missing entry: $(cat "$WORK/err")"

# --- redrive one: sink A succeeds now; the entry goes once the event was delivered ----------------
ctl_ok dlq redrive main --id "${ids[0]}"
grep -q 'redriven 1, failed 0' "$WORK/out" || fail "redrive --id: $(cat "$WORK/out")"
assert_eq 4 "$(sink_count "$OK_OUT")" "sink A after redrive --id"
grep -q 'event-1' <<< "$(sink_line 4 "$OK_OUT")" || fail "the redriven event is not event-1"
assert_eq 2 "$(dlq_count main)" "DLQ after redrive --id"
ctl dlq show main "${ids[0]}"
assert_eq 1 "$CTL_RC" "redriven entry still there"
ctl dlq redrive main --id "${ids[0]}"
assert_eq 1 "$CTL_RC" "redrive of a missing entry"

# --- redrive all, paced ---------------------------------------------------------------------------
t0=$(_now_ms)
ctl_ok --json dlq redrive main --all --rate 1
dt=$(($(_now_ms) - t0))
assert_eq 2 "$(json_get "$(cat "$WORK/out")" 'j["redriven"]')" "redrive --all --rate 1"
((dt >= 900)) || fail "2 entries at 1/s took only ${dt} ms"
assert_eq 0 "$(dlq_count main)" "DLQ after redrive --all"
assert_eq 6 "$(sink_count "$OK_OUT")" "sink A after redrive --all"
grep -q 'event-2' "$OK_OUT" && grep -q 'event-3' "$OK_OUT" || fail "events 2 and 3 not redriven"

# --- redrive of entries that fail again: new entries, the old ones gone, and the job ends ---------
for i in 1 2; do
    assert_eq 202 "$(post_json "$TRIGD_URL/in-bad" "{\"marker\":\"poison-$i\"}")" "webhook POST poison-$i"
done
wait_for 10 dlq_has poison 2
mapfile -t before < <(dlq_ids poison)
ctl_ok dlq redrive poison --all
grep -q 'redriven 2, failed 0' "$WORK/out" || fail "redrive of failing entries: $(cat "$WORK/out")"
mapfile -t after < <(dlq_ids poison)
assert_eq 2 "${#after[@]}" "entries after failing again"
for id in "${before[@]}"; do
    for id2 in "${after[@]}"; do
        [[ "$id" != "$id2" ]] || fail "old entry $id still in the DLQ"
    done
done
# --- purge ----------------------------------------------------------------------------------------
ctl_ok dlq purge poison
grep -q 'purged 2 entries' "$WORK/out" || fail "purge: $(cat "$WORK/out")"
assert_eq 0 "$(dlq_count poison)" "DLQ after purge"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOKEN" \
    "$TRIGD_URL/admin/dlq/poison")
assert_eq 200 "$code" "DELETE of an empty DLQ"
assert_eq 0 "$(json_get "$(cat "$WORK/body")" 'j["purged"]')" "purged count of an empty DLQ"

# --- a few hundred entries: redrive --all finishes, every one fails again once ---------------------
N=300
python3 - "$TRIGD_URL/in-bad" "$N" << 'EOF'
import sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    req = urllib.request.Request(url, data=('{"marker":"bulk-%d"}' % i).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 202, r.status
EOF
wait_for 180 dlq_has poison "$N" # a deadline for a slow machine: 300 events each failing into the DLQ
bad_before=$(sink_count "$BAD_OUT")
t0=$(_now_ms)
ctl_ok --json dlq redrive poison --all
log "redrive of $N entries took $(($(_now_ms) - t0)) ms"
assert_eq "$N" "$(json_get "$(cat "$WORK/out")" 'j["redriven"]')" "bulk redrive count"
assert_eq $((bad_before + N)) "$(sink_count "$BAD_OUT")" "sink B requests after the bulk redrive"
assert_eq "$N" "$(dlq_count poison)" "bulk entries after failing again"
ctl_ok dlq purge poison

# --- Invoke API -----------------------------------------------------------------------------------
INV="$TRIGD_URL/2015-03-31/functions"
AUTH="Authorization: Bearer $TOKEN"
code=$(curl -s -D "$WORK/hdrs" -o "$WORK/body" -w '%{http_code}' -H "$AUTH" -d '{"marker":"inv-1"}' \
    "$INV/ok/invocations?Qualifier=\$LATEST")
assert_eq 200 "$code" "invoke ok"
assert_eq '{"ok":true}' "$(cat "$WORK/body")" "invoke ok body"
grep -qi '^X-Amz-Executed-Version: \$LATEST' "$WORK/hdrs" || fail "no X-Amz-Executed-Version"
grep -q 'inv-1' "$OK_OUT" || fail "the invocation did not reach sink A"

code=$(curl -s -D "$WORK/hdrs" -o "$WORK/body" -w '%{http_code}' -H "$AUTH" -d '{}' "$INV/bad/invocations")
assert_eq 200 "$code" "invoke of a failing function"
grep -qi '^X-Amz-Function-Error: Unhandled' "$WORK/hdrs" || fail "no X-Amz-Function-Error"
assert_eq boom "$(json_get "$(cat "$WORK/body")" 'j["errorMessage"]')" "function error body"

code=$(curl -s -D "$WORK/hdrs" -o "$WORK/body" -w '%{http_code}' -H "$AUTH" -d '{}' "$INV/nope/invocations")
assert_eq 404 "$code" "invoke of an unknown function"
grep -qi '^X-Amzn-ErrorType: ResourceNotFoundException' "$WORK/hdrs" || fail "no ResourceNotFoundException"
assert_eq "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" \
    "$(json_get "$(cat "$WORK/body")" 'j["Message"]')" "404 message"

code=$(curl -s -D "$WORK/hdrs" -o "$WORK/body" -w '%{http_code}' -H "$AUTH" -d '{"a":' "$INV/ok/invocations")
assert_eq 400 "$code" "invoke with invalid JSON"
grep -qi '^X-Amzn-ErrorType: InvalidRequestContentException' "$WORK/hdrs" || fail "no InvalidRequestContent"

code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'X-Amz-Invocation-Type: DryRun' -d '{}' \
    "$INV/ok/invocations")
assert_eq 204 "$code" "DryRun"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" -H 'X-Amz-Invocation-Type: Event' \
    -d '{"marker":"async-1"}' "$INV/ok/invocations")
assert_eq 202 "$code" "Event invocation"
wait_for 10 sink_has_text "$OK_OUT" async-1

head -c $((6 * 1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' > "$WORK/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" --data-binary @"$WORK/big" "$INV/ok/invocations")
assert_eq 413 "$code" "invoke with a body over 6 MB"

echo '{"marker":"ctl-1"}' > "$WORK/event.json"
ctl_ok invoke ok "$WORK/event.json"
assert_eq '{"ok":true}' "$(cat "$WORK/out")" "trigctl invoke output"
CTL_RC=0
echo '{"marker":"ctl-2"}' | "$TRIGCTL" invoke ok > "$WORK/out" 2> "$WORK/err" || CTL_RC=$?
assert_eq 0 "$CTL_RC" "trigctl invoke from stdin"
grep -q 'ctl-2' "$OK_OUT" || fail "trigctl invoke from stdin did not reach the sink"
ctl invoke bad "$WORK/event.json"
assert_eq 1 "$CTL_RC" "trigctl invoke of a failing function"
grep -q 'boom' "$WORK/out" || fail "trigctl invoke should print the error body"
ctl invoke nope "$WORK/event.json"
assert_eq 1 "$CTL_RC" "trigctl invoke of an unknown function"
grep -q 'HTTP 404' "$WORK/err" || fail "unknown function: $(cat "$WORK/err")"

# --- test-pattern (local) -------------------------------------------------------------------------
cat > "$WORK/pattern.json" << 'EOF'
{"detail": {"state": ["running"], "size": [{"numeric": [">", 10]}]}}
EOF
echo '{"detail": {"state": "running", "size": 42}}' > "$WORK/match.json"
echo '{"detail": {"state": "stopped", "size": 42}}' > "$WORK/nomatch.json"
ctl_ok --url http://127.0.0.1:1 test-pattern "$WORK/pattern.json" "$WORK/match.json"
assert_eq match "$(cat "$WORK/out")" "test-pattern match"
ctl test-pattern "$WORK/pattern.json" "$WORK/nomatch.json"
assert_eq 1 "$CTL_RC" "test-pattern no match"
grep -q '^no match: .*detail.state' "$WORK/out" || fail "no match explanation: $(cat "$WORK/out")"
echo '[{"detail": {"state": ["stopped"]}}, {"detail": {"state": ["running"]}}]' > "$WORK/patterns.json"
ctl_ok test-pattern "$WORK/patterns.json" "$WORK/nomatch.json"
echo '{"detail": {"size": [{"numeric": [">"]}]}}' > "$WORK/broken.json"
ctl test-pattern "$WORK/broken.json" "$WORK/match.json"
assert_eq 2 "$CTL_RC" "test-pattern with an invalid pattern"

# --- exit statuses --------------------------------------------------------------------------------
ctl --url "http://127.0.0.1:$(free_port)" status
assert_eq 3 "$CTL_RC" "trigctl against nothing"
grep -q 'cannot reach trigd at http://127.0.0.1:[0-9]*: is it running?' "$WORK/err" || fail "$(cat "$WORK/err")"
ctl frobnicate
assert_eq 2 "$CTL_RC" "unknown command"
ctl dlq redrive main
assert_eq 2 "$CTL_RC" "redrive without --id or --all"
ctl_ok --help
grep -q '^usage: trigctl' "$WORK/out" || fail "--help"
ctl_ok --version
grep -q '^trigctl [0-9]' "$WORK/out" || fail "--version"

stop_trigd
log "ok"
