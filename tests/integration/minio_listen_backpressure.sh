#!/usr/bin/env bash
# minio_listen_backpressure.sh — listen mode when its route is full (max_queued_events 2, a slow function)
# while the listen stream keeps sending (9 MB of records, some lines with several records, pings between):
# the source pauses (the transfer stops being read, so the server blocks in the middle of its stream) and
# resumes as the route drains; trigd does not crash, and every record it read reaches the function, once.
# (Listen mode is best effort against MinIO, which drops events for slow readers; this stand-in server does
# not drop, so here everything sent is read.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

FIX="$TOP_SRCDIR/tests/fixtures/minio"
N_LINES=120
# The stream: N_LINES lines of ~64 KB records (every 10th line holds 3 records), pings and keep-alives
# between, then a mark (the time the server got past the last record), then the connection is held.
python3 - "$FIX/listen-stream-ping.ndjson" "$N_LINES" "$WORK/stream" "$WORK/sent" "$WORK/expected" << 'PY'
import copy, json, sys
rec = json.loads(open(sys.argv[1]).readline())["Records"][0]
n_lines = int(sys.argv[2])
k = 0
with open(sys.argv[3], "w") as out, open(sys.argv[5], "w") as exp:
    for i in range(n_lines):
        recs = []
        for _ in range(3 if i % 10 == 9 else 1):
            k += 1
            r = copy.deepcopy(rec)
            r["s3"]["object"]["key"] = "bp/%d" % k
            r["s3"]["object"]["userMetadata"]["X-Amz-Meta-Pad"] = "x" * 65536
            recs.append(r)
            exp.write("bp%%2F%d\n" % k)
        out.write(json.dumps({"Records": recs}, separators=(",", ":")) + "\n")
        if i % 25 == 0:
            out.write('{"Records":null}\n#spaces 2\n')
    out.write("#mark %s\n#hold\n" % sys.argv[4])
PY
sort "$WORK/expected" -o "$WORK/expected"
N=$(wc -l < "$WORK/expected")

_has_line() { [[ -s "$1" ]]; }
python3 "$TOP_SRCDIR/tests/helpers/minio_listen.py" --stream "$WORK/stream" --access-key AKIDTRIGD \
    --secret-key "listen-secret" --record "$WORK/requests" > "$WORK/listen.port" 2> "$WORK/listen.stderr" &
_track $!
_logs+=("$WORK/listen.stderr")
wait_for 10 _has_line "$WORK/listen.port"
LISTEN_PORT=$(head -n 1 "$WORK/listen.port")

start_sink --delay-ms 30
HTTP_PORT=$(free_port)
export MINIO_ACCESS_KEY=AKIDTRIGD MINIO_SECRET_KEY="listen-secret"
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"fn": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": 1}},
  "sources": {
    "media": {"type": "minio", "mode": "listen", "endpoint": "http://127.0.0.1:$LISTEN_PORT",
              "bucket": "media", "ping_s": 1, "reconnect_max_ms": 1000,
              "access_key_env": "MINIO_ACCESS_KEY", "secret_key_env": "MINIO_SECRET_KEY"}
  },
  "routes": {"r": {"source": "media", "function": "fn", "max_queued_events": 2}}
}
JSON
start_trigd "$WORK/trigd.json"

# source_paused: "true" or "false", as /admin/status reports the source.
source_paused() {
    curl -fsS --max-time 2 "$(trigd_url /admin/status)" |
        python3 -c 'import json, sys
print(str([s for s in json.load(sys.stdin)["sources"] if s["name"] == "media"][0]["paused"]).lower())'
}
_paused() { [[ "$(source_paused)" == true ]]; }
wait_for 10 _paused
log "the full route paused the source"

delivered_keys() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    for r in json.loads(line)["body"]["Records"]:
        print(r["s3"]["object"]["key"])' "$SINK_OUT" | sort
}
_alive_and_delivered() {
    kill -0 "$TRIGD_PID" 2> /dev/null || fail "trigd died under backpressure"
    (($(sink_count) >= N))
}
wait_for 120 _alive_and_delivered # 132 calls of 30 ms one at a time: a deadline for a slow machine
delivered_keys > "$WORK/delivered"
[[ -z "$(comm -3 "$WORK/expected" "$WORK/delivered")" ]] ||
    fail "delivered records differ from those sent: $(comm -3 "$WORK/expected" "$WORK/delivered" | head -5)"
assert_eq "$N" "$(sink_count)" "invocations (one record each, none twice)"

# The server got past its last record only after the function had received many: trigd stopped reading
# (paused the transfer) while the route was full, and read on as it drained.
wait_for 15 _has_line "$WORK/sent"
sent_ms=$(cat "$WORK/sent")
before=$(python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["t_ms"] < int(sys.argv[2])))' "$SINK_OUT" "$sent_ms")
log "the server finished sending after $before of $N records were delivered"
((before >= 10)) || fail "the stream was not held back: only $before of $N delivered when the server finished"

_unpaused() { [[ "$(source_paused)" == false ]]; }
wait_for 15 _unpaused
assert_eq 1 "$(wc -l < "$WORK/requests")" "listen connections (no reconnect under backpressure)"
grep -Eq 'exceeds|out of memory|lost' "$TRIGD_LOG" && fail "trigd reported a problem under backpressure"
stop_trigd
log "ok: $N records through a full route, paused and resumed, none lost or doubled"
