#!/usr/bin/env bash
# fail.sh — an exec function that always fails: trigd sees a non-zero exit as a function error
# ("Unhandled"), retries the event and finally writes it to the dead-letter queue.
set -euo pipefail
cat > /dev/null
echo "fail.sh: refusing the event on purpose" >&2
printf '{"errorType":"Example","errorMessage":"fail.sh always fails"}\n'
exit 1
