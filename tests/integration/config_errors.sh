#!/usr/bin/env bash
# config_errors.sh — bad configs are refused before anything starts: trigd exits 2 and prints one
# `FILE: $.path: message` line per error on stderr (all of them, not just the first), and nothing
# listens on the configured port. Good configs pass --check-config; --version, --help exit 0 and an
# unknown flag exits 2.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd python3 timeout
[[ -x "$TRIGD" ]] || fail "$TRIGD not built"

PORT=$(free_port)
unset TRIGD_TEST_UNSET_TOKEN || true
export TRIGD_TEST_TOKEN=s3cret

# run_trigd NAME ARGS...: runs trigd (bounded by timeout) with ARGS; stdout and stderr go to
# $WORK/NAME.out and $WORK/NAME.err; the exit status is in RC.
run_trigd() {
    local name=$1
    shift
    RC=0
    timeout 20 "$TRIGD" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null || RC=$?
}

# expect_line NAME REGEX: some stderr line of run NAME matches the (extended) regex.
expect_line() {
    grep -Eq -- "$2" "$WORK/$1.err" || {
        cat "$WORK/$1.err" >&2
        fail "$1: no stderr line matches /$2/"
    }
}

# refused NAME CONFIG REGEX...: trigd -c CONFIG and --check-config -c CONFIG both exit 2 with every
# REGEX matching a stderr line; the run does not start (nothing on $PORT, no "started" in the log).
refused() {
    local name=$1 config=$2 re
    shift 2
    run_trigd "$name" -c "$config"
    assert_eq 2 "$RC" "$name: exit status of trigd -c"
    for re in "$@"; do
        expect_line "$name" "$re"
    done
    if grep -q 'started' "$WORK/$name.err"; then fail "$name: trigd logged that it started"; fi
    if port_open "$PORT"; then fail "$name: something listens on port $PORT after a refused config"; fi
    run_trigd "$name-check" --check-config -c "$config"
    assert_eq 2 "$RC" "$name: exit status of --check-config"
    for re in "$@"; do
        expect_line "$name-check" "$re"
    done
    [[ ! -s "$WORK/$name-check.out" ]] || fail "$name: --check-config printed on stdout: $(cat "$WORK/$name-check.out")"
}

# Every config below is a variation of this one (written with python to keep the JSON valid).
# mkconf NAME PYTHON: writes $WORK/NAME.json from the base config `c` after running PYTHON on it.
mkconf() {
    python3 - "$WORK/$1.json" "$PORT" "$WORK" "$2" << 'EOF'
import json, sys
out, port, work, code = sys.argv[1:]
c = {
    "http": {"listen": "127.0.0.1:%s" % port},
    "log": {"level": "info"},
    "state_dir": work + "/state",
    "functions": {"fn": {"type": "http", "url": "http://127.0.0.1:9/fn", "timeout_ms": 1000}},
    "sources": {"hook": {"type": "webhook", "path": "/hooks/in"}},
    "routes": {"r": {"source": "hook", "function": "fn"}},
}
exec(code)
with open(out, "w") as f:
    json.dump(c, f, indent=2)
    f.write("\n")
EOF
    echo "$WORK/$1.json"
}

F=$(mkconf good 'pass')
run_trigd good --check-config -c "$F"
assert_eq 0 "$RC" "--check-config of a good config"
grep -q "ok" "$WORK/good.out" || fail "--check-config printed no 'ok': $(cat "$WORK/good.out")"
[[ ! -s "$WORK/good.err" ]] || fail "--check-config of a good config printed errors: $(cat "$WORK/good.err")"
if port_open "$PORT"; then fail "--check-config left something listening on $PORT"; fi

# The good config with auth_token_env naming a variable that is set.
F=$(mkconf good-secret 'c["sources"]["hook"]["auth_token_env"] = "TRIGD_TEST_TOKEN"')
run_trigd good-secret --check-config -c "$F"
assert_eq 0 "$RC" "--check-config with auth_token_env set: $(cat "$WORK/good-secret.err")"

# --- not JSON: the file name, line and column ---------------------------------------------------
F="$WORK/notjson.json"
printf '{\n  "http": {"listen": "127.0.0.1:%s"},\n  "log": {"level": "info",, "format": "text"}\n}\n' \
    "$PORT" > "$F"
refused notjson "$F" "^$F: line 3, column [0-9]+: .*JSON"
col=$(sed -nE "s|^$F: line 3, column ([0-9]+):.*|\1|p" "$WORK/notjson.err" | head -n1)
# The stray comma is at column 27 of line 3; cJSON stops at it or right after it.
((col >= 24 && col <= 30)) || fail "not JSON: column $col is not near the stray comma (27)"

F="$WORK/truncated.json"
printf '{"http": {"listen": "127.0.0.1:%s"},\n "routes": {\n' "$PORT" > "$F"
refused truncated "$F" "^$F: line [23], column [0-9]+: .*JSON"

F="$WORK/empty.json"
: > "$F"
refused empty "$F" "^$F: "

F="$WORK/array.json"
echo '[1, 2]' > "$F"
refused array "$F" "^$F: \\\$: "

run_trigd missing-file -c "$WORK/does-not-exist.json"
assert_eq 2 "$RC" "a missing config file"
expect_line missing-file "^$WORK/does-not-exist.json: "

# --- one error at a time -----------------------------------------------------------------------
F=$(mkconf top-key 'c["colour"] = "blue"')
refused top-key "$F" "^$F: \\\$\\.colour: unknown key"

