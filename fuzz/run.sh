#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other, and prints
# executions and findings per target. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of CI.
#
#   fuzz/run.sh SECONDS [TARGET...]
#   JOBS=2 fuzz/run.sh 600        # two targets at a time
#
# Seeds come from the repository's test data (`picket-fuzz-seeds`); the corpora grow in
# fuzz/corpus/<target>, crashes land in fuzz/artifacts/<target>, logs in fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
jobs=${JOBS:-1}
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
flags=(--sanitizer none --debug-assertions)

cargo run -q --manifest-path ../Cargo.toml -p picket-tests --bin picket-fuzz-seeds -- corpus
cargo +nightly fuzz build "${flags[@]}"
mkdir -p logs

run_one() {
    local t=$1
    mkdir -p "artifacts/$t"
    # A crash ends the run early with a non-zero status; it is reported below, not fatal here.
    cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || true
}

running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

printf '%-16s %14s %10s %8s %s\n' target executions exec/s corpus findings
status=0
for t in "${targets[@]}"; do
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    corpus=$(find "corpus/$t" -type f | wc -l)
    findings=$(find "artifacts/$t" -type f | wc -l)
    printf '%-16s %14s %10s %8s %s\n' "$t" "$execs" "$rate" "$corpus" "$findings"
    [ "$findings" -eq 0 ] || status=1
done
exit $status
