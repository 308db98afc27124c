#!/usr/bin/env bash
# reload.sh — SIGHUP under load: while a background loop POSTs 300 events, the config is rewritten
# (the route's batch_size, the function's url moved to a second sink, a second source and route
# added) and reloaded. No POST fails (503 is tolerated and counted), every accepted event reaches
# one of the sinks exactly once, the new route works, the pid never changes. A bad config is refused
# with its errors logged and the running one keeps working; removing a route (and its source) makes
# its path answer 404.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

start_sink --status 200
A_OUT=$SINK_OUT A_URL=$SINK_URL
start_sink --status 200
B_OUT=$SINK_OUT B_URL=$SINK_URL
start_sink --status 200
C_OUT=$SINK_OUT C_URL=$SINK_URL

HTTP_PORT=$(free_port)
CONF="$WORK/trigd.json"

# write_conf STAGE: the config of one stage, written atomically to $CONF.
#   1: fn -> sink A, route r (batch_size 1)
#   2: fn -> sink B, route r (batch_size 5, window 1 s), plus source in2 -> route r2 -> fn2 (sink C)
#   3: as 2 without source in2 and route r2
#   bad: as 2 with errors
write_conf() {
    python3 - "$CONF.tmp" "$1" "$HTTP_PORT" "$WORK" "$A_URL" "$B_URL" "$C_URL" << 'EOF'
import json, sys
out, stage, port, work, a, b, c_url = sys.argv[1:]
c = {
    "http": {"listen": "127.0.0.1:%s" % port},
    "state_dir": work + "/state",
    "functions": {"fn": {"type": "http", "url": a + "/fn", "timeout_ms": 10000, "max_concurrency": 4}},
    "sources": {"in": {"type": "webhook", "path": "/hooks/in"}},
    "routes": {"r": {"source": "in", "function": "fn", "batch_size": 1}},
}
if stage in ("2", "3", "bad"):
    c["functions"]["fn"]["url"] = b + "/fn"
    c["routes"]["r"]["batch_size"] = 5
    c["routes"]["r"]["batch_window_ms"] = 1000
if stage in ("2", "bad"):
    c["functions"]["fn2"] = {"type": "http", "url": c_url + "/fn2", "timeout_ms": 10000}
    c["sources"]["in2"] = {"type": "webhook", "path": "/hooks/in2"}
    c["routes"]["r2"] = {"source": "in2", "function": "fn2"}
if stage == "bad":
    c["routes"]["r"]["batch_size"] = 0
    c["routes"]["r2"]["colour"] = "red"
json.dump(c, open(out, "w"), indent=2)
EOF
    mv "$CONF.tmp" "$CONF"
}

_count_in_log() { grep -c -- "$1" "$TRIGD_LOG" || true; }
_log_count_above() { (($(_count_in_log "$1") > $2)); }

# reload: SIGHUP and wait for the outcome line (applied or refused); sets RELOADS/REFUSALS.
RELOADS=0
REFUSALS=0
reload_ok() {
    kill -HUP "$TRIGD_PID"
    wait_for 10 _log_count_above "reloaded $CONF" "$RELOADS"
    RELOADS=$((RELOADS + 1))
}
reload_refused() {
    kill -HUP "$TRIGD_PID"
    wait_for 10 _log_count_above "keeping the running one" "$REFUSALS"
    REFUSALS=$((REFUSALS + 1))
}

write_conf 1
start_trigd "$CONF"
PID0=$TRIGD_PID

# --- the load: 300 POSTs in the background, each status recorded as "SEQ CODE" ------------------
STATUS="$WORK/status.txt"
: > "$STATUS"
loader() {
    local i code
    for ((i = 1; i <= 300; i++)); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
            --data-binary "{\"seq\":$i}" "$(trigd_url /hooks/in)" 2> /dev/null || true)
        echo "$i $code" >> "$STATUS"
    done
}
loader &
LOADER_PID=$!
_track "$LOADER_PID"

_status_lines_at_least() { (($(wc -l < "$STATUS") >= $1)); }
# Deadlines for a slow machine: 300 curls under an ASan trigd may take a minute or more there.
wait_for 120 _status_lines_at_least 100
write_conf 2
reload_ok
at_reload=$(wc -l < "$STATUS" | tr -d ' ')
log "reloaded after $at_reload POSTs"
wait_for 240 _gone "$LOADER_PID"
wait "$LOADER_PID" || true
_untrack "$LOADER_PID"
assert_eq 300 "$(wc -l < "$STATUS" | tr -d ' ')" "POSTs made"
((at_reload < 290)) || log "warning: the reload came late in the load ($at_reload of 300)"

# --- no POST failed; every accepted event reached A or B exactly once -----------------------------
n202=$(awk '$2 == 202' "$STATUS" | wc -l | tr -d ' ')
n503=$(awk '$2 == 503' "$STATUS" | wc -l | tr -d ' ')
other=$(awk '$2 != 202 && $2 != 503' "$STATUS")
[[ -z "$other" ]] || fail "POSTs that failed with something else than 503 during the reload:
$(head -n 20 <<< "$other")"
log "load: $n202 accepted, $n503 answered 503"
((n503 == 0)) || log "note: $n503 POSTs were answered 503 during the reload"

