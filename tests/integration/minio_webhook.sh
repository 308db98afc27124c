#!/usr/bin/env bash
# minio_webhook.sh — the minio source in webhook mode, posted to with curl exactly as MinIO's
# notify_webhook target posts (headers, bearer token, the shared fixtures): the function receives
# Lambda's S3 event {"Records":[<MinIO's record>]} with the key still URL-encoded (spaces, '+' and
# UTF-8 survive), delete events without size/eTag and records with requestParameters null work,
# source filters drop what they should; wrong token 401, bad bodies 400 with the reason, HEAD 200,
# a full route 503 with Retry-After.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

FIX="$TOP_SRCDIR/tests/fixtures/minio"
start_sink
FAST_OUT=$SINK_OUT FAST_URL=$SINK_URL
start_sink
FILT_OUT=$SINK_OUT FILT_URL=$SINK_URL
start_sink --hold # the full route's function never answers: the route stays full, on any machine
SLOW_URL=$SINK_URL
HTTP_PORT=$(free_port)
export MINIO_TOKEN="s3cr3t-t0ken"
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {
    "fast": {"type": "http", "url": "$FAST_URL/fn"},
    "filt": {"type": "http", "url": "$FILT_URL/fn"},
    "slow": {"type": "http", "url": "$SLOW_URL/fn", "timeout_ms": 600000, "max_concurrency": 1}
  },
  "sources": {
    "media": {"type": "minio", "path": "/minio/media", "auth_token_env": "MINIO_TOKEN"},
    "deletes": {"type": "minio", "path": "/minio/deletes", "events": ["s3:ObjectRemoved:*"],
                "prefix": "photos/", "suffix": ".jpg"},
    "busy": {"type": "minio", "path": "/minio/busy"}
  },
  "routes": {
    "thumbs": {"source": "media", "function": "fast"},
    "cleanup": {"source": "deletes", "function": "filt"},
    "full": {"source": "busy", "function": "slow", "max_queued_events": 2}
  }
}
JSON
start_trigd "$WORK/trigd.json"

# minio_post PATH FILE [TOKEN]: POST as MinIO does; prints the status code.
minio_post() {
    local auth=()
    [[ -n "${3:-}" ]] && auth=(-H "Authorization: Bearer $3")
    curl -sS -o "$WORK/resp" -D "$WORK/hdrs" -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' -H 'User-Agent: MinIO (linux; amd64) minio-go/v7.0.90' \
        "${auth[@]}" --data-binary "@$2" "$(trigd_url "$1")" || true
}

# --- the fixtures reach the function as Lambda's S3 event -------------------------------------------
assert_eq 200 "$(minio_post /minio/media "$FIX/webhook-put-unicode-key.json" "$MINIO_TOKEN")" "put fixture"
assert_eq 200 "$(minio_post /minio/media "$FIX/webhook-delete.json" "$MINIO_TOKEN")" "delete fixture"
wait_sink_lines 2 10 "$FAST_OUT"
python3 - "$FAST_OUT" "$FIX" << 'PY' || fail "the function did not receive the fixtures' records"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = {}
for name in ("webhook-put-unicode-key.json", "webhook-delete.json"):
    rec = json.load(open(sys.argv[2] + "/" + name))["Records"][0]
    want[rec["eventName"]] = rec
for l in lines:
    body = l["body"]
    assert list(body) == ["Records"] and len(body["Records"]) == 1, body
    rec = body["Records"][0]
    assert rec == want.pop(rec["eventName"]), rec
    key = rec["s3"]["object"]["key"]
    assert key == "photos%2F%C3%89t%C3%A9+2025%2Fcr%C3%A8me+br%C3%BBl%C3%A9e+%2B+caf%C3%A9.jpg", key
    if rec["eventName"] == "s3:ObjectRemoved:Delete":
        assert "size" not in rec["s3"]["object"] and "eTag" not in rec["s3"]["object"], rec
assert not want, want
PY
log "fixtures delivered as {\"Records\":[...]} with the key URL-encoded"

