#!/usr/bin/env bash
# runtime_http.sh — a warm `runtime` function (the C custom runtime of examples/runtimes/c, through Lambda's
# Runtime API) against the same work as an http function (tests/helpers/sink) and as an exec function
# (/bin/cat), the cold starts of the C, bash and Node.js example runtimes, and trigd's memory per idle
# instance. Figures are ratios between runs of the same script on the same machine; nothing is asserted.
#
# Warm invokes: wrk POSTs a 50-byte event to trigd's Invoke API (RequestResponse: one event per invoke, as
# a route with batch_size 1) for DURATION seconds per function, first over 1 connection (latency: wrk's
# p50/p99 of the whole round trip; the difference to the http function is what the Runtime API adds), then
# over CONNECTIONS connections with max_concurrency CONNECTIONS (rate). Each function is warmed first (2 s
# of the same load), so the runtime's instances are started before anything is measured. Answers carrying
# X-Amz-Function-Error are counted as errors.
# Cold starts: COLD_RUNS functions of each runtime, each invoked once (a cold start) then once more (warm);
# the figures are the medians of the client-observed invoke time (curl) and of trigd's init duration
# (spawn to the first `next`, from trigd_function_init_duration_seconds). Node.js needs aws-lambda-ric
# (./dev test installs it; TRIGD_LAMBDA_RIC or its cache path, as the tests find it); without it its line
# says so.
# Memory: trigd's VmRSS with the function defined and no instance, then with IDLE idle instances
# (min_instances), each run in a fresh trigd, settled for a second after the instances are idle.
#
#   bench/runtime_http.sh           (from a built tree: ./dev build, or BUILDDIR=build/dist)
#   DURATION=10 CONNECTIONS=4 COLD_RUNS=5 IDLE=50 bench/runtime_http.sh
# Goals (issue 17): warm invoke adds <= 0.3 ms p50 over the http function; >= 3x the exec function's rate;
# per-instance memory inside trigd <= 64 KB.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$BENCH_DIR/.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-${BUILDDIR:-$TOP_SRCDIR}}
TOP_BUILDDIR=$(cd "$TOP_BUILDDIR" && pwd)
export TOP_SRCDIR TOP_BUILDDIR

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-4}
COLD_RUNS=${COLD_RUNS:-5}
IDLE=${IDLE:-50}
LUA="$BENCH_DIR/runtime_http.lua"

export TEST_NAME=runtime_http
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh disable=SC1091 # needs -x
. "$TOP_SRCDIR/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/integration/runtime_examples_lib.sh disable=SC1091
. "$TOP_SRCDIR/tests/integration/runtime_examples_lib.sh"
require_cmd wrk curl python3
for v in DURATION CONNECTIONS COLD_RUNS IDLE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "$v must be a positive whole number, not '${!v}'"
done

if [[ -z "${TRIGD_BENCH_NO_BUILD:-}" ]]; then
    [[ -f "$TOP_BUILDDIR/Makefile" ]] || fail "$TOP_BUILDDIR is not a configured build tree (./dev build)"
    make -s -C "$TOP_BUILDDIR" trigd tests/helpers/sink examples/runtimes/c/bootstrap > /dev/null ||
        fail "build failed"
fi
require_c_runtime
HAVE_NODE=0
if (require_ric) > /dev/null 2>&1; then
    require_ric
    HAVE_NODE=1
fi

# --- warm invokes --------------------------------------------------------------------------------
start_sink --count-only
HTTP_PORT=$(free_port)
cold_fns() { # cold_fns PREFIX SETTINGS: COLD_RUNS functions PREFIX-1.. with these settings
    local i
    for ((i = 1; i <= COLD_RUNS; i++)); do
        printf ',\n    "%s-%d": %s' "$1" "$i" "$2"
    done
}
node_cold=""
if ((HAVE_NODE)); then
    node_cold=$(cold_fns node "{\"type\": \"runtime\", \"code_dir\": \"$NODE_EXAMPLE_DIR\", \"handler\": \"index.handler\",
      \"command\": [\"$NODE\", \"$RIC/bin/index.mjs\", \"index.handler\"], \"init_timeout_ms\": 60000}")
