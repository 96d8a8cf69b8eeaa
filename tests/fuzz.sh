#!/usr/bin/env bash
# Builds the AFL++ fuzz targets (fuzz/) and runs each for a fixed time, as many at once as
# there are cores; fails if any target found a crash. Needs cargo-afl (tests/README.md says
# how to install it; tests/run.sh does). Findings stay in fuzz/out/timed/<target>/.
#
#   bash tests/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]      (default: 20 s, every target)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
    targets=(framer framer_split bosh jid scram_first scram_final plain)
fi

# AFL++'s runtime is built per Rust toolchain: once after each upgrade (an error otherwise).
cargo afl config --build >/dev/null 2>&1 || true
cargo afl build --release --locked
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
out=out/timed
rm -rf "$out"
mkdir -p "$out"

# No UI in a log; no CPU frequency or core_pattern checks (a CI machine's are not ours to
# change; crashes are seen by afl-fuzz itself, not through core dumps); no pinning to cores
# other processes may be using.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1

fuzz() {
    local target=$1
    # -V ends the run; the timeout only catches an afl-fuzz that does not end.
    if ! timeout $((seconds + 120)) cargo afl fuzz -V "$seconds" -i "in/$target" -o "$out/$target" \
        "$bin/$target" >"$out/$target.log" 2>&1; then
        echo "afl-fuzz failed on $target:"
        tail -n 20 "$out/$target.log"
        return 1
    fi
}

failed=0
cores=$(nproc)
for ((i = 0; i < ${#targets[@]}; i += cores)); do
    pids=()
    for target in "${targets[@]:i:cores}"; do
        fuzz "$target" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
done

field() { sed -n "s/^$2 *: //p" "$out/$1/default/fuzzer_stats" 2>/dev/null; }
printf '%-13s %10s %8s %7s %6s %8s %6s\n' target execs execs/s corpus found crashes hangs
for target in "${targets[@]}"; do
    printf '%-13s %10s %8s %7s %6s %8s %6s\n' "$target" "$(field "$target" execs_done)" \
        "$(field "$target" execs_per_sec)" "$(field "$target" corpus_count)" "$(field "$target" corpus_found)" \
        "$(field "$target" saved_crashes)" "$(field "$target" saved_hangs)"
    crashes=$(find "$out/$target/default/crashes" -name 'id:*' 2>/dev/null || true)
    if [ -n "$crashes" ]; then
        failed=1
        echo "$target crashed; reproduce with: (cd fuzz && $bin/$target < FILE)"
        echo "$crashes" | sed 's|^|  fuzz/|'
    fi
done
exit "$failed"
