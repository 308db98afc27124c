#!/usr/bin/env bash
# minio_redis.sh — the minio source in webhook mode with `redis` configured (durable intake, DESIGN.md §4):
# MinIO's posts (the fixtures, with its headers and bearer token) get 200 only once the event is stored
# (in the intake stream trigd:intake:ROUTE, or already delivered); with Redis down a valid event gets 503
# with Retry-After, never a 4xx (MinIO with a queue_dir would stall behind it); when Redis is back trigd
# answers 200 again without a restart; kill -9 trigd while events are posted and restart it: every event
# that got a 200 reaches the function at least once (duplicates are counted and printed). A listen-mode
# source goes through the intake too: records it reads while Redis is down wait, and flow once it is back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

FIX="$TOP_SRCDIR/tests/fixtures/minio"

# Redis with an append-only file, so that a restart keeps the intake stream and its consumer group.
durable_redis_setup
run_redis
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# A listen-mode source: 3 records, then (once the test says so) 3 more, then the server tells when it sent them.
lrec=$(sed -n 1p "$FIX/listen-stream-ping.ndjson")
{
    for i in 1 2 3; do echo "${lrec//photos\//lst$i\/}"; done
    echo "#wait $WORK/go-listen"
    for i in 4 5 6; do echo "${lrec//photos\//lst$i\/}"; done
    echo "#mark $WORK/listen-sent"
    echo "#hold"
} > "$WORK/stream"
_has_line() { [[ -s "$1" ]]; }
python3 "$TOP_SRCDIR/tests/helpers/minio_listen.py" --stream "$WORK/stream" --access-key AKIDTRIGD \
    --secret-key listen-secret > "$WORK/listen.port" 2> "$WORK/listen.stderr" &
_track $!
_logs+=("$WORK/listen.stderr")
wait_for 10 _has_line "$WORK/listen.port"
export MINIO_ACCESS_KEY=AKIDTRIGD MINIO_SECRET_KEY=listen-secret

start_sink
LISTEN_OUT=$SINK_OUT LISTEN_URL=$SINK_URL
start_sink --delay-ms 5
HTTP_PORT=$(free_port)
export MINIO_TOKEN="s3cr3t-t0ken"
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "$REDIS_URL", "intake_visibility_timeout_ms": 1000, "connect_timeout_ms": 500},
  "state_dir": "$WORK/state",
  "shutdown_timeout_ms": 3000,
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 4},
                "lf": {"type": "http", "url": "$LISTEN_URL/fn"}},
  "sources": {"media": {"type": "minio", "path": "/minio/media", "auth_token_env": "MINIO_TOKEN"},
              "pulled": {"type": "minio", "mode": "listen", "endpoint": "http://127.0.0.1:$(head -n 1 "$WORK/listen.port")",
                         "bucket": "media", "ping_s": 1, "access_key_env": "MINIO_ACCESS_KEY",
                         "secret_key_env": "MINIO_SECRET_KEY"}},
  "routes": {"r": {"source": "media", "function": "f", "retry_base_ms": 50, "retry_max_ms": 200},
             "lr": {"source": "pulled", "function": "lf"}}
}
JSON
start_trigd "$WORK/trigd.json"
STREAM=trigd:intake:r

# minio_post FILE: POST as MinIO's notify_webhook does; prints the status code ("000": no answer).
minio_post() {
    curl -sS -o "$WORK/resp" -D "$WORK/hdrs" -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' -H 'User-Agent: MinIO (linux; amd64) minio-go/v7.0.90' \
        -H "Authorization: Bearer $MINIO_TOKEN" --data-binary "@$1" "$(trigd_url /minio/media)" 2> /dev/null ||
        true
}

# Events of our own: the put fixture with the object key KEY (URL-encoded in the record, raw in Key).
tmpl=$(python3 - "$FIX/webhook-put-unicode-key.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["Key"] = "media/@RAW@"
d["Records"][0]["s3"]["object"]["key"] = "@ENC@"
print(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
PY
)
# event_file NAME: writes the event for object key "NAME" (no characters to encode) to $WORK/ev-NAME.
event_file() {
    local b=${tmpl//@RAW@/$1}
    printf '%s' "${b//@ENC@/$1}" > "$WORK/ev-$1"
}

# What the function received, one "eventName key" per record.
received() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    for r in json.loads(line)["body"]["Records"]:
        print(r["eventName"], r["s3"]["object"]["key"])' "$SINK_OUT" | sort
}
# stored_or_delivered EVENT_NAME KEY: the event is in the intake stream, or the function has it. The stream is
# read first: an entry leaves it only after the function answered, so one of the two must hold.
stored_or_delivered() {
    local enc
    enc=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$2")
    rcli --raw xrange "$STREAM" - + | grep -F "\"key\":$enc" > /dev/null && return 0
    received | grep -xF "$1 $2" > /dev/null
}
_intake_empty() { [[ "$(rcli xlen "$STREAM")" == 0 ]]; }

# --- 1. the fixtures: 200 only once stored, then delivered as Lambda's S3 event -----------------------
fix_key=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Records"][0]["s3"]["object"]["key"])' \
    "$FIX/webhook-put-unicode-key.json")
for f in webhook-put-unicode-key webhook-delete; do
    assert_eq 200 "$(minio_post "$FIX/$f.json")" "$f with Redis up"
    name=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["EventName"])' "$FIX/$f.json")
    stored_or_delivered "$name" "$fix_key" || fail "$f got 200 but is neither in $STREAM nor delivered"
    echo "$name $fix_key" >> "$WORK/acked"
