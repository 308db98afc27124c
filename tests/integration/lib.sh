# shellcheck shell=bash
# lib.sh — sourced by every integration test: real servers on 127.0.0.1, free ports, bounded waits,
# one temp work dir per test, and a trap that tears everything down.
#
#   . "$(dirname "$0")/lib.sh"
#   start_redis; start_sink --fail-first 1
#   HTTP_PORT=$(free_port); write_config ... > "$WORK/trigd.json"; start_trigd "$WORK/trigd.json"
#   curl ...; wait_sink_lines 1 10; stop_trigd
#
# From `make check` the environment gives TRIGD, TRIGCTL, HELPERS, TOP_SRCDIR and TOP_BUILDDIR; run by
# hand (bash tests/integration/x.sh from an in-tree build) they default to the tree this file is in.
# A missing server or client skips the test (exit 77) when run by hand, and fails it when CI=true.
# KEEP_WORK=1 keeps the work dir. TRIGD_WRAPPER="valgrind -q --error-exitcode=1" wraps trigd (configure
# --without-mimalloc first: valgrind follows only the C library's malloc).

set -euo pipefail

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${TOP_SRCDIR:=$(cd "$_lib_dir/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
: "${TRIGD:=$TOP_BUILDDIR/trigd}"
: "${TRIGCTL:=$TOP_BUILDDIR/trigctl}"
: "${HELPERS:=$TOP_BUILDDIR/tests/helpers}"
export TOP_SRCDIR TOP_BUILDDIR TRIGD TRIGCTL HELPERS

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trigd-$TEST_NAME.XXXXXX")
export WORK

_pids=()      # everything started here, killed by the trap
_logs=()      # printed (tail) when the test fails
_n_started=0  # makes file names unique

# --- reporting ---------------------------------------------------------------------------------

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }

fail() {
    printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

skip_or_fail() {
    if [[ "${CI:-}" == true ]]; then
        fail "$* (required when CI=true)"
    fi
    printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"
    exit 77
}

# require_cmd CMD... : every command must be on PATH.
require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" > /dev/null 2>&1 || skip_or_fail "$c not found (./dev test installs it)"
    done
}

assert_eq() { # assert_eq EXPECTED ACTUAL MESSAGE
    [[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

# --- teardown ----------------------------------------------------------------------------------

_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${_pids[@]}"; do
        kill -TERM "$pid" 2> /dev/null || true
    done
    # Give them up to 5 s to go, then KILL what is left.
    local end=$(($(_now_ms) + 5000))
    for pid in "${_pids[@]}"; do
        while kill -0 "$pid" 2> /dev/null && (($(_now_ms) < end)); do
            sleep 0.05
        done
        kill -KILL "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    if ((rc != 0 && rc != 77)); then
        local f
        for f in "${_logs[@]}"; do
            [[ -s "$f" ]] || continue
            printf '\n----- %s (last 60 lines) -----\n' "$f" >&2
            tail -n 60 "$f" >&2 || true
        done
    fi
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then
        printf '[%s] work dir kept: %s\n' "$TEST_NAME" "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

_track() { _pids+=("$1"); }

_untrack() {
    local keep=() p
    for p in "${_pids[@]}"; do
        [[ "$p" == "$1" ]] || keep+=("$p")
    done
    _pids=("${keep[@]}")
}

# --- time and waiting --------------------------------------------------------------------------

_now_ms() {
    local us=${EPOCHREALTIME/[.,]/}
    echo $((us / 1000))
}

# wait_for DEADLINE_S CMD... : run CMD until it succeeds; fail if DEADLINE_S (may be fractional)
# passes first. The pause between attempts grows from 20 ms to 200 ms.
wait_for() {
    local deadline_s=$1
    shift
    local end=$(($(_now_ms) + $(awk -v s="$deadline_s" 'BEGIN { printf "%d", s * 1000 }')))
    local pause=0.02
    while true; do
        if "$@"; then
            return 0
        fi
        if (($(_now_ms) >= end)); then
            fail "timed out after ${deadline_s}s waiting for: $*"
        fi
        sleep "$pause"
        case $pause in
        0.02) pause=0.05 ;;
        0.05) pause=0.1 ;;
        *) pause=0.2 ;;
        esac
    done
}

# --- ports -------------------------------------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 that the kernel just handed out and released.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_open PORT: is something listening on 127.0.0.1:PORT?
port_open() {
    python3 -c 'import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# --- redis -------------------------------------------------------------------------------------

_redis_pong() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2> /dev/null)" == PONG ]]; }

# start_redis: redis-server without persistence on a free port; sets REDIS_PORT, REDIS_URL, REDIS_PID.
start_redis() {
    require_cmd redis-server redis-cli python3
    REDIS_PORT=$(free_port)
    local dir="$WORK/redis-$REDIS_PORT"
    mkdir -p "$dir"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --daemonize no --logfile "$dir/redis.log" &
    REDIS_PID=$!
    _track "$REDIS_PID"
    _logs+=("$dir/redis.log")
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    export REDIS_PORT REDIS_URL
    wait_for 10 _redis_pong
}

# durable_redis_setup: for tests that kill Redis and start it again with its data: picks REDIS_PORT and
# the data directory RDIR ($WORK/redis, an fsync'd append-only file); run_redis then starts redis-server
# there (again on the same port after a kill) and sets REDIS_PID.
durable_redis_setup() {
    require_cmd redis-server redis-cli
    REDIS_PORT=$(free_port)
    RDIR="$WORK/redis"
    mkdir -p "$RDIR"
    _logs+=("$RDIR/redis.log")
}
run_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
        --dir "$RDIR" --daemonize no --logfile "$RDIR/redis.log" &
    REDIS_PID=$!
    _track "$REDIS_PID"
    wait_for 10 _redis_pong
}

