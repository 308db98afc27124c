# shellcheck shell=bash
# function.sh — handlers for the bash custom runtime (bootstrap, next to this file). Each gets the event
# as $1 and prints its result on stdout; a non-zero return is a function error whose message is the last
# line it printed on stderr.

# handler: echoes the event with the runtime's pid ($$ is the bootstrap's: the same in every warm invoke)
# and the request id (the bootstrap's REQUEST_ID, visible to every handler).
handler() {
    echo "bash handler: ${#1} bytes of event" >&2
    printf '{"runtime":"bash","pid":%d,"requestId":"%s","event":%s}' "$$" "$REQUEST_ID" "${1:-null}"
}

# fail: a function error.
fail() {
    echo "fail: this handler always fails" >&2
    return 1
}
