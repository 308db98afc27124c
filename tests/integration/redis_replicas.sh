#!/usr/bin/env bash
# redis_replicas.sh — two trigd replicas (same config but http.listen) on one Redis: one durable intake
# stream (a webhook source, events posted to both replicas) and one redis_stream source share their work
# through the consumer groups. 1. Both replicas invoke some of each, and every event and every entry
# reaches its function exactly once (nobody died: no reclaim). 2. The sink holds every call open (a gate)
# while events and entries are added until replica A holds both invoked and queued work on both streams;
# then kill -9 A and open the gate: the survivor reclaims the dead one's pending entries after the
# visibility timeout (3 s), every accepted event and every entry reaches its function at least once, and a
# duplicate is only ever an entry that was pending to the dead replica when it died (duplicates reported).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3 redis-server redis-cli

start_redis
start_sink --delay-ms 200 # phase 1: slow functions, so both replicas have work at once
# The visibility timeout leaves the test a window of 2/3 of it between the kill and the survivor's first
# reclaim, to read what the dead replica held: ample on a slow machine (a few redis-cli calls).
VIS_MS=3000

PORT_A=$(free_port)
PORT_B=$(free_port)
# config PORT: the replicas' shared config, with its own http.listen.
config() {
    cat <<JSON
{
  "http": {"listen": "127.0.0.1:$1"},
  "redis": {"url": "$REDIS_URL", "intake_visibility_timeout_ms": $VIS_MS},
  "state_dir": "$WORK/state-$1",
  "shutdown_timeout_ms": 1000,
  "functions": {"f": {"type": "http", "url": "$SINK_URL/f", "max_concurrency": 2, "timeout_ms": 600000},
                "g": {"type": "http", "url": "$SINK_URL/g", "max_concurrency": 2, "timeout_ms": 600000}},
  "sources": {"in": {"type": "webhook", "path": "/in"},
              "jobs": {"type": "redis_stream", "stream": "jobs", "start": "0", "visibility_timeout_ms": $VIS_MS}},
  "routes": {"r": {"source": "in", "function": "f", "retry_base_ms": 50, "retry_max_ms": 200},
             "s": {"source": "jobs", "function": "g", "batch_size": 2, "retry_base_ms": 50, "retry_max_ms": 200}}
}
JSON
}
config "$PORT_A" > "$WORK/a.json"
config "$PORT_B" > "$WORK/b.json"
_ready() { curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1/readyz"; }
HTTP_PORT=$PORT_A
start_trigd "$WORK/a.json"
PID_A=$TRIGD_PID LOG_A=$TRIGD_LOG
HTTP_PORT=$PORT_B
start_trigd "$WORK/b.json"
PID_B=$TRIGD_PID LOG_B=$TRIGD_LOG
wait_for 10 _ready "$PORT_A"
wait_for 10 _ready "$PORT_B"

# m PORT FUNCTION: successful invocations of FUNCTION on the replica listening on PORT.
m() { HTTP_PORT=$1 metric "trigd_invocations_total{function=\"$2\",outcome=\"success\"}"; }
# load FROM TO: event i is posted to replica A or B in turn ("i code" in $WORK/posted), and stream entry i
# is XADDed ("i id" in $WORK/xadded).
load() {
    local i port code id
    for ((i = $1; i <= $2; i++)); do
        port=$PORT_A
        ((i % 2)) || port=$PORT_B
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
            --data-binary "{\"n\":$i}" "http://127.0.0.1:$port/in" 2> /dev/null || true)
        echo "$i $code" >> "$WORK/posted"
        id=$(rcli XADD jobs '*' body "{\"m\":$i}")
        echo "$i $id" >> "$WORK/xadded"
    done
}
touch "$WORK/posted" "$WORK/xadded"
# received: "f N" per webhook event and "g ID" per stream record the sink got, in order of receipt, with t_ms
# (and a record's ApproximateReceiveCount, "-" for events).
received() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j["path"] == "/f":
        print("f", json.loads(j["body"]["body"])["n"], j["t_ms"], "-")
    else:
        for r in j["body"]["Records"]:
            print("g", r["messageId"], j["t_ms"], r["attributes"]["ApproximateReceiveCount"])' "$SINK_OUT"
}
# expected: what must have arrived: "f N" for every accepted (2xx) event, "g ID" for every entry.
expected() {
    { awk '$2 ~ /^2/ { print "f", $1 }' "$WORK/posted"; awk '{ print "g", $2 }' "$WORK/xadded"; } | sort -u
}
_all_received() {
    received | awk '{ print $1, $2 }' | sort -u > "$WORK/got"
    expected > "$WORK/want"
    [[ -z "$(comm -23 "$WORK/want" "$WORK/got")" ]]
}
pending() { rcli XPENDING "$1" trigd | head -1; }
_quiet() { [[ "$(pending trigd:intake:r)" == 0 && "$(pending jobs)" == 0 ]]; }

