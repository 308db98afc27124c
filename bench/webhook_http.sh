#!/usr/bin/env bash
# webhook_http.sh — webhook source -> http function throughput and latency.
#
# Drives trigd's webhook (POST /in, async mode, batch_size 1) with wrk for DURATION seconds; trigd
# delivers each event to tests/helpers/sink (count-only), which records its receipt time and the send
# time wrk put in the body. Prints events/s delivered, p50/p99 latency from POST to the sink's receipt,
# trigd's peak RSS, and, as the baseline measured in the same run, wrk's request rate straight against
# the sink, with the ratio.
#
#   bench/webhook_http.sh            (from a built tree: ./dev build, or BUILDDIR=build/dist)
#   DURATION=10 CONNECTIONS=32 THREADS=2 CONCURRENCY=10 DRAIN_S=60 bench/webhook_http.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$BENCH_DIR/.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-${BUILDDIR:-$TOP_SRCDIR}}
TOP_BUILDDIR=$(cd "$TOP_BUILDDIR" && pwd)
export TOP_SRCDIR TOP_BUILDDIR

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-10}
DRAIN_S=${DRAIN_S:-60}
LUA="$BENCH_DIR/webhook_http.lua"

# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh disable=SC1091 # needs -x
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd wrk curl python3

if [[ -z "${TRIGD_BENCH_NO_BUILD:-}" ]]; then
    [[ -f "$TOP_BUILDDIR/Makefile" ]] || fail "$TOP_BUILDDIR is not a configured build tree (./dev build)"
    make -s -C "$TOP_BUILDDIR" trigd tests/helpers/sink > /dev/null || fail "build failed"
fi

# run_wrk URL: prints "requests duration_us status_errors socket_errors".
run_wrk() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$LUA" "$1") ||
        fail "wrk failed against $1"
    awk '/^WRK / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["requests"], v["duration_us"], v["status_errors"], v["socket_errors"]
    }' <<< "$out"
}

# --- baseline: wrk straight against the sink ---------------------------------------------------
log "baseline: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s against the sink"
start_sink --count-only
read -r b_req b_us _ _ <<< "$(run_wrk "$SINK_URL/")"
stop_process "$SINK_PID" 10
baseline_rps=$(awk -v r="$b_req" -v us="$b_us" 'BEGIN { printf "%.0f", r / (us / 1e6) }')

# --- trigd: webhook -> http function -> sink ---------------------------------------------------
start_sink --count-only
HTTP_PORT=$(free_port)
cat > "$WORK/bench.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "warn"},
  "state_dir": "$WORK/state",
  "functions": {"sink": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": $CONCURRENCY}},
  "sources": {"in": {"type": "webhook", "path": "/in"}},
  "routes": {"r": {"source": "in", "function": "sink", "batch_size": 1}}
}
EOF
start_trigd "$WORK/bench.json"
log "trigd: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s against the webhook"
read -r t_req t_us t_status_err t_sock_err <<< "$(run_wrk "$(trigd_url /in)")"
accepted=$((t_req - t_status_err))
log "accepted $accepted events ($t_status_err refused, $t_sock_err socket errors); waiting for delivery"
if ! (wait_for "$DRAIN_S" _sink_has "$accepted" "$SINK_OUT") 2> /dev/null; then
    log "warning: only $(sink_count) of $accepted accepted events delivered after ${DRAIN_S}s"
fi
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TRIGD_PID/status" 2> /dev/null || echo 0)
stop_trigd

# --- figures -----------------------------------------------------------------------------------
python3 - "$SINK_OUT" "$baseline_rps" "$rss_kb" "$t_req" "$t_us" "$accepted" << 'EOF'
import json, sys

path, baseline, rss_kb, req, dur_us, accepted = sys.argv[1:]
baseline, rss_kb, req, dur_us, accepted = float(baseline), int(rss_kb), int(req), int(dur_us), int(accepted)
recv, lat = [], []
with open(path) as f:
    for line in f:
        r = json.loads(line)
        recv.append(r["t_ms"])
        if r.get("sent_ms") is not None:
            lat.append((r["sent_ms"], r["t_ms"] - r["sent_ms"]))
delivered = len(recv)
first_sent = min((s for s, _ in lat), default=min(recv, default=0))
span_s = max((max(recv, default=0) - first_sent) / 1000.0, 1e-3)
rate = delivered / span_s if delivered else 0.0
ms = sorted(d for _, d in lat)

def pct(p):
    return "%d ms" % ms[min(len(ms) - 1, int(p / 100.0 * len(ms)))] if ms else "n/a"

print()
print("webhook -> http function (batch_size 1)")
intake = req / (dur_us / 1e6)
print("  intake (wrk -> trigd)        %10.0f req/s  (%d accepted of %d)" % (intake, accepted, req))
print("  delivered                    %10.0f events/s  (%d events in %.1f s)" % (rate, delivered, span_s))
print("  latency POST -> sink   p50   %10s" % pct(50))
print("                         p99   %10s" % pct(99))
print("  trigd peak RSS (VmHWM)       %10.1f MB" % (rss_kb / 1024.0))
print("  baseline (wrk -> sink)       %10.0f req/s" % baseline)
print("  ratio delivered / baseline   %10.3f" % (rate / baseline if baseline else 0.0))
if delivered < accepted:
    print("  LOST OR LATE: %d accepted events not delivered" % (accepted - delivered))
EOF
