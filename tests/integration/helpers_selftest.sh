#!/usr/bin/env bash
# helpers_selftest.sh — checks lib.sh and the sink helper themselves: redis, mosquitto, the sink's
# answers and records, start/stop of a daemon (a stand-in for trigd), wait_for deadlines, teardown.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

# free_port gives a number, and nothing listens there.
p=$(free_port)
[[ "$p" =~ ^[0-9]+$ ]] || fail "free_port printed '$p'"
if port_open "$p"; then fail "free_port $p is in use"; fi

# wait_for succeeds at once on a true condition and fails after its deadline on a false one.
wait_for 1 true
t0=$(_now_ms)
if (wait_for 0.3 false) 2> /dev/null; then fail "wait_for false succeeded"; fi
dt=$(($(_now_ms) - t0))
((dt >= 300 && dt < 5000)) || fail "wait_for 0.3 false took ${dt} ms"

# skip_or_fail: 77 by hand, 1 in CI.
rc=0; (CI=false skip_or_fail "x" > /dev/null) || rc=$?
assert_eq 77 "$rc" "skip_or_fail without CI"
rc=0; (CI=true skip_or_fail "x" 2> /dev/null) || rc=$?
assert_eq 1 "$rc" "skip_or_fail with CI=true"

# redis
start_redis
assert_eq PONG "$(rcli ping)" "redis ping"
rcli set trigd:selftest 1 > /dev/null
assert_eq 1 "$(rcli get trigd:selftest)" "redis get"
[[ "$REDIS_URL" == "redis://127.0.0.1:$REDIS_PORT" ]] || fail "REDIS_URL=$REDIS_URL"

# mosquitto
start_mosquitto
if command -v mosquitto_pub > /dev/null; then
    mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t selftest -m hi || fail "mosquitto_pub failed"
fi

# sink: records every request, JSON bodies parsed, others as strings.
start_sink
assert_eq 200 "$(post_json "$SINK_URL/fn" '{"hello":"world","n":1}')" "sink status"
assert_eq '{"ok":true}' "$(cat "$WORK/last_response")" "sink default body"
curl -fsS -o /dev/null -d 'not json' "$SINK_URL/other" || fail "plain POST failed"
wait_sink_lines 2 5
assert_eq 2 "$(sink_count)" "sink line count"
l1=$(sink_line 1)
assert_eq world "$(json_get "$l1" 'j["body"]["hello"]')" "recorded body"
assert_eq /fn "$(json_get "$l1" 'j["path"]')" "recorded path"
assert_eq POST "$(json_get "$l1" 'j["method"]')" "recorded method"
assert_eq application/json "$(json_get "$l1" 'j["headers"]["content-type"]')" "recorded header"
assert_eq "not json" "$(json_get "$(sink_line 2)" 'j["body"]')" "recorded string body"
assert_eq 2 "$(curl -fsS "$SINK_URL/_sink/count")" "/_sink/count"
stop_process "$SINK_PID" 10
assert_eq 0 "$STOP_RC" "sink exit status after SIGTERM"

# throttles first, then failures, then poison records, then partial answers.
start_sink --throttle-first 1 --fail-first 1 --fail-when-contains POISON --partial-ids a,b
hdrs=$(curl -sS -D - -o /dev/null -d '{}' "$SINK_URL/")
[[ "$hdrs" == *" 429 "* ]] || fail "first answer is not 429: $hdrs"
grep -qi '^retry-after: 1' <<< "$hdrs" || fail "429 without Retry-After: $hdrs"
assert_eq 500 "$(post_json "$SINK_URL/" '{}')" "fail-first"
assert_eq 500 "$(post_json "$SINK_URL/" '{"x":"POISON"}')" "fail-when-contains"
assert_eq 200 "$(post_json "$SINK_URL/" '{}')" "partial status"
assert_eq '["a","b"]' \
    "$(json_get "$(cat "$WORK/last_response")" '[i["itemIdentifier"] for i in j["batchItemFailures"]]')" \
    "partial ids"
wait_sink_lines 4 5
assert_eq 429 "$(json_get "$(sink_line 1)" 'j["status"]')" "recorded status"