# --- 1. shared work, exactly once ------------------------------------------------------------------
N=30
load 1 "$N"
accepted=$(awk '$2 ~ /^2/' "$WORK/posted" | wc -l)
assert_eq "$N" "$accepted" "events accepted (202) by the two replicas"
wait_for 20 _all_received
wait_for 10 _quiet # nothing in flight anywhere: no late duplicate can still come
dups=$(received | awk '{ print $1, $2 }' | sort | uniq -d)
[[ -z "$dups" ]] || fail "processed twice without any reclaim: $(echo "$dups" | tr '\n' ' ')"
assert_eq "" "$(received | awk '$1 == "g" && $4 != 1')" "records received more than once (receive count)"
if grep -q reclaimed "$LOG_A" "$LOG_B"; then
    fail "a replica reclaimed entries although none died: $(grep -h reclaimed "$LOG_A" "$LOG_B")"
fi
fa=$(m "$PORT_A" f) fb=$(m "$PORT_B" f) ga=$(m "$PORT_A" g) gb=$(m "$PORT_B" g)
log "invocations: f (intake) A=$fa B=$fb; g (redis_stream) A=$ga B=$gb"
for v in "$fa" "$fb" "$ga" "$gb"; do
    ((v > 0)) || fail "work not shared: f A=$fa B=$fb, g A=$ga B=$gb"
done
assert_eq "$(sink_count)" "$((fa + fb + ga + gb))" "invocations (sink) = the replicas' success metrics"
assert_eq 0 "$(rcli XLEN trigd:intake:r)" "intake stream length (finished entries are deleted)"

# --- 2. kill -9 one replica mid-load ---------------------------------------------------------------
# consumer LOG STREAM: the replica's consumer name in STREAM's group, from its log.
consumer() { sed -n "s|.*reading stream $2 as trigd/\([^ ]*\).*|\1|p" "$1" | head -1; }
CONS_A_IN=$(consumer "$LOG_A" trigd:intake:r) CONS_A_JOBS=$(consumer "$LOG_A" jobs)
[[ -n "$CONS_A_IN" && -n "$CONS_A_JOBS" ]] || fail "replica A's consumer names not in its log"
# held CONSUMER STREAM: ids pending to CONSUMER in STREAM.
held() { rcli --raw XPENDING "$2" trigd - + 10000 "$1" | awk 'NR % 4 == 1'; }
# am METRIC: METRIC's value on replica A.
am() { HTTP_PORT=$PORT_A metric "$1"; }
# A holds work both invoked (each function runs 2 calls at a time, held at the sink: 2 events of r, up to
# 2 batches of 2 entries of s) and still queued behind them (trigd_queued counts what a route holds, in
# flight or not: r >= 2 + 2, s >= 4 + 2), on both streams, all of it pending to A in Redis.
_a_holds_work() {
    (($(held "$CONS_A_IN" trigd:intake:r | wc -l) >= 4 && $(held "$CONS_A_JOBS" jobs | wc -l) >= 6)) &&
        (($(am 'trigd_inflight{function="f"}') == 2 && $(am 'trigd_inflight{function="g"}') == 2)) &&
        (($(am 'trigd_queued{route="r"}') >= 4 && $(am 'trigd_queued{route="s"}') >= 6))
}
# The gate: nothing is answered, so whatever a replica takes stays pending to it. Add work one event and
# one entry at a time until A holds enough (both replicas read, so A gets its turn), however fast or slow
# each side is.
sink_ctl hold > /dev/null
i=$N
while ! _a_holds_work; do
    ((i < N + 60)) || break
    i=$((i + 1))
    load "$i" "$i"