# rcli ARGS...: redis-cli against the test's redis.
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# --- mosquitto ---------------------------------------------------------------------------------

# start_mosquitto [CONF LINE...]: an anonymous MQTT broker on a free port, with each CONF LINE added after
# its listener line (TLS files, queue limits); sets MQTT_PORT, MQTT_URL, MQTT_PID.
start_mosquitto() {
    require_cmd mosquitto python3
    MQTT_PORT=$(free_port)
    local dir="$WORK/mosquitto-$MQTT_PORT" extra=""
    mkdir -p "$dir"
    if (($# > 0)); then
        extra=$(printf '%s\n' "$@")
    fi
    cat > "$dir/mosquitto.conf" << EOF
listener $MQTT_PORT 127.0.0.1
$extra
allow_anonymous true
persistence false
log_dest file $dir/mosquitto.log
user $(id -un)
EOF
    mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.stderr" 2>&1 &
    MQTT_PID=$!
    _track "$MQTT_PID"
    _logs+=("$dir/mosquitto.log" "$dir/mosquitto.stderr")
    MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT"
    export MQTT_PORT MQTT_URL
    wait_for 10 port_open "$MQTT_PORT"
}

# --- sink (tests/helpers/sink) -----------------------------------------------------------------

_has_port_line() { grep -q '^PORT ' "$1"; }

# start_sink [SINK ARGS...]: starts the sink; sets SINK_PORT, SINK_URL, SINK_OUT, SINK_PID. Each call
# starts a new sink (save the variables to keep several).
start_sink() {
    [[ -x "$HELPERS/sink" ]] || fail "$HELPERS/sink not built (make check builds it)"
    _n_started=$((_n_started + 1))
    local base="$WORK/sink-$_n_started"
    SINK_OUT="$base.jsonl"
    : > "$SINK_OUT"
    "$HELPERS/sink" --out "$SINK_OUT" "$@" > "$base.stdout" 2> "$base.stderr" &
    SINK_PID=$!
    _track "$SINK_PID"
    _logs+=("$base.stderr")
    wait_for 10 _has_port_line "$base.stdout"
    SINK_PORT=$(awk '/^PORT / { print $2; exit }' "$base.stdout")
    SINK_URL="http://127.0.0.1:$SINK_PORT"
    export SINK_PORT SINK_URL SINK_OUT
}

# shellcheck disable=SC2120 # the argument is optional
# sink_count [FILE]: how many requests the sink has recorded.
sink_count() {
    local f=${1:-$SINK_OUT}
    if [[ -f "$f" ]]; then
        wc -l < "$f" | tr -d ' '
    else
        echo 0
    fi
}

_sink_has() { (($(sink_count "$2") >= $1)); }

# wait_sink_lines N [DEADLINE_S [FILE]]: wait until the sink has recorded at least N requests.
wait_sink_lines() {
    wait_for "${2:-10}" _sink_has "$1" "${3:-$SINK_OUT}"
}

# sink_ctl WHAT [SINK_URL]: GET /_sink/WHAT of the sink (default $SINK_URL) and print the answer. WHAT:
# hold (close the gate: requests are recorded, then held unanswered), release (answer every held request
# and open the gate), open (requests open now), max_open (the most ever open at once), count.
# A held call is a function that has not answered: give that function a timeout_ms far beyond the test
# (600000), or a slow machine's hold ends in a timeout and a retry the test did not expect.
sink_ctl() {
    curl -fsS --max-time 10 "${2:-$SINK_URL}/_sink/$1" || fail "sink $1 (${2:-$SINK_URL}) did not answer"
}

_sink_open_has() { (($(sink_ctl open "$2") >= $1)); }

# wait_sink_open N [DEADLINE_S [SINK_URL]]: wait until at least N requests are open at the sink (with the
# gate closed: N requests are held there; check sink_ctl open or sink_count for an exact number).
wait_sink_open() {
    wait_for "${2:-10}" _sink_open_has "$1" "${3:-$SINK_URL}"
}

# sink_line N [FILE]: the Nth recorded request (1-based), one JSON line.
sink_line() { sed -n "${1}p" "${2:-$SINK_OUT}"; }

# json_get JSON PY_EXPR: evaluate a Python expression on the parsed JSON `j`; prints strings bare
# and everything else as compact JSON. Example: json_get "$(sink_line 1)" 'j["body"]["x"]'
json_get() {
    python3 -c 'import json, sys
j = json.loads(sys.argv[1])
v = eval(sys.argv[2], {"j": j, "json": json})
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))' "$1" "$2"
}

