#!/usr/bin/env bash
# hostile_secrets.sh — passwords in URLs never reach a log line or an error, and --check-config refuses a
# redis.url it cannot use (scheme, host, port, db, a user without a password) with exit 2, naming
# $.redis.url and showing the URL redacted. At run time: a Redis that refuses the connection and an HTTP
# function whose URL carries userinfo and a token are logged with *** in place of the secrets.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

SECRET="pw-$RANDOM$RANDOM"
HTTP_PORT=$(free_port)
CLOSED=$(free_port) # nothing listens there

config() { # config REDIS_URL FUNCTION_URL ("" REDIS_URL: no redis)
    local redis=""
    [[ -z "$1" ]] || redis="\"redis\": {\"url\": \"$1\"},"
    cat << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  $redis
  "dlq": {"backend": "file"},
  "functions": {"f": {"type": "http", "url": "$2", "timeout_ms": 2000}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "f", "max_retry_attempts": 0}}
}
JSON
}

# --- --check-config: each of these is refused, the password never shown -------------------------
n=0
for url in "redis://:$SECRET@" "http://:$SECRET@127.0.0.1:6379" "redis://:$SECRET@127.0.0.1:99999" \
    "redis://:$SECRET@127.0.0.1:0" "redis://:$SECRET@127.0.0.1:6379/db1" "redis://:$SECRET@127.0.0.1:6379?x=1" \
    "redis://nopassword@127.0.0.1:6379" "rediss://:$SECRET@127.0.0.1"; do
    n=$((n + 1))
    config "$url" "http://127.0.0.1:$CLOSED/fn" > "$WORK/bad-$n.json"
    rc=0
    "$TRIGD" --check-config -c "$WORK/bad-$n.json" > "$WORK/bad-$n.out" 2>&1 || rc=$?
    assert_eq 2 "$rc" "--check-config exit status for redis.url $url"
    grep -q '\$\.redis\.url: ' "$WORK/bad-$n.out" || fail "no \$.redis.url error for $url: $(cat "$WORK/bad-$n.out")"
    if grep -q -- "$SECRET" "$WORK/bad-$n.out"; then fail "the password is shown: $(cat "$WORK/bad-$n.out")"; fi
done
config "redis://:$SECRET@127.0.0.1:$CLOSED/3" "http://127.0.0.1:$CLOSED/fn" > "$WORK/good.json"
"$TRIGD" --check-config -c "$WORK/good.json" > "$WORK/good.out" 2>&1 || fail "a good redis.url is refused: $(cat "$WORK/good.out")"

# --- run time: Redis refuses the connection -----------------------------------------------------------
config "redis://:$SECRET@127.0.0.1:$CLOSED/3" "http://127.0.0.1:$CLOSED/fn" > "$WORK/redis.json"
start_trigd "$WORK/redis.json"
_redis_refused() { grep -q '\[redis.*cannot connect' "$TRIGD_LOG"; }
wait_for 20 _redis_refused
stop_trigd
if grep -q -- "$SECRET" "$TRIGD_LOG"; then fail "a secret reached the log: $(grep -m1 -- "$SECRET" "$TRIGD_LOG")"; fi

# --- run time: the function's URL carries userinfo and a token ----------------------------------------
config "" "http://fnuser:$SECRET@127.0.0.1:$CLOSED/fn?token=$SECRET&x=1" > "$WORK/run.json"
start_trigd "$WORK/run.json"
assert_eq 202 "$(post_json "$(trigd_url /in)" '{"n":1}')" "POST"
_post_failed() { grep -q 'POST http://fnuser:\*\*\*@127.0.0.1' "$TRIGD_LOG"; }
wait_for 20 _post_failed
grep -q 'token=\*\*\*&x=1' "$TRIGD_LOG" || fail "the token in the function's URL is not redacted"
stop_trigd
if grep -q -- "$SECRET" "$TRIGD_LOG"; then fail "a secret reached the log: $(grep -m1 -- "$SECRET" "$TRIGD_LOG")"; fi
log "ok"
