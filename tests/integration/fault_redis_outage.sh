#!/usr/bin/env bash
# fault_redis_outage.sh — Redis disappears for 30 s in the middle of a redis_stream source's batches and
# comes back (same port, AOF fsync always): no entry is lost, the duplicates (at-least-once: entries whose
# acknowledgement was lost with Redis are delivered again) are counted and stated, and trigd does not spin
# while Redis is away (its CPU time over the 30 s stays under 10 % of one core).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

durable_redis_setup
run_redis
N=300
for i in $(seq 1 "$N"); do echo "XADD jobs * body '{\"job\":$i}'"; done | rcli > /dev/null
assert_eq "$N" "$(rcli XLEN jobs)" "entries in the stream"

start_sink --delay-ms 200
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "redis": {"url": "redis://127.0.0.1:$REDIS_PORT"},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn", "timeout_ms": 10000, "max_concurrency": 2}},
  "sources": {"jobs": {"type": "redis_stream", "stream": "jobs", "start": "0"}},
  "routes": {"r": {"source": "jobs", "function": "f", "batch_size": 10, "batch_window_ms": 0}}
}
JSON
start_trigd "$WORK/trigd.json"

# jobs_seen: how many distinct jobs reached the function, and how many deliveries in all.
jobs_seen() {
    python3 - "$SINK_OUT" << 'PY'
import json, sys
seen, total = set(), 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    for rec in json.loads(line)["body"]["Records"]:
        seen.add(json.loads(rec["body"])["job"])
        total += 1
print(len(seen), total)
PY
}
_some_delivered() { (($(sink_count) >= 3)); }
wait_for 30 _some_delivered
read -r before _ < <(jobs_seen)
((before < N)) || fail "every job was delivered before Redis went away: nothing was in flight"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$TRIGD_PID/stat"; }
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2> /dev/null || true
_untrack "$REDIS_PID"
t0=$(cpu_ticks)
sleep 30 # the outage itself: Redis stays away this long
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
log "Redis away 30 s: trigd used $(((t1 - t0) * 1000 / hz)) ms of CPU; $before of $N jobs delivered before"
(((t1 - t0) * 10 < 30 * hz)) || fail "trigd used $(((t1 - t0) / hz)) s of CPU in 30 s without Redis: a busy loop"
kill -0 "$TRIGD_PID" || fail "trigd died while Redis was away"

run_redis
_all_delivered() { read -r seen _ < <(jobs_seen) && ((seen == N)); }
wait_for 120 _all_delivered
_all_acked() { [[ "$(rcli XPENDING jobs trigd | head -1)" == 0 ]]; }
wait_for 60 _all_acked
read -r seen total < <(jobs_seen)
log "after Redis came back: $seen of $N jobs delivered, $((total - seen)) duplicate deliveries (at-least-once)"
assert_eq "$N" "$seen" "jobs delivered"
stop_trigd
log "ok"
