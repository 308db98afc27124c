#!/usr/bin/env bash
# schedule_replicas.sh — two trigd replicas sharing one Redis fire each tick exactly once (SET NX PX per
# tick), the last fired tick is stored, and catch_up fires the latest catch_up_max ticks missed while
# no replica ran.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3
start_redis
start_sink

write_config() { # write_config PORT CATCH_UP [NAME]
    cat << JSON
{
  "http": {"listen": "127.0.0.1:$1"},
  "state_dir": "$WORK/state-$1",
  "redis": {"url": "$REDIS_URL"},
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn"}},
  "sources": {"${3:-every}": {"type": "schedule", "expression": "* * * * * *", "seconds": true,
                        "catch_up": $2, "catch_up_max": 3}},
  "routes": {"r": {"source": "${3:-every}", "function": "sink"}}
}
JSON
}

P1=$(free_port)
P2=$(free_port)
write_config "$P1" false > "$WORK/a.json"
write_config "$P2" false > "$WORK/b.json"
HTTP_PORT=$P1 start_trigd "$WORK/a.json"
A_PID=$TRIGD_PID A_LOG=$TRIGD_LOG
HTTP_PORT=$P2 start_trigd "$WORK/b.json"
B_PID=$TRIGD_PID B_LOG=$TRIGD_LOG
both_started=$(($(_now_ms) / 1000 + 1))
# Ticks from the first second both replicas run: 4 of them, however long the start-ups took (counting
# lines alone would let replica A's ticks before B was up fill the quota on a slow machine).
_ticks_since() {
    python3 - "$SINK_OUT" "$1" "$2" <<'PY'
import calendar, json, sys, time
ts = [calendar.timegm(time.strptime(json.loads(l)["body"]["time"], "%Y-%m-%dT%H:%M:%SZ")) for l in open(sys.argv[1])]
sys.exit(0 if sum(1 for t in ts if t >= int(sys.argv[2])) >= int(sys.argv[3]) else 1)
PY
}
wait_for 30 _ticks_since "$both_started" 4
stop_trigd "$A_PID"
stop_trigd "$B_PID"

python3 - "$SINK_OUT" "$both_started" <<'PY' || fail "ticks did not fire exactly once"
import calendar, collections, json, sys, time
times = [calendar.timegm(time.strptime(json.loads(l)["body"]["time"], "%Y-%m-%dT%H:%M:%SZ"))
         for l in open(sys.argv[1])]
dup = [t for t, n in collections.Counter(times).items() if n > 1]
assert not dup, "fired twice: %s" % dup
ts = sorted(t for t in times if t >= int(sys.argv[2]))
assert len(ts) >= 4 and all(b - a == 1 for a, b in zip(ts, ts[1:])), "a tick was lost: %s" % ts
print("ticks", len(times), "each once")
PY
grep -q 'fired by another replica' "$A_LOG" "$B_LOG" 2> /dev/null || true
last=$(rcli GET trigd:sched:every:last)
last_sent=$(tail -n 1 "$SINK_OUT")
[[ -n "$last" ]] || fail "no last tick stored"
want=$(json_get "$last_sent" '__import__("calendar").timegm(__import__("time").strptime(j["body"]["time"], "%Y-%m-%dT%H:%M:%SZ"))')
((last >= want)) || fail "stored last tick $last is before the last fire $want"
(($(rcli TTL "trigd:sched:every:$last") > 0)) || fail "the tick key has no TTL"

# catch-up: a schedule whose stored last fire is 20 s old starts and fires the latest 3 missed ticks.
before=$(sink_count)
now=$(($(_now_ms) / 1000))
rcli SET trigd:sched:later:last $((now - 20)) > /dev/null
write_config "$P1" true later > "$WORK/c.json"
HTTP_PORT=$P1 start_trigd "$WORK/c.json"
wait_sink_lines $((before + 4)) 15
grep -q 'ticks were missed since the last fire; firing the latest 3' "$TRIGD_LOG" ||
    fail "catch-up not logged"
stop_trigd
armed=$(sed -n 's/.*\[schedule:later\] .* next fire \([0-9T:-]*\)+00:00.*/\1/p' "$TRIGD_LOG" | head -n 1)
[[ -n "$armed" ]] || fail "no first fire logged"
python3 - "$SINK_OUT" "$before" "$armed" <<'PY' || fail "catch-up fired the wrong ticks"
import calendar, json, sys, time
ts = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S"))
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
times = [ts(json.loads(l)["body"]["time"][:19]) for l in lines]
armed = ts(sys.argv[3])
old = sorted(t for t in times if t < armed)
assert old == [armed - 3, armed - 2, armed - 1], "caught up %s, first regular fire %s" % (old, armed)
assert len(set(times)) == len(times), times
PY
log "ok"