fi
cat > "$WORK/bench.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "warn"},
  "state_dir": "$WORK/state",
  "functions": {
    "http": {"type": "http", "url": "$SINK_URL/fn", "max_concurrency": $CONNECTIONS},
    "exec": {"type": "exec", "command": ["/bin/cat"], "max_concurrency": $CONNECTIONS},
    "runtime": {"type": "runtime", "code_dir": "$C_RUNTIME_DIR", "handler": "handler.echo",
                "max_concurrency": $CONNECTIONS}$(cold_fns c "{\"type\": \"runtime\", \"code_dir\": \"$C_RUNTIME_DIR\", \"handler\": \"handler.echo\"}")$(cold_fns bash "{\"type\": \"runtime\", \"code_dir\": \"$BASH_RUNTIME_DIR\", \"handler\": \"function.handler\"}")$node_cold
  }
}
EOF
start_trigd "$WORK/bench.json"

# run_wrk FUNCTION THREADS CONNECTIONS SECONDS: prints "invokes/s p50_us p99_us errors"
run_wrk() {
    local out
    out=$(wrk -t"$2" -c"$3" -d"${4}s" --timeout 10s -s "$LUA" \
        "$(trigd_url "/2015-03-31/functions/$1/invocations")") || fail "wrk failed against $1"
    awk '/^WRK / {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%.0f %d %d %d\n", v["requests"] / (v["duration_us"] / 1e6), v["p50_us"], v["p99_us"],
            v["status_errors"] + v["socket_errors"] + v["function_errors"]
    }' <<< "$out"
}

declare -A RATE1 P50 P99 RATEN P50N P99N
errors=0
for fn in http runtime exec; do
    log "$fn: warm-up, then wrk -c1 and -c$CONNECTIONS for ${DURATION}s each"
    run_wrk "$fn" 1 "$CONNECTIONS" 2 > /dev/null
    read -r r p50 p99 e <<< "$(run_wrk "$fn" 1 1 "$DURATION")"
    RATE1[$fn]=$r P50[$fn]=$p50 P99[$fn]=$p99
    errors=$((errors + e))
    threads=$((CONNECTIONS < 2 ? 1 : 2))
    read -r r p50 p99 e <<< "$(run_wrk "$fn" "$threads" "$CONNECTIONS" "$DURATION")"
    RATEN[$fn]=$r P50N[$fn]=$p50 P99N[$fn]=$p99
    errors=$((errors + e))
done

# --- cold starts ----------------------------------------------------------------------------------
# invoke_ms FUNCTION: one invoke's time as curl saw it, in ms (fails on a function error)
invoke_ms() {
    local t
    t=$(curl -sS -o "$WORK/cold.body" -D "$WORK/cold.headers" -w '%{time_total}' --max-time 120 \
        -H 'Content-Type: application/json' --data-binary '{"cold":true}' \
        "$(trigd_url "/2015-03-31/functions/$1/invocations")") || fail "invoke $1 failed"
    if grep -qi '^x-amz-function-error' "$WORK/cold.headers"; then
        fail "invoke $1: function error: $(cat "$WORK/cold.body")"
    fi
    awk -v t="$t" 'BEGIN { printf "%.2f", t * 1000 }'
}
declare -A COLD WARM INIT
kinds=(c bash)
((HAVE_NODE)) && kinds+=(node)
for kind in "${kinds[@]}"; do
    log "$kind: $COLD_RUNS cold starts"
    cold=() warm=() init=()
    for ((i = 1; i <= COLD_RUNS; i++)); do
        cold+=("$(invoke_ms "$kind-$i")")
        warm+=("$(invoke_ms "$kind-$i")")
        init+=("$(metric "trigd_function_init_duration_seconds_sum{function=\"$kind-$i\"}")")
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
    COLD[$kind]=$(median "${cold[@]}")
    WARM[$kind]=$(median "${warm[@]}")
    INIT[$kind]=$(awk -v s="$(median "${init[@]}")" 'BEGIN { printf "%.2f", s * 1000 }')
done
stop_trigd
stop_process "$SINK_PID" 10

# --- memory per idle instance ---------------------------------------------------------------------
# rss_with N: trigd's VmRSS (KB) with the C runtime function holding N idle instances
_n_idle() { [[ $(metric "trigd_function_instances{function=\"idle\",state=\"idle\"}") == "$1" ]]; }
rss_with() {
    HTTP_PORT=$(free_port)
    cat > "$WORK/idle-$1.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "log": {"level": "warn"},
  "state_dir": "$WORK/state-idle",
  "functions": {"idle": {"type": "runtime", "code_dir": "$C_RUNTIME_DIR", "handler": "handler.echo",
                         "max_concurrency": $((IDLE + 1)), "min_instances": $1}}
}
EOF
    start_trigd "$WORK/idle-$1.json"
    wait_for 60 _n_idle "$1"
    sleep 1
    awk '/^VmRSS:/ { print $2 }' "/proc/$TRIGD_PID/status"
    stop_trigd
}
log "trigd's RSS with 0, then $IDLE idle instances"
rss0=$(rss_with 0)
rssn=$(rss_with "$IDLE")

