#!/usr/bin/env bash
# echo.sh — an exec function that accepts every event.
# trigd writes the event (or batch) to stdin; stdout is the response; stderr lines go to trigd's log.
# Answers {"ok":true,"bytes":N} with N the size of the event in bytes.
set -euo pipefail
bytes=$(wc -c | tr -d ' ')
echo "echo.sh: received an event of $bytes bytes" >&2
printf '{"ok":true,"bytes":%s}\n' "$bytes"