# delivered SINK_FILE...: "SEQ" lines of every event recorded (single events and batches).
delivered() {
    python3 - "$@" << 'EOF'
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        body = json.loads(line)["body"]
        events = body["records"] if isinstance(body, dict) and "records" in body else [body]
        for ev in events:
            print(json.loads(ev["body"])["seq"])
EOF
}
_all_delivered() {
    (($(delivered "$A_OUT" "$B_OUT" | wc -l) >= n202))
}
wait_for 60 _all_delivered
wait_route_idle 15 r # negative check: no duplicate can arrive late
awk '$2 == 202 { print $1 }' "$STATUS" | sort -n > "$WORK/accepted.txt"
delivered "$A_OUT" "$B_OUT" | sort -n > "$WORK/delivered.txt"
dups=$(uniq -d "$WORK/delivered.txt" | head -n 10 | tr '\n' ' ')
[[ -z "$dups" ]] || fail "events delivered more than once: $dups"
missing=$(comm -23 "$WORK/accepted.txt" "$WORK/delivered.txt" | head -n 10 | tr '\n' ' ')
[[ -z "$missing" ]] || fail "accepted events that never reached a sink: $missing"
extra=$(comm -13 "$WORK/accepted.txt" "$WORK/delivered.txt" | head -n 10 | tr '\n' ' ')
[[ -z "$extra" ]] || fail "refused events that reached a sink: $extra"
(($(sink_count "$A_OUT") > 0)) || fail "sink A got nothing before the reload"
(($(sink_count "$B_OUT") > 0)) || fail "sink B (the new url) got nothing after the reload"
last_seq=$(delivered "$A_OUT" | sort -n | tail -n 1)
log "sink A got events up to $last_seq, sink B the rest"

# The new batch_size (5, 1 s window) is in force: 5 quick events arrive as one batch of 5 on B.
b_before=$(sink_count "$B_OUT")
for i in 1001 1002 1003 1004 1005; do
    assert_eq 202 "$(post_json "$(trigd_url /hooks/in)" "{\"seq\":$i}")" "event $i after the reload"
done
wait_sink_lines $((b_before + 1)) 10 "$B_OUT"
batch=$(sink_line $((b_before + 1)) "$B_OUT")
assert_eq 5 "$(json_get "$batch" 'len(j["body"].get("records", [j["body"]]))')" \
    "events in the first batch after the reload (batch_size 5)"

# The new route works.
assert_eq 202 "$(post_json "$(trigd_url /hooks/in2)" '{"seq":2001}')" "POST to the new source"
wait_sink_lines 1 10 "$C_OUT"
assert_eq /fn2 "$(json_get "$(sink_line 1 "$C_OUT")" 'j["path"]')" "the new function's path"
assert_eq '{"seq":2001}' "$(json_get "$(sink_line 1 "$C_OUT")" 'j["body"]["body"]')" "the new route's event"

# Same process all along.
kill -0 "$PID0" 2> /dev/null || fail "trigd (pid $PID0) is gone after the reload"
assert_eq 1 "$(_count_in_log ' started with ')" "start-up lines in the log (a restart?)"

# --- a bad config is refused; the running one keeps working ------------------------------------------
write_conf bad
reload_refused
grep -q "$CONF: \\\$\\.routes\\.r\\.batch_size: " "$TRIGD_LOG" || fail "the reload's batch_size error is not logged"
grep -q "$CONF: \\\$\\.routes\\.r2\\.colour: unknown key" "$TRIGD_LOG" || fail "the reload's unknown key is not logged"
kill -0 "$PID0" 2> /dev/null || fail "trigd exited on a bad config"
b_before=$(sink_count "$B_OUT")
for i in 3001 3002 3003 3004 3005; do
    assert_eq 202 "$(post_json "$(trigd_url /hooks/in)" "{\"seq\":$i}")" "event $i after the refused reload"
done
wait_sink_lines $((b_before + 1)) 10 "$B_OUT"
assert_eq 5 "$(json_get "$(sink_line $((b_before + 1)) "$B_OUT")" 'len(j["body"].get("records", [j["body"]]))')" \
    "the old config's batch_size still applies after the refused reload"
c_before=$(sink_count "$C_OUT")
assert_eq 202 "$(post_json "$(trigd_url /hooks/in2)" '{"seq":3101}')" "the second route after the refused reload"
wait_sink_lines $((c_before + 1)) 10 "$C_OUT"

# --- removing the route and its source: the path answers 404, the rest works --------------------
write_conf 3
reload_ok
c_before=$(sink_count "$C_OUT")
b_before=$(sink_count "$B_OUT")
assert_eq 404 "$(post_json "$(trigd_url /hooks/in2)" '{"seq":4001}')" "POST to a removed source"
assert_eq 202 "$(post_json "$(trigd_url /hooks/in)" '{"seq":4002}')" "POST to the remaining source"
wait_sink_lines $((b_before + 1)) 10 "$B_OUT"
wait_route_idle 15 r # negative check: the removed route gets nothing
assert_eq "$c_before" "$(sink_count "$C_OUT")" "calls of the removed route's function"
kill -0 "$PID0" 2> /dev/null || fail "trigd is gone after removing a route"
assert_eq 1 "$(_count_in_log ' started with ')" "start-up lines in the log at the end"

stop_trigd
log "ok"