F=$(mkconf route-key 'c["routes"]["r"]["batch_sise"] = 5')
refused route-key "$F" "^$F: \\\$\\.routes\\.r\\.batch_sise: unknown key"

F=$(mkconf no-source 'del c["routes"]["r"]["source"]')
refused no-source "$F" "^$F: \\\$\\.routes\\.r\\.source: .*required"

F=$(mkconf unknown-source 'c["routes"]["r"]["source"] = "nowhere"')
refused unknown-source "$F" "^$F: \\\$\\.routes\\.r\\.source: .*nowhere"

F=$(mkconf unknown-function 'c["routes"]["r"]["function"] = "nothing"')
refused unknown-function "$F" "^$F: \\\$\\.routes\\.r\\.function: .*nothing"

F=$(mkconf fn-type 'c["functions"]["fn"] = {"type": "ftp", "url": "ftp://x"}')
refused fn-type "$F" "^$F: \\\$\\.functions\\.fn\\.type: unknown function type \"ftp\""

F=$(mkconf batch-low 'c["routes"]["r"]["batch_size"] = 0')
refused batch-low "$F" "^$F: \\\$\\.routes\\.r\\.batch_size: .*range"

F=$(mkconf batch-high 'c["routes"]["r"]["batch_size"] = 10001')
refused batch-high "$F" "^$F: \\\$\\.routes\\.r\\.batch_size: .*10001.*range"

F=$(mkconf batch-type 'c["routes"]["r"]["batch_size"] = "ten"')
refused batch-type "$F" "^$F: \\\$\\.routes\\.r\\.batch_size: "

F=$(mkconf inline-secret 'c["sources"]["hook"]["auth_token"] = "x"')
refused inline-secret "$F" "^$F: \\\$\\.sources\\.hook\\.auth_token: .*auth_token_env"
# The message must not echo the secret's value.
if grep -q '"x"' "$WORK/inline-secret.err"; then fail "the inline secret's value is printed"; fi

F=$(mkconf unset-env 'c["sources"]["hook"]["auth_token_env"] = "TRIGD_TEST_UNSET_TOKEN"')
refused unset-env "$F" "^$F: \\\$\\.sources\\.hook\\.auth_token_env: .*TRIGD_TEST_UNSET_TOKEN.*not set"

F=$(mkconf webhook-path 'c["sources"]["hook"]["path"] = "hooks/in"')
refused webhook-path "$F" "^$F: \\\$\\.sources\\.hook\\.path: .*/"

F=$(mkconf source-type 'c["sources"]["hook"]["type"] = "carrier-pigeon"')
refused source-type "$F" "^$F: \\\$\\.sources\\.hook\\.type: .*carrier-pigeon"

# --- several errors at once: every one is printed, one per line --------------------------------
F=$(mkconf many '
c["colour"] = "blue"
c["routes"]["r"]["batch_sise"] = 5
c["routes"]["r2"] = {"function": "fn"}
c["functions"]["bad"] = {"type": "ftp"}
c["routes"]["r"]["batch_size"] = 0
c["sources"]["hook"]["auth_token"] = "x"
c["sources"]["hook2"] = {"type": "webhook", "path": "/h2", "auth_token_env": "TRIGD_TEST_UNSET_TOKEN"}
')
refused many "$F" \
    "^$F: \\\$\\.colour: unknown key" \
    "^$F: \\\$\\.routes\\.r\\.batch_sise: unknown key" \
    "^$F: \\\$\\.routes\\.r2\\.source: .*required" \
    "^$F: \\\$\\.functions\\.bad\\.type: unknown function type" \
    "^$F: \\\$\\.routes\\.r\\.batch_size: .*range" \
    "^$F: \\\$\\.sources\\.hook\\.auth_token: .*auth_token_env" \
    "^$F: \\\$\\.sources\\.hook2\\.auth_token_env: .*not set"
n=$(grep -c "^$F: \\\$" "$WORK/many.err" || true)
((n == 7)) || {
    cat "$WORK/many.err" >&2
    fail "several errors: expected 7 error lines, got $n"
}
# Every stderr line is an error line of this file (no stray log lines, no duplicates).
assert_eq "$(wc -l < "$WORK/many.err" | tr -d ' ')" "$n" "stderr lines that are not FILE: \$.path lines"
assert_eq "$n" "$(sort -u "$WORK/many.err" | wc -l | tr -d ' ')" "duplicate error lines"

# --- the command line --------------------------------------------------------------------------
run_trigd embedded --check-config
assert_eq 0 "$RC" "--check-config of the embedded config: $(cat "$WORK/embedded.err")"

run_trigd version --version
assert_eq 0 "$RC" "--version"
grep -Eq '^trigd [0-9]+\.[0-9]+' "$WORK/version.out" || fail "--version printed '$(cat "$WORK/version.out")'"

run_trigd version-short -V
assert_eq 0 "$RC" "-V"

run_trigd help --help
assert_eq 0 "$RC" "--help"
grep -q -- '--check-config' "$WORK/help.out" || fail "--help does not mention --check-config"

run_trigd help-short -h
assert_eq 0 "$RC" "-h"

run_trigd bad-flag --no-such-flag
assert_eq 2 "$RC" "an unknown flag"
[[ -s "$WORK/bad-flag.err" ]] || fail "an unknown flag printed nothing on stderr"

run_trigd stray-arg -c "$WORK/good.json" extra-argument
assert_eq 2 "$RC" "a stray argument"

run_trigd no-arg -c
assert_eq 2 "$RC" "-c without a file"

if port_open "$PORT"; then fail "something listens on $PORT at the end"; fi
log "ok"
