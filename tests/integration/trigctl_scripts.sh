#!/usr/bin/env bash
# trigctl_scripts.sh — trigctl for scripts: `--json` on every read command (status, routes, schedules,
# functions, usage, dlq list, dlq show) prints one JSON document holding what the table shows, and the
# exit status tells the cases apart: 0 ok, 1 trigd answered with an error, 2 usage error or unusable
# input, 3 trigd cannot be reached.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3
[[ -x "$TRIGCTL" ]] || fail "$TRIGCTL not built"

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << EOF
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {
    "echo": {"type": "exec", "command": ["$TOP_SRCDIR/examples/functions/echo.sh"]},
    "fails": {"type": "exec", "command": ["$TOP_SRCDIR/examples/functions/fail.sh"]}
  },
  "sources": {
    "in": {"type": "webhook", "path": "/in"},
    "daily": {"type": "schedule", "expression": "cron(0 3 * * ? *)"}
  },
  "routes": {
    "to-dlq": {"source": "in", "function": "fails", "max_retry_attempts": 0},
    "nightly": {"source": "daily", "function": "echo"}
  }
}
EOF
start_trigd "$WORK/trigd.json"
export TRIGD_URL="http://127.0.0.1:$HTTP_PORT"

# ctl ARGS...: trigctl with stdout in $WORK/out, stderr in $WORK/err; sets CTL_RC.
ctl() {
    CTL_RC=0
    "$TRIGCTL" "$@" > "$WORK/out" 2> "$WORK/err" || CTL_RC=$?
}
# json_has EXPR: the Python expression EXPR on the JSON document `j` in $WORK/out is true
json_has() {
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$WORK/out" "$1"
}
# read_json "ARGS" EXPR: trigctl --json ARGS exits 0 and prints one JSON document for which EXPR holds
read_json() {
    local args
    read -ra args <<< "$1"
    ctl --json "${args[@]}"
    ((CTL_RC == 0)) || fail "trigctl --json $1 exited $CTL_RC: $(cat "$WORK/err")"
    json_has "$2" || fail "trigctl --json $1: '$2' does not hold for: $(head -c 2000 "$WORK/out")"
}

# one event into the DLQ
curl -fsS -o /dev/null -X POST --data '{"order":1}' "$TRIGD_URL/in" || fail "POST /in"
dlq_has_one() { ctl --json dlq list to-dlq && json_has 'len(j["entries"]) == 1'; }
wait_for 30 dlq_has_one

read_json status '{s["name"] for s in j["sources"]} == {"in", "daily"} and "version" in j'
read_json routes '{r["name"] for r in j["routes"]} == {"to-dlq", "nightly"}'
read_json "schedules --next 2" '[s["name"] for s in j["schedules"]] == ["daily"]'
read_json functions '{f["name"] for f in j["functions"]} == {"echo", "fails"}'
read_json usage 'isinstance(j, dict) and "functions" in j'
read_json "dlq list to-dlq" 'len(j["entries"]) == 1'
ID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["entries"][0]["id"])' "$WORK/out")
read_json "dlq show to-dlq $ID" '"requestContext" in json.dumps(j)'
log "--json: status, routes, schedules, functions, usage, dlq list, dlq show print JSON"

# the tables are not JSON (so --json is what changed the output)
ctl routes
((CTL_RC == 0)) || fail "trigctl routes exited $CTL_RC"
! json_has 'True' 2> /dev/null || fail "trigctl routes without --json printed JSON"

# exit statuses
ctl --json dlq show to-dlq no-such-entry
assert_eq 1 "$CTL_RC" "dlq show of a missing entry (an error answer)"
ctl invoke fails < /dev/null
assert_eq 1 "$CTL_RC" "invoke of a failing function (an error answer)"
ctl frobnicate
assert_eq 2 "$CTL_RC" "an unknown command"
ctl status extra
assert_eq 2 "$CTL_RC" "an argument too many"
ctl --url
assert_eq 2 "$CTL_RC" "--url without a value"
ctl invoke echo "$WORK/no-such-file.json"
assert_eq 2 "$CTL_RC" "an event file that does not exist"
ctl --token-env TRIGCTL_NO_SUCH_VARIABLE status
assert_eq 2 "$CTL_RC" "--token-env naming an unset variable"
ctl --url "http://127.0.0.1:$(free_port)" --json status
assert_eq 3 "$CTL_RC" "no trigd listening"
[[ ! -s "$WORK/out" ]] || fail "an unreachable trigd printed on stdout: $(cat "$WORK/out")"
stop_trigd
ctl routes
assert_eq 3 "$CTL_RC" "trigd stopped"
log "exit statuses 0, 1, 2, 3; ok"
