#!/usr/bin/env bash
# bash_completion.sh — contrib/bash-completion/trigctl completes commands, dlq subcommands and
# options, and route and function names asked from a running trigd (through --url on the line or
# TRIGD_URL), and offers no names when trigd cannot be reached.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3
BC=/usr/share/bash-completion/bash_completion
[[ -f $BC ]] || skip_or_fail "$BC not found (./dev test installs bash-completion)"

HTTP_PORT=$(free_port)
sed -e "s|@pkgdatadir@|$TOP_SRCDIR|g" -e "s|\"/var/lib/trigd\"|\"$WORK/state\"|" \
    -e "s|127.0.0.1:9070|127.0.0.1:$HTTP_PORT|" "$TOP_SRCDIR/contrib/trigd.json.in" > "$WORK/trigd.json"
start_trigd "$WORK/trigd.json"
URL=http://127.0.0.1:$HTTP_PORT

# complete WORD...: the completions bash offers for the line "WORD..." (the last word is the one
# being completed), space-separated and sorted
complete_line() {
    PATH="$(dirname "$TRIGCTL"):$PATH" bash -c '
        source "$1"
        source "$2"
        shift 2
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _trigctl trigctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$BC" "$TOP_SRCDIR/contrib/bash-completion/trigctl" "$@"
}
expect() { # expect "COMPLETIONS" WORD...
    local want=$1 got
    shift
    got=$(complete_line "$@")
    assert_eq "$want" "${got% }" "completing '$*'"
}

expect "dlq functions invoke routes schedules status test-pattern usage" trigctl ''
expect "dlq" trigctl d
expect "list purge redrive show" trigctl dlq ''
expect "--all --id --rate" trigctl dlq redrive r --
expect "--help --json --token-env --token-file --url --version" trigctl --
expect "broken-to-dlq hello-echo" trigctl --url "$URL" dlq list ''
expect "always-fails echo" trigctl --url "$URL" invoke ''
expect "broken-to-dlq" trigctl "--url=$URL" dlq show b
TRIGD_URL=$URL expect "echo" trigctl invoke e
log "commands, subcommands, options, and route and function names from trigd"

stop_trigd
expect "" trigctl --url "$URL" invoke ''
log "no names when trigd is down; ok"