done
wait_sink_lines 2 10
python3 - "$SINK_OUT" "$FIX" << 'PY' || fail "the function did not receive the fixtures' records"
import json, sys
want = {}
for name in ("webhook-put-unicode-key.json", "webhook-delete.json"):
    rec = json.load(open(sys.argv[2] + "/" + name))["Records"][0]
    want[rec["eventName"]] = rec
for line in open(sys.argv[1]):
    body = json.loads(line)["body"]
    assert list(body) == ["Records"] and len(body["Records"]) == 1, body
    rec = body["Records"][0]
    assert rec == want.pop(rec["eventName"]), rec
assert not want, want
PY
wait_for 10 _intake_empty
wait_sink_lines 3 10 "$LISTEN_OUT" # the listen source's first records, while Redis is up
log "fixtures: 200 once stored, delivered as {\"Records\":[...]}, intake emptied"

# --- 2. Redis down: 503 with Retry-After, never 4xx; Redis back: 200 again, no restart ----------------
kill -TERM "$REDIS_PID"
wait_for 10 _gone "$REDIS_PID"
wait "$REDIS_PID" 2> /dev/null || true
_untrack "$REDIS_PID"
for i in 1 2 3; do
    event_file "down-$i"
    code=$(minio_post "$WORK/ev-down-$i")
    assert_eq 503 "$code" "POST $i with Redis down"
    grep -Eqi '^retry-after: *[0-9]+' "$WORK/hdrs" || fail "503 without Retry-After: $(cat "$WORK/hdrs")"
done
log "Redis down: 503 with Retry-After"
touch "$WORK/go-listen"             # the listen source now reads 3 records it cannot store
wait_for 10 _has_line "$WORK/listen-sent"
run_redis
n_back=0
_post_accepted() {
    n_back=$((n_back + 1))
    event_file "back-$n_back"
    local code
    code=$(minio_post "$WORK/ev-back-$n_back")
    [[ $code == 4* ]] && fail "a valid event got $code while Redis came back"
    [[ $code == 200 ]] || return 1
    stored_or_delivered s3:ObjectCreated:Put "back-$n_back" || fail "back-$n_back got 200 but was not stored"
    echo "s3:ObjectCreated:Put back-$n_back" >> "$WORK/acked"
}
wait_for 15 _post_accepted
for i in 1 2 3; do
    event_file "after-$i"
    assert_eq 200 "$(minio_post "$WORK/ev-after-$i")" "POST $i after Redis came back"
    echo "s3:ObjectCreated:Put after-$i" >> "$WORK/acked"
done
log "Redis back: 200 again after $n_back attempt(s), trigd not restarted"
wait_sink_lines 6 10 "$LISTEN_OUT"
python3 - "$LISTEN_OUT" << 'PY' || fail "listen records through the intake"
import json, sys
keys = sorted(json.loads(l)["body"]["Records"][0]["s3"]["object"]["key"].split("%2F")[0] for l in open(sys.argv[1]))
assert keys == ["lst%d" % i for i in range(1, 7)], keys
PY
grep -q 'is lost' "$TRIGD_LOG" && fail "the listen source lost a record while Redis was down"
log "listen mode: records read while Redis was down were delivered once it was back"

# --- 3. kill -9 while events are posted, then restart -----------------------------------------------------
: > "$WORK/load"
# load: POST event load-1, load-2, ... until $WORK/stop exists: the load lasts until the kill and the
# restart are done, however fast or slow the machine is.
load() {
    local i code
    for ((i = 1; i <= 100000; i++)); do
        [[ ! -e "$WORK/stop" ]] || break
        event_file "load-$i"
        code=$(minio_post "$WORK/ev-load-$i")
        echo "$i $code" >> "$WORK/load"
    done
}
n_ok() { awk '$2 == 200 { c++ } END { print c + 0 }' "$WORK/load"; }
_ok_at_least() { (($(n_ok) >= $1)); }
load &
loader=$!
wait_for 90 _ok_at_least 100
kill9_trigd
at_kill=$(n_ok)
log "killed trigd (kill -9) after $at_kill accepted events"
start_trigd "$WORK/trigd.json"
wait_for 90 _ok_at_least $((at_kill + 50)) # the load goes on into the new trigd
touch "$WORK/stop"
wait "$loader"
grep -E " 4[0-9]{2}$" "$WORK/load" > /dev/null && fail "valid events got a 4xx: $(awk '$2 ~ /^4/' "$WORK/load")"
awk '$2 == 200 { print "s3:ObjectCreated:Put load-" $1 }' "$WORK/load" >> "$WORK/acked"
sort -u "$WORK/acked" > "$WORK/acked.sorted"

_all_received() {
    received | uniq > "$WORK/received"
    [[ -z "$(comm -23 "$WORK/acked.sorted" "$WORK/received")" ]]
}
wait_for 90 _all_received
wait_for 30 _intake_empty
received | grep -F " down-" > /dev/null && fail "an event refused with 503 reached the function"
received | uniq -d > "$WORK/dups"
dups=$(wc -l < "$WORK/dups")
if ((dups > 0)); then
    log "delivered more than once (at-least-once after kill -9):"
    sed 's/^/    /' "$WORK/dups"
fi
refused=$(awk '$2 != 200' "$WORK/load" | wc -l)
stop_trigd
log "ok: $(wc -l < "$WORK/acked.sorted") events answered 200, all delivered; $dups duplicate(s); $refused posts refused or unanswered while trigd was down"