# --- trigd -------------------------------------------------------------------------------------

_trigd_healthy() {
    if ! kill -0 "$TRIGD_PID" 2> /dev/null; then
        fail "trigd exited during start-up (log: $TRIGD_LOG)"
    fi
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz" 2> /dev/null
}

# start_trigd CONFIG [ARGS...]: starts $TRIGD -c CONFIG, logging to $WORK/trigd-N.log, and waits
# for /healthz. HTTP_PORT must match the config's http.listen (read from it when unset). Sets
# TRIGD_PID and TRIGD_LOG.
start_trigd() {
    local config=$1
    shift
    [[ -x "$TRIGD" ]] || fail "$TRIGD not built"
    require_cmd curl python3
    if [[ -z "${HTTP_PORT:-}" ]]; then
        HTTP_PORT=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get("http", {}).get("listen", "127.0.0.1:9070").rsplit(":", 1)[1])' \
            "$config")
    fi
    export HTTP_PORT
    _n_started=$((_n_started + 1))
    TRIGD_LOG="$WORK/trigd-$_n_started.log"
    _logs+=("$TRIGD_LOG")
    # shellcheck disable=SC2086 # TRIGD_WRAPPER is a command line, split on purpose
    ${TRIGD_WRAPPER:-} "$TRIGD" -c "$config" "$@" > "$TRIGD_LOG" 2>&1 &
    TRIGD_PID=$!
    _track "$TRIGD_PID"
    wait_for "${TRIGD_START_TIMEOUT:-20}" _trigd_healthy
}

_gone() { ! kill -0 "$1" 2> /dev/null; }

# stop_process PID [DEADLINE_S]: SIGTERM, wait (bounded), and return its exit status in STOP_RC.
stop_process() {
    local pid=$1 deadline=${2:-30}
    kill -TERM "$pid" 2> /dev/null || true
    wait_for "$deadline" _gone "$pid"
    STOP_RC=0
    wait "$pid" || STOP_RC=$?
    _untrack "$pid"
}

# shellcheck disable=SC2120 # the argument is optional
# stop_trigd [PID]: SIGTERM trigd (default $TRIGD_PID), wait for it to drain, expect exit 0.
stop_trigd() {
    local pid=${1:-$TRIGD_PID}
    stop_process "$pid" "${TRIGD_STOP_TIMEOUT:-30}"
    ((STOP_RC == 0)) || fail "trigd (pid $pid) exited with status $STOP_RC after SIGTERM"
}

# shellcheck disable=SC2120 # the argument is optional
# kill9_trigd [PID]: SIGKILL, for crash tests.
kill9_trigd() {
    local pid=${1:-$TRIGD_PID}
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    _untrack "$pid"
}

# trigd_url PATH: http://127.0.0.1:$HTTP_PORT/PATH
trigd_url() { echo "http://127.0.0.1:$HTTP_PORT${1}"; }

# metric 'NAME{label="v",...}': that sample's value in trigd's /metrics (labels as trigd prints them),
# 0 when absent.
metric() {
    curl -fsS --max-time 5 "$(trigd_url /metrics)" |
        awk -v k="$1" '$1 == k { v = $2; found = 1 } END { print found ? v : 0 }'
}

_route_idle() {
    local r
    for r in "$@"; do
        (($(metric "trigd_queued{route=\"$r\"}") == 0)) || return 1
    done
}

# wait_route_idle DEADLINE_S ROUTE...: wait until each ROUTE holds no event (none queued, in flight or
# waiting to retry; DLQ writes done). After that nothing more can reach its function: the negative check
# "no duplicate / no further attempt arrives" without a sleep.
wait_route_idle() {
    local deadline=$1
    shift
    wait_for "$deadline" _route_idle "$@"
}

# post_json URL BODY: POST BODY as application/json; prints the status code ("000" if no answer).
post_json() {
    curl -sS -o "$WORK/last_response" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' --data-binary "$2" "$1" || true
}
