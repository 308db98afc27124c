#!/usr/bin/env bash
# run.sh SECONDS SEED_DIR BIN_DIR NAME... — run each libFuzzer binary BIN_DIR/fuzz_NAME for SECONDS,
# two at a time (the machines this runs on have two cores), starting from SEED_DIR/NAME and keeping what
# it finds in BIN_DIR/corpus-NAME (never in the seed corpus). Prints one line per target: executions,
# executions per second, crashes (with the reproducer files, BIN_DIR/crash-NAME-*), and exits 1 when a
# target crashed. Leak detection is on. Run by `make fuzz` / `./dev fuzz SECONDS`.
set -uo pipefail
secs=$1 seeds=$2 bins=$3
shift 3
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

run_one() {
    local t=$1
    local work="$bins/corpus-$t"
    mkdir -p "$work"
    rm -f "$bins/crash-$t-"*
    "$bins/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
        -artifact_prefix="$bins/crash-$t-" "$work" "$seeds/$t" > "$bins/fuzz-$t.log" 2>&1
    echo $? > "$bins/fuzz-$t.rc"
}

pending=("$@")
while ((${#pending[@]} > 0)); do
    run_one "${pending[0]}" &
    a=$!
    b=
    if ((${#pending[@]} > 1)); then
        run_one "${pending[1]}" &
        b=$!
    fi
    wait "$a"
    [[ -n "$b" ]] && wait "$b"
    pending=("${pending[@]:2}")
done

status=0
printf '%-12s %12s %10s %8s  %s\n' target executions exec/s crashes reproducers
for t in "$@"; do
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$bins/fuzz-$t.log" | tail -1)
    rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$bins/fuzz-$t.log" | tail -1)
    crashes=$(find "$bins" -maxdepth 1 -name "crash-$t-*" | wc -l)
    rc=$(cat "$bins/fuzz-$t.rc")
    if ((crashes > 0 || rc != 0)); then status=1; fi
    printf '%-12s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" \
        "$( ((crashes > 0 || rc != 0)) && echo "$(find "$bins" -maxdepth 1 -name "crash-$t-*" | tr '\n' ' ')(log: $bins/fuzz-$t.log, exit $rc)")"
done
exit $status