done
wait_for 20 _a_holds_work
kill9_trigd "$PID_A"
kill_ms=$(_now_ms)
# What A held when it died: only these may reach a function twice (snapshot at once: the survivor
# deletes the intake entries it finishes).
held "$CONS_A_JOBS" jobs > "$WORK/held_jobs"
held "$CONS_A_IN" trigd:intake:r > "$WORK/held_in"
rcli --raw XRANGE trigd:intake:r - + > "$WORK/intake_dump"
python3 - "$WORK/held_jobs" "$WORK/held_in" "$WORK/intake_dump" > "$WORK/held" <<'PY'
import json, re, sys
jobs, held_in, dump = (open(f).read().split("\n") for f in sys.argv[1:])
for i in filter(None, jobs):
    print("g", i)
events, cur, prev = {}, None, None
for line in dump:
    if re.fullmatch(r"\d+-\d+", line):
        cur = line
    elif prev == "json":
        events[cur] = json.loads(json.loads(line)["body"])["n"]
    prev = line
for i in filter(None, held_in):
    print("f", events[i])
PY
sort -o "$WORK/held" "$WORK/held"
log "killed replica A holding $(grep -c '^f' "$WORK/held") intake and $(grep -c '^g' "$WORK/held") stream entries"
sink_ctl release > /dev/null
# The load goes on: events posted to the dead replica are refused (and not expected), the rest flows.
load $((i + 1)) $((i + 6))

HTTP_PORT=$PORT_B
wait_for 25 _all_received
wait_for 10 _quiet
grep -q 'intake.*reclaimed' "$LOG_B" || fail "the survivor did not reclaim the dead replica's intake entries"
grep -q 'redis_stream.*reclaimed' "$LOG_B" || fail "the survivor did not reclaim the dead replica's stream entries"
assert_eq 0 "$(rcli XLEN trigd:intake:r)" "intake stream length at the end"
# Duplicates: only entries the dead replica held, each taken again only after the visibility timeout (the
# last heartbeat may have been up to a third of it before the kill: not before 2/3 of it).
received | awk '{ print $1, $2 }' | sort | uniq -d > "$WORK/dups"
stray=$(comm -23 "$WORK/dups" "$WORK/held")
[[ -z "$stray" ]] || fail "processed twice but never held by the dead replica: $(echo "$stray" | tr '\n' ' ')"
early=$(received | awk -v k="$kill_ms" -v v="$VIS_MS" 'seen[$1 " " $2]++ && $3 < k + v * 2 / 3 { print $1, $2 }')
[[ -z "$early" ]] || fail "taken again before the visibility timeout: $(echo "$early" | tr '\n' ' ')"
# A reclaimed entry's receive count counts the dead replica's delivery.
low=$(received | awk -v k="$kill_ms" 'NR == FNR { held[$0] = 1; next }
    $1 == "g" && $3 > k && held[$1 " " $2] && $4 < 2 { print $2 }' "$WORK/held" -)
[[ -z "$low" ]] || fail "reclaimed entries with ApproximateReceiveCount 1: $low"
n_acc=$(awk '$2 ~ /^2/' "$WORK/posted" | wc -l)
n_dup_f=$(grep -c '^f' "$WORK/dups" || true)
n_dup_g=$(grep -c '^g' "$WORK/dups" || true)
stop_trigd "$PID_B"
log "ok: $n_acc events accepted and $(wc -l < "$WORK/xadded") entries added, all delivered; phase 1: no" \
    "duplicate; after kill -9: $n_dup_f intake and $n_dup_g stream entries delivered twice (held by the" \
    "dead replica, reclaimed after the visibility timeout)"
