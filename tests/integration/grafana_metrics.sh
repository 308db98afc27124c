#!/usr/bin/env bash
# grafana_metrics.sh — the monitoring kit matches the daemon: every trigd_* metric that the Grafana
# dashboard (contrib/grafana) and the Prometheus alert rules (contrib/prometheus) query is a family a
# live trigd exports on /metrics. The trigd runs the example config the package installs
# (contrib/trigd.json.in), with its paths pointed at this tree.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd curl python3

HTTP_PORT=$(free_port)
sed -e "s|@pkgdatadir@|$TOP_SRCDIR|g" -e "s|\"/var/lib/trigd\"|\"$WORK/state\"|" \
    -e "s|127.0.0.1:9070|127.0.0.1:$HTTP_PORT|" "$TOP_SRCDIR/contrib/trigd.json.in" > "$WORK/trigd.json"
"$TRIGD" --check-config -c "$WORK/trigd.json" > /dev/null || fail "the packaged example config is refused"
start_trigd "$WORK/trigd.json"

curl -fsS "$(trigd_url /metrics)" > "$WORK/metrics" || fail "GET /metrics failed"
# the families trigd exports, with the series names of histograms (_bucket, _sum, _count)
awk '$1 == "#" && $2 == "TYPE" {
       print $3
       if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" }
     }' "$WORK/metrics" | sort -u > "$WORK/exported"
(($(wc -l < "$WORK/exported") > 10)) || fail "/metrics lists too few families: $(cat "$WORK/metrics")"

check_file() { # check_file FILE: every trigd_* name in FILE is exported
    local file=$1 name n=0
    while IFS= read -r name; do
        n=$((n + 1))
        grep -qxF "$name" "$WORK/exported" || fail "$file queries $name, which trigd does not export"
    done < <(grep -o 'trigd_[a-z0-9_]*' "$file" | sort -u)
    ((n > 0)) || fail "$file queries no trigd metric"
    log "$file: all $n metric names exist"
}
check_file "$TOP_SRCDIR/contrib/grafana/trigd-dashboard.json"
check_file "$TOP_SRCDIR/contrib/prometheus/trigd.rules.yml"

# the dashboard is valid JSON with one query per target
python3 - "$TOP_SRCDIR/contrib/grafana/trigd-dashboard.json" << 'PY' || fail "the dashboard JSON is malformed"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["panels"], "no panels"
for p in d["panels"]:
    assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
PY

stop_trigd
log "ok"