# An internal event (lifecycle expiry): requestParameters null, no size or eTag.
python3 - "$FIX/webhook-delete.json" > "$WORK/lifecycle.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["Records"][0]
r["eventName"] = d["EventName"] = "s3:LifecycleDelMarkerExpiration:Delete"
r["requestParameters"] = None
r["s3"]["object"]["key"] = "a+b%2Bc+d"
d["Key"] = "media/a b+c d"
print(json.dumps(d, separators=(",", ":")))
PY
assert_eq 200 "$(minio_post /minio/media "$WORK/lifecycle.json" "$MINIO_TOKEN")" "requestParameters null"
wait_sink_lines 3 10 "$FAST_OUT"
rec=$(json_get "$(sink_line 3 "$FAST_OUT")" 'j["body"]["Records"][0]')
assert_eq null "$(json_get "$rec" 'j["requestParameters"]')" "requestParameters"
assert_eq 'a+b%2Bc+d' "$(json_get "$rec" 'j["s3"]["object"]["key"]')" "key with space and +"

# --- refusals --------------------------------------------------------------------------------------
assert_eq 401 "$(minio_post /minio/media "$FIX/webhook-delete.json" wrong-token)" "wrong token"
assert_eq 401 "$(minio_post /minio/media "$FIX/webhook-delete.json")" "no token"
grep -q "$MINIO_TOKEN" "$TRIGD_LOG" && fail "the token appears in the log"
printf 'not json' > "$WORK/bad1"
assert_eq 400 "$(minio_post /minio/media "$WORK/bad1" "$MINIO_TOKEN")" "body not JSON"
grep -q 'not JSON' "$WORK/resp" || fail "400 without the reason: $(cat "$WORK/resp")"
printf '{"EventName":"s3:ObjectCreated:Put","Key":"b/k"}' > "$WORK/bad2"
assert_eq 400 "$(minio_post /minio/media "$WORK/bad2" "$MINIO_TOKEN")" "no Records"
grep -q 'Records' "$WORK/resp" || fail "400 without the reason: $(cat "$WORK/resp")"
printf '{"EventName":"x","Key":"b/k","Records":[{"eventName":"x"}]}' > "$WORK/bad3"
assert_eq 400 "$(minio_post /minio/media "$WORK/bad3" "$MINIO_TOKEN")" "record without s3"
grep -q 'refused a POST .* with 400' "$TRIGD_LOG" || fail "a 400 was not logged"
code=$(curl -sS -o /dev/null -w '%{http_code}' -I -H "Authorization: Bearer $MINIO_TOKEN" \
    "$(trigd_url /minio/media)")
assert_eq 200 "$code" "HEAD"
code=$(curl -sS -o /dev/null -w '%{http_code}' -I "$(trigd_url /minio/busy)")
assert_eq 200 "$code" "HEAD without a token configured"
assert_eq 3 "$(sink_count "$FAST_OUT")" "refused requests reached the function"

# --- source filters: events, prefix, suffix on the decoded key --------------------------------------
assert_eq 200 "$(minio_post /minio/deletes "$FIX/webhook-put-unicode-key.json")" "filtered put"
python3 - "$FIX/webhook-delete.json" > "$WORK/png.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["Records"][0]["s3"]["object"]["key"] = "photos%2Fx.png"
print(json.dumps(d))
PY
assert_eq 200 "$(minio_post /minio/deletes "$WORK/png.json")" "filtered suffix"
assert_eq 200 "$(minio_post /minio/deletes "$FIX/webhook-delete.json")" "matching delete"
wait_sink_lines 1 10 "$FILT_OUT"
assert_eq "$(json_get "$(sink_line 1 "$FILT_OUT")" 'j["body"]["Records"][0]["eventName"]')" \
    "s3:ObjectRemoved:Delete" "the filtered source passed on"

# --- a full route answers 503 with Retry-After, never 4xx --------------------------------------------
n=0 code=200
while ((n < 20)) && [[ $code == 200 ]]; do
    n=$((n + 1))
    code=$(minio_post /minio/busy "$FIX/webhook-put-unicode-key.json")
done
assert_eq 503 "$code" "POST $n to a full route"
grep -Eqi '^retry-after: *[0-9]+' "$WORK/hdrs" || fail "503 without Retry-After: $(cat "$WORK/hdrs")"
((n >= 2)) || fail "the first POST to an empty route was refused"
[[ "$(sink_count "$FAST_OUT")" == 3 && "$(sink_count "$FILT_OUT")" == 1 ]] || fail "extra deliveries"

sink_ctl release "$SLOW_URL" > /dev/null # let the full route drain, so that trigd stops at once
stop_trigd
log "ok"
