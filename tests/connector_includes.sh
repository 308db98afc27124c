#!/usr/bin/env bash
# connector_includes.sh — a connector (connectors/NAME/) includes connectors/connector.h, the engine's whole
# face towards it, and files of its own folder; never a header under src/. Fails naming every offending line.
set -euo pipefail
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
cd "$TOP_SRCDIR/connectors"
bad=0
for f in */*.c */*.h; do
    dir=${f%%/*}
    while IFS= read -r line; do
        inc=${line#*\"}
        inc=${inc%%\"*}
        case $inc in
        ../connector.h) continue ;;
        */*) ;;
        *) [[ -f "$dir/$inc" ]] && continue ;;
        esac
        echo "connectors/$f: #include \"$inc\": a connector includes only ../connector.h and files of its own folder" >&2
        bad=1
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done
exit "$bad"
