#!/usr/bin/env bash
# backpressure.sh — a full route pauses its webhook: with max_queued_events 5 and a function that does not
# answer (the sink holds its calls, max_concurrency 1) POSTs are accepted (202) until the route holds 5
# events, then answered 503 with Retry-After; once the function answers and drains, POSTs are accepted
# again; every event that got a 202 reaches the function exactly once and no refused event does.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

start_sink --hold
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "slow": { "type": "http", "url": "$SINK_URL/slow", "timeout_ms": 600000, "max_concurrency": 1 }
  },
  "sources": { "in": { "type": "webhook", "path": "/hooks/in" } },
  "routes": { "r": { "source": "in", "function": "slow", "batch_size": 1, "max_queued_events": 5 } }
}
EOF
start_trigd "$WORK/trigd.json"
URL=$(trigd_url /hooks/in)

accepted=() # seq numbers answered 202
refused=()  # seq numbers answered 503
seq=0

# post_one: POST event number $seq+1; sets CODE and records the seq in accepted/refused.
post_one() {
    seq=$((seq + 1))
    CODE=$(curl -sS -o "$WORK/resp" -D "$WORK/hdrs" -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' --data-binary "{\"seq\":$seq}" "$URL" || true)
    case $CODE in
    202) accepted+=("$seq") ;;
    503) refused+=("$seq") ;;
    *) fail "event $seq: unexpected status $CODE: $(cat "$WORK/resp")" ;;
    esac
}

# --- fill the route until it refuses ------------------------------------------------------------
# 5 fit (one in flight, held at the sink, four queued); nothing drains, so the sixth is refused.
while ((seq < 20)); do
    post_one
    [[ $CODE == 503 ]] && break
done
[[ $CODE == 503 ]] || fail "20 POSTs to a route holding at most 5 events were all accepted"
n_first=${#accepted[@]}
((n_first == 5)) || fail "accepted $n_first events before the first 503 (max_queued_events 5)"
grep -Eqi '^retry-after: *[0-9]+' "$WORK/hdrs" || fail "503 without Retry-After: $(cat "$WORK/hdrs")"
log "route full after $n_first accepted events; refused event $seq"

# Still full while nothing is answered: a second POST is refused too.
post_one
assert_eq 503 "$CODE" "a second POST while the route is full"
assert_eq 1 "$(sink_ctl open)" "calls open at the sink (max_concurrency 1)"

# --- it drains: POSTs are accepted again ----------------------------------------------------------
sink_ctl release > /dev/null
_accepted_again() {
    post_one
    [[ $CODE == 202 ]]
}
wait_for 15 _accepted_again
log "accepted again after ${#refused[@]} refusals"
# A couple more while the backlog drains (each may be 202 or 503, both are fine).
post_one
post_one

# --- every accepted event reaches the function exactly once; no refused one does --------------------
total=${#accepted[@]}
wait_sink_lines "$total" $((total * 3 + 10))
# Negative check: once the route holds nothing and no call is in flight, nothing more can arrive.
wait_route_idle 15 r
python3 - "$SINK_OUT" "${accepted[*]}" "${refused[*]}" << 'EOF' || fail "delivery check failed"
import collections, json, sys
seen = collections.Counter()
for line in open(sys.argv[1]):
    event = json.loads(line)["body"]
    seen[json.loads(event["body"])["seq"]] += 1
accepted = [int(s) for s in sys.argv[2].split()]
refused = [int(s) for s in sys.argv[3].split()]
bad = []
for s in accepted:
    if seen[s] != 1:
        bad.append("accepted event %d reached the function %d times" % (s, seen[s]))
for s in refused:
    if seen[s]:
        bad.append("refused event %d reached the function %d times" % (s, seen[s]))
for s in seen:
    if s not in accepted and s not in refused:
        bad.append("unknown event %d" % s)
if bad:
    sys.exit("\n".join(bad))
EOF
assert_eq "$total" "$(sink_count)" "function calls"
log "${#accepted[@]} accepted, each delivered once; ${#refused[@]} refused, none delivered"

stop_trigd
log "ok"
