#!/usr/bin/env bash
# minio_listen.sh — the minio source in listen mode against tests/helpers/minio_listen.py, a stand-in
# for MinIO's ListenBucketNotification API: space keep-alives, {"Records":null} pings and a line that
# is not a notification are skipped; raw keys are URL-encoded so the function gets exactly the event
# webhook mode gives for the same object; prefix filters; after a dropped connection trigd reconnects
# and goes on; every request carries a valid SigV4 signature for the configured key and region (and a
# wrong secret is refused with 403 and retried).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

FIX="$TOP_SRCDIR/tests/fixtures/minio"
put_line=$(sed -n 1p "$FIX/listen-stream-ping.ndjson")
del_line=$(grep 'ObjectRemoved' "$FIX/listen-stream-ping.ndjson")
other_line=${put_line//photos\//other\/}
cat > "$WORK/stream" << EOF
#spaces 5
{"Records":null}
not a notification
$other_line
#spaces 3
$put_line
{"Records":null}
#drop
#wait $WORK/go2
#spaces 2
{"Records":null}
$del_line
#hold
EOF

_has_line() { [[ -s "$1" ]]; }
# start_listen NAME SECRET: a minio_listen.py server (from the source tree); sets LISTEN_PORT.
start_listen() {
    python3 "$TOP_SRCDIR/tests/helpers/minio_listen.py" --stream "$WORK/stream" --access-key AKIDTRIGD \
        --secret-key "$2" --region eu-west-1 --record "$WORK/$1.requests" > "$WORK/$1.port" \
        2> "$WORK/$1.stderr" &
    _track $!
    _logs+=("$WORK/$1.stderr")
    wait_for 10 _has_line "$WORK/$1.port"
    LISTEN_PORT=$(head -n 1 "$WORK/$1.port")
}
start_listen good "minio-secret/key+1"
GOOD_PORT=$LISTEN_PORT
start_listen bad "the-server-secret"
BAD_PORT=$LISTEN_PORT

start_sink
HTTP_PORT=$(free_port)
export MINIO_ACCESS_KEY=AKIDTRIGD MINIO_SECRET_KEY="minio-secret/key+1"
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"fn": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {
    "media": {"type": "minio", "mode": "listen", "endpoint": "http://127.0.0.1:$GOOD_PORT/",
              "bucket": "media", "events": ["s3:ObjectRemoved:*", "s3:ObjectCreated:*"],
              "prefix": "photos/", "ping_s": 1, "reconnect_max_ms": 1000, "region": "eu-west-1",
              "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"},
    "wrongkey": {"type": "minio", "mode": "listen", "endpoint": "http://127.0.0.1:$BAD_PORT",
                 "reconnect_max_ms": 1000, "region": "eu-west-1",
                 "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"}
  },
  "routes": {
    "r": {"source": "media", "function": "fn"},
    "w": {"source": "wrongkey", "function": "fn"}
  }
}
JSON
start_trigd "$WORK/trigd.json"
grep -q 'best effort' "$TRIGD_LOG" || fail "listen mode did not say at start that it is best effort"

# --- session 1: keep-alives, a ping, a bad line, a record outside the prefix, then the put ------------
wait_sink_lines 1 10
python3 - "$(sink_line 1)" "$FIX/webhook-put-unicode-key.json" << 'PY' || fail "listen event differs from the webhook one"
import json, sys
got = json.loads(sys.argv[1])["body"]
want = json.load(open(sys.argv[2]))["Records"]
assert got == {"Records": want}, got
PY
log "the put arrived as webhook mode delivers it (key URL-encoded)"

# --- the server dropped the connection: trigd reconnects, and the next session delivers ---------------
_requests() { (($(wc -l < "$WORK/good.requests") >= $1)); }
wait_for 10 _requests 2
touch "$WORK/go2"
wait_sink_lines 2 10
python3 - "$(sink_line 2)" "$FIX/webhook-delete.json" << 'PY' || fail "delete event after reconnect"
import json, sys
got = json.loads(sys.argv[1])["body"]
want = json.load(open(sys.argv[2]))["Records"]
assert got == {"Records": want}, got
PY
grep -q 'skipped a line of the listen stream' "$TRIGD_LOG" || fail "the bad line was not reported"
assert_eq 2 "$(sink_count)" "deliveries (the record outside the prefix must be dropped)"

# --- every request was signed for the key and region, and asked for what the config says -------------
python3 - "$WORK/good.requests" << 'PY' || fail "listen requests are not as expected"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
for r in reqs:
    assert r["signature_error"] is None, r
    assert "Credential=AKIDTRIGD/" in r["authorization"] and "/eu-west-1/s3/aws4_request" in r["authorization"], r
    assert r["path"] == "/media", r
    q = r["query"]
    assert sorted(q["events"]) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], q
    assert q["ping"] == ["1"] and q["prefix"] == ["photos/"], q
PY

# --- a wrong secret: 403, reported with what to check, and retried -----------------------------------
_bad_retried() { (($(wc -l < "$WORK/bad.requests") >= 2)); }
wait_for 10 _bad_retried
python3 - "$WORK/bad.requests" << 'PY' || fail "the wrong-key requests"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["signature_error"] == "signature does not match" for r in reqs), reqs
assert all(r["path"] == "/" for r in reqs), reqs
PY
grep -q 'answered 403 (check access_key, secret_key and region)' "$TRIGD_LOG" || fail "403 not reported"
grep -q 'minio-secret' "$TRIGD_LOG" && fail "the secret key appears in the log"
code=$(curl -s -o /dev/null -w '%{http_code}' "$(trigd_url /readyz)")
assert_eq 503 "$code" "readyz while a listen source cannot connect"

stop_trigd
log "ok"
