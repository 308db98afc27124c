#!/usr/bin/env bash
# runtime_scale.sh — instances of a runtime function grow with demand up to max_concurrency and never
# serve two invokes at once (5 invokes held by a gate file against max_concurrency 3: 3 instances,
# 2 invokes refused with Lambda's 429; every instance counts its invokes one after another), stop after idle_timeout_s
# (scale to zero), and min_instances are started at load as provisioned concurrency and replaced after
# kill -9.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

RT=$(cd "$TOP_SRCDIR/tests/runtimes" && pwd -P) # as trigd resolves code_dir
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": { "listen": "127.0.0.1:$HTTP_PORT" },
  "state_dir": "$WORK/state",
  "functions": {
    "burst": { "type": "runtime", "code_dir": "$RT/echo", "max_concurrency": 3, "idle_timeout_s": 1,
               "timeout_ms": 60000 },
    "warm": { "type": "runtime", "code_dir": "$RT/echo", "max_concurrency": 3, "min_instances": 2,
              "idle_timeout_s": 1, "timeout_ms": 60000 }
  },
  "sources": {}, "routes": {}
}
EOF
start_trigd "$WORK/trigd.json"

status() { curl -fsS "$(trigd_url /admin/status)"; }
fn_status() { json_get "$(status)" "[f for f in j[\"functions\"] if f[\"name\"] == \"$1\"][0]$2"; }
gated() { find "$WORK" -maxdepth 1 -name 'gate.in.*' | wc -l; }
_gated_is() { (($(gated) == $1)); }

# --- 5 invokes held by a gate, max_concurrency 3 ------------------------------------------------
# Three run, one per instance; the two beyond max_concurrency are refused at once, as Lambda does
# (429 TooManyRequestsException, Reason ReservedFunctionConcurrentInvocationLimitExceeded).
invoke_bg() { # invoke_bg I: POST {"gate":...,"i":I} in the background; body in out.I, status in code.I
    curl -sS -o "$WORK/out.$1" -w '%{http_code}' --max-time 60 -X POST \
        "$(trigd_url /2015-03-31/functions/burst/invocations)" \
        --data-binary "{\"gate\":\"$WORK/gate\",\"i\":$1}" > "$WORK/code.$1" &
    _track $!
}
codes_are() { # codes_are CODE N: N of the answers so far have status CODE
    local n=0 f
    for f in "$WORK"/code.*; do [[ -s "$f" && "$(cat "$f")" == "$1" ]] && n=$((n + 1)); done
    ((n == $2))
}
for i in 1 2 3 4 5; do invoke_bg "$i"; done
wait_for 20 _gated_is 3
wait_for 20 codes_are 429 2
for i in 1 2 3 4 5; do
    if [[ "$(cat "$WORK/code.$i" 2> /dev/null)" == 429 ]]; then
        assert_eq ReservedFunctionConcurrentInvocationLimitExceeded "$(json_get "$(cat "$WORK/out.$i")" 'j["Reason"]')" \
            "the throttled invoke's Reason"
    fi
done
assert_eq 0 "$(fn_status burst '["waiting"]')" "invokes waiting inside the runtime pool"
assert_eq 3 "$(fn_status burst '["instances"]["busy"]')" "busy instances while the gate is shut"
assert_eq 3 "$(metric 'trigd_function_instances{function="burst",state="busy"}')" "busy instances in /metrics"
assert_eq 3 "$(metric 'trigd_inflight{function="burst"}')" "invokes in flight"
touch "$WORK/gate"
wait_for 30 codes_are 200 3
assert_eq 3 "$(metric 'trigd_function_cold_starts_total{function="burst"}')" "instances started for 5 invokes"
# A second round of three, the gate open: warm instances serve them (or new ones, should idle_timeout_s
# have passed meanwhile on a slow machine), each instance one invoke after another.
for i in 6 7 8; do invoke_bg "$i"; done
wait_for 30 codes_are 200 6
python3 - "$WORK" << 'PY' || fail "the answers do not show one invoke at a time per instance"
import collections, json, sys
seen = collections.defaultdict(list)
for i in range(1, 9):
    if open(f"{sys.argv[1]}/code.{i}").read() != "200":
        continue
    a = json.load(open(f"{sys.argv[1]}/out.{i}"))
    seen[a["pid"]].append(a["n"])
assert len(seen) >= 3, seen
for pid, ns in seen.items():
    assert sorted(ns) == list(range(1, len(ns) + 1)), (pid, ns)  # one after another, none twice
PY
pids=$(cat "$WORK"/gate.in.* | sort -u)

# --- scale to zero after idle_timeout_s ----------------------------------------------------------
_no_instances() { [[ "$(fn_status burst '["instances"]')" == '{"initializing":0,"idle":0,"busy":0,"stopping":0}' ]]; }
wait_for 20 _no_instances
for p in $pids; do
    wait_for 5 _gone "$p"
done
assert_eq 0 "$(metric 'trigd_function_instances{function="burst",state="idle"}')" "idle instances after the timeout"

# --- min_instances: provisioned at load, kept past the idle timeout, replaced after kill -9 ------
_warm_idle() { [[ "$(fn_status warm '["instances"]["idle"]')" == 2 ]]; }
wait_for 20 _warm_idle
warm_pids=$(json_get "$(status)" '" ".join(str(i["pid"]) for f in j["functions"] if f["name"] == "warm" for i in f["instance_list"])')
assert_eq 2 "$(metric 'trigd_function_cold_starts_total{function="warm"}')" "provisioned instances started at load"
curl -sS -o "$WORK/env" --max-time 30 -X POST "$(trigd_url /2015-03-31/functions/warm/invocations)" -d '{"env":true}'
grep -qx 'AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency' "$WORK/env" ||
    fail "a provisioned instance does not say provisioned-concurrency"
sleep 2 # longer than idle_timeout_s: provisioned instances stay
wait_for 5 _warm_idle
victim=${warm_pids%% *}
kill -KILL "$victim"
_replaced() {
    local now
    now=$(json_get "$(status)" '" ".join(str(i["pid"]) for f in j["functions"] if f["name"] == "warm" for i in f["instance_list"] if i["state"] == "idle")')
    [[ " $now " != *" $victim "* ]] && [[ $(wc -w <<< "$now") == 2 ]]
}
wait_for 20 _replaced
assert_eq 3 "$(metric 'trigd_function_cold_starts_total{function="warm"}')" "instances started for warm (2 + 1 replacement)"

stop_trigd
log "ok"