# --- figures ----------------------------------------------------------------------------------------
ms() { awk -v us="$1" 'BEGIN { printf "%.3f ms", us / 1000 }'; }
echo
echo "runtime function (C runtime, warm) vs http and exec functions: Invoke API, one event per invoke"
printf '  %-22s %12s %10s %10s   %12s %10s %10s\n' "" "1 conn: /s" "p50" "p99" "$CONNECTIONS conn: /s" "p50" "p99"
for fn in http runtime exec; do
    printf '  %-22s %12s %10s %10s   %12s %10s %10s\n' "$fn" "${RATE1[$fn]}" "$(ms "${P50[$fn]}")" \
        "$(ms "${P99[$fn]}")" "${RATEN[$fn]}" "$(ms "${P50N[$fn]}")" "$(ms "${P99N[$fn]}")"
done
python3 - "$CONNECTIONS" "${P50[runtime]}" "${P50[http]}" "${P99[runtime]}" "${P99[http]}" "${RATE1[runtime]}" \
    "${RATE1[exec]}" "${RATE1[http]}" "${RATEN[runtime]}" "${RATEN[exec]}" "${RATEN[http]}" << 'PY'
import sys
conns = sys.argv[1]
p50r, p50h, p99r, p99h, r1, e1, h1, rn, en, hn = map(float, sys.argv[2:])
print("  runtime adds over http (1 conn)   p50 %+.3f ms (goal <= +0.3 ms)   p99 %+.3f ms"
      % ((p50r - p50h) / 1000, (p99r - p99h) / 1000))
print("  runtime / exec rate               1 conn %.2fx   %s conn %.2fx (goal >= 3x)" % (r1 / e1, conns, rn / en))
print("  runtime / http rate               1 conn %.2fx   %s conn %.2fx" % (r1 / h1, conns, rn / hn))
PY
[[ $errors == 0 ]] || echo "  ERRORS: $errors refused, failed or function-error answers during the wrk runs"
echo
echo "cold starts (median of $COLD_RUNS): first invoke as curl saw it, trigd's Init Duration, and the warm invoke after"
for kind in c bash node; do
    if [[ -n "${COLD[$kind]:-}" ]]; then
        printf '  %-6s cold invoke %9s ms   init %9s ms   warm invoke %7s ms\n' "$kind" "${COLD[$kind]}" \
            "${INIT[$kind]}" "${WARM[$kind]}"
    else
        printf '  %-6s not measured: aws-lambda-ric is not installed (./dev test installs it)\n' "$kind"
    fi
done
echo
echo "trigd memory (VmRSS)"
awk -v a="$rss0" -v b="$rssn" -v n="$IDLE" 'BEGIN {
    printf "  0 instances %.1f MB, %d idle instances %.1f MB: %.1f KB per instance (goal <= 64 KB)\n",
        a / 1024, n, b / 1024, (b - a) / n }'
