#!/usr/bin/env bash
# schedule_lateness.sh — how late schedules fire: SCHEDULES per-second schedules (test-only seconds
# form) into the sink for DURATION_S seconds; lateness = when the function received the event minus
# its scheduled time (so it includes the HTTP call), p50/p99/max in ms. Then bench/schedule_next:
# the cost of the next-fire computation for 10,000 expressions.
#
#   make && make bench-programs && bash bench/schedule_lateness.sh   (SCHEDULES=5 DURATION_S=60)
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib.sh"
SCHEDULES=${SCHEDULES:-5}
DURATION_S=${DURATION_S:-60}
start_sink
HTTP_PORT=$(free_port)
{
    printf '{"http": {"listen": "127.0.0.1:%s"}, "state_dir": "%s/state", "log": {"level": "warn"},\n' \
        "$HTTP_PORT" "$WORK"
    printf ' "functions": {"sink": {"type": "http", "url": "%s/fn", "max_concurrency": 64}},\n' "$SINK_URL"
    printf ' "sources": {'
    for i in $(seq 1 "$SCHEDULES"); do
        printf '%s"s%d": {"type": "schedule", "expression": "* * * * * *", "seconds": true}' \
            "$([[ $i == 1 ]] || echo ,)" "$i"
    done
    printf '},\n "routes": {'
    for i in $(seq 1 "$SCHEDULES"); do
        printf '%s"r%d": {"source": "s%d", "function": "sink"}' "$([[ $i == 1 ]] || echo ,)" "$i" "$i"
    done
    printf '}}\n'
} > "$WORK/trigd.json"
start_trigd "$WORK/trigd.json"
wait_sink_lines $((SCHEDULES * DURATION_S)) $((DURATION_S + 30))
stop_trigd
python3 - "$SINK_OUT" <<'PY'
import calendar, json, sys, time
late = sorted(l["t_ms"] - 1000 * calendar.timegm(time.strptime(l["body"]["time"], "%Y-%m-%dT%H:%M:%SZ"))
              for l in map(json.loads, open(sys.argv[1])))
pick = lambda q: late[min(len(late) - 1, int(q * len(late)))]
print("schedule lateness: %d fires: p50 %d ms, p99 %d ms, max %d ms" % (len(late), pick(0.5), pick(0.99), late[-1]))
PY
if [[ -x "$TOP_BUILDDIR/bench/schedule_next" ]]; then
    "$TOP_BUILDDIR/bench/schedule_next" 10000
else
    echo "bench/schedule_next not built: make bench-programs"
fi