# --status, --body and --delay-ms
start_sink --status 202 --body '{"done":1}' --delay-ms 200
t0=$(_now_ms)
assert_eq 202 "$(post_json "$SINK_URL/" '{}')" "--status"
(($(_now_ms) - t0 >= 200)) || fail "--delay-ms 200 answered early"
assert_eq '{"done":1}' "$(cat "$WORK/last_response")" "--body"

# the gate: --hold records requests and holds them open until /_sink/release; "open" in a record lists
# the requests open at its receipt, /_sink/open and /_sink/max_open count them; /_sink/hold closes it again.
start_sink --hold
post_json "$SINK_URL/a" '{"i":1}' > "$WORK/held1.code" &
held1=$!
wait_sink_open 1
post_json "$SINK_URL/b" '{"i":2}' > "$WORK/held2.code" &
held2=$!
wait_sink_open 2
assert_eq 2 "$(sink_count)" "held requests are recorded at receipt"
if ! kill -0 "$held1" 2> /dev/null || ! kill -0 "$held2" 2> /dev/null; then
    fail "a request was answered while held"
fi
assert_eq '[1]' "$(json_get "$(sink_line 2)" 'j["open"]')" "requests open at the second one's receipt"
assert_eq ok "$(sink_ctl release)" "/_sink/release"
wait "$held1" "$held2"
assert_eq 200200 "$(cat "$WORK/held1.code" "$WORK/held2.code" | tr -d '\n')" "held requests' answers"
assert_eq 200 "$(post_json "$SINK_URL/c" '{"i":3}')" "a request after the release is not held"
assert_eq '[]' "$(json_get "$(sink_line 3)" 'j["open"]')" "nothing open after the release"
assert_eq 0 "$(sink_ctl open)" "/_sink/open after the release"
assert_eq 2 "$(sink_ctl max_open)" "/_sink/max_open"
assert_eq ok "$(sink_ctl hold)" "/_sink/hold"
post_json "$SINK_URL/d" '{"i":4}' > /dev/null &
held4=$!
wait_sink_open 1
stop_process "$SINK_PID" 10 # a held request is answered at exit
assert_eq 0 "$STOP_RC" "sink exit status with a held request"
wait "$held4"

# count-only: compact lines with the send time found anywhere in the body, even escaped.
start_sink --count-only
post_json "$SINK_URL/" '{"body":"{\"sent_ms\":1234}"}' > /dev/null
post_json "$SINK_URL/" '{"nothing":1}' > /dev/null
wait_sink_lines 2 5
assert_eq 1234 "$(json_get "$(sink_line 1)" 'j["sent_ms"]')" "count-only sent_ms"
assert_eq None "$(json_get "$(sink_line 2)" 'str(j["sent_ms"])')" "count-only without sent_ms"
# --sent-key and --count: the first number after another key, and how often a text occurs.
start_sink --count-only --sent-key '"timestamp":' --count '"offset":'
post_json "$SINK_URL/" '{"records":{"t-0":[{"offset":1,"timestamp":77},{"offset":2,"timestamp":78}]}}' > /dev/null
wait_sink_lines 1 5
assert_eq 77 "$(json_get "$(sink_line 1)" 'j["sent_ms"]')" "--sent-key"
assert_eq 2 "$(json_get "$(sink_line 1)" 'j["count"]')" "--count"

# start_trigd/stop_trigd against a stand-in daemon that serves /healthz and exits 0 on SIGTERM.
cat > "$WORK/fake-trigd" << 'EOF'
#!/usr/bin/env python3
import http.server, json, signal, sys
cfg = json.load(open(sys.argv[sys.argv.index("-c") + 1]))
port = int(cfg["http"]["listen"].rsplit(":", 1)[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("listening", flush=True)
srv.serve_forever()
EOF
chmod +x "$WORK/fake-trigd"
HTTP_PORT=$(free_port)
printf '{"http":{"listen":"127.0.0.1:%s"}}\n' "$HTTP_PORT" > "$WORK/fake.json"
unset HTTP_PORT # start_trigd reads it from the config
TRIGD="$WORK/fake-trigd" start_trigd "$WORK/fake.json"
curl -fsS "$(trigd_url /healthz)" || fail "healthz after start_trigd"
stop_trigd
_gone "$TRIGD_PID" || fail "stand-in still running after stop_trigd"

log "ok"
