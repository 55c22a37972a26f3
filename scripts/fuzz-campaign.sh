#!/usr/bin/env bash
# A fuzzing campaign: every cargo-fuzz target (or the ones named) for
# MINUTES each, as many at once as there are CPUs, each with its SMTP
# dictionary (fuzz/dict/), new inputs into a scratch corpus (the committed
# corpus is read, never written), then one table: executions, exec/s,
# coverage (libFuzzer's final `cov:`), features and crashes per target.
#
#   scripts/fuzz-campaign.sh MINUTES [TARGET...]
#
# FUZZ_SANITIZER=none (default, stable toolchain) or address (needs
# nightly flags: RUSTC_BOOTSTRAP=1 is set for it). Crash inputs are kept
# under target/fuzz-campaign/TARGET/artifacts; minimise one and put it in
# fuzz/regressions/TARGET/ once fixed. Coverage reports: see README
# ("Fuzzing").
set -euo pipefail

minutes=${1:?usage: scripts/fuzz-campaign.sh MINUTES [TARGET...]}
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"
sanitizer=${FUZZ_SANITIZER:-none}
[ "$sanitizer" = address ] && export RUSTC_BOOTSTRAP=1

# The dictionary of each target (fuzz/dict/targets).
dict_of() {
    awk -v t="$1" '$1 == t { print "dict/" $2 }' dict/targets
}

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
cargo fuzz build --sanitizer "$sanitizer" >/dev/null
out="$root/target/fuzz-campaign"
mkdir -p "$out"
jobs=$(nproc)
# FUZZ_SECONDS overrides MINUTES (short checks of the script itself).
seconds=${FUZZ_SECONDS:-$((minutes * 60))}
if [ "$seconds" -le 0 ]; then
    echo "fuzz-campaign: MINUTES must be at least 1" >&2
    exit 64
fi
running=0
for target in "${targets[@]}"; do
    dir="$out/$target"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    dict=$(dict_of "$target")
    args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
    [ -n "$dict" ] && args+=(-dict="$dict")
    (cargo fuzz run --sanitizer "$sanitizer" "$target" "$dir/corpus" "corpus/$target" \
        -- "${args[@]}" >"$dir/log" 2>&1 || true) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

printf '| target | executions | exec/s | cov | ft | crashes |\n|---|---:|---:|---:|---:|---:|\n'
for target in "${targets[@]}"; do
    log="$out/$target/log"
    execs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | awk '{print $2}' | tail -1)
    rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | awk '{print $2}' | tail -1)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | awk '{print $2}' | tail -1)
    crashes=$(find "$out/$target/artifacts" -type f | wc -l)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$target" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "$crashes"
done
