#!/usr/bin/env bash
# Runs every cargo-fuzz target in ops/fuzz for a fixed time and writes the results into the
# fuzz section of ops/RELIABILITY.md (between <!-- fuzz:begin --> and <!-- fuzz:end -->).
#
#   ops/fuzz.sh [seconds_per_target]      default 300
#
# Exits 1 if any target crashed (a panic, a failed invariant, a sanitizer report, a timeout or
# running out of memory); the input that did it is kept under the artifacts directory printed
# at the end, and `<binary> <file>` reproduces it.
#
# Needs only the stable toolchain. cargo-fuzz passes nightly-only `-Z` flags to rustc (the
# sanitizer and the coverage instrumentation libFuzzer needs); RUSTC_BOOTSTRAP=1 lets the
# stable compiler take them. It is set for the fuzz build only, never for the project's own
# build. AddressSanitizer works on stable this way (its runtime ships with the standard
# library for x86_64 Linux), so it is on by default; FUZZ_SANITIZER=none turns it off (about
# twice as many runs a second, but memory errors in C or unsafe code go unseen).
#
# Environment:
#   FUZZ_TOOLCHAIN    rustup toolchain for the build (default stable)
#   FUZZ_SANITIZER    address (default) or none
#   FUZZ_TARGET_DIR   where the fuzz build goes (default $CARGO_TARGET_DIR/fuzz, or target/fuzz)
#   FUZZ_WORK_DIR     where each target's corpus and crash artifacts go (default
#                     $FUZZ_TARGET_DIR/work); the corpus grows from run to run
#   FUZZ_TARGETS      space-separated targets to run (default: every target)
#   FUZZ_NO_REPORT=1  do not touch ops/RELIABILITY.md
set -euo pipefail

seconds=${1:-300}
case $seconds in '' | *[!0-9]*) echo "usage: ops/fuzz.sh [seconds_per_target]" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir=$root/ops/fuzz
toolchain=${FUZZ_TOOLCHAIN:-stable}
sanitizer=${FUZZ_SANITIZER:-address}
target_dir=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/fuzz}
work_dir=${FUZZ_WORK_DIR:-$target_dir/work}
report=$root/ops/RELIABILITY.md

cargo_tc=(cargo)
if command -v rustup > /dev/null; then
    cargo_tc=(cargo "+$toolchain")
fi

# libFuzzer is C++, built by libfuzzer-sys.
if ! command -v c++ > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get update -qq && apt-get install -y -qq g++
    else
        echo "fuzz: a C++ compiler (c++) is needed to build libFuzzer" >&2
        exit 2
    fi
fi
if ! "${cargo_tc[@]}" fuzz --version > /dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    "${cargo_tc[@]}" install cargo-fuzz --locked
fi

host=$(rustc "+$toolchain" -vV 2> /dev/null | sed -n 's/^host: //p' || true)
[ -n "$host" ] || host=$(rustc -vV | sed -n 's/^host: //p')
targets=${FUZZ_TARGETS:-$(cd "$root" && "${cargo_tc[@]}" fuzz list --fuzz-dir ops/fuzz)}

echo "fuzz: building (${toolchain}, sanitizer ${sanitizer}) into $target_dir" >&2
(cd "$root" && RUSTC_BOOTSTRAP=1 "${cargo_tc[@]}" fuzz build --fuzz-dir ops/fuzz --target-dir "$target_dir" \
    --sanitizer "$sanitizer")
bin_dir=$target_dir/$host/release

rows=()
crashed=()
for t in $targets; do
    corpus=$work_dir/corpus/$t
    artifacts=$work_dir/artifacts/$t
    log=$work_dir/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    seeds=()
    [ -d "$fuzz_dir/seeds/$t" ] && seeds=("$fuzz_dir/seeds/$t")
    before=$(find "$artifacts" -type f | wc -l)
    echo "fuzz: $t for ${seconds}s" >&2
    status=0
    # -timeout: one input taking 10 s is a finding (a hang), not a slow run.
    "$bin_dir/$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" > "$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<< "$last")
    found=$(($(find "$artifacts" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi
    if [ "$found" -gt 0 ]; then
        crashed+=("$t")
        echo "fuzz: $t CRASHED (exit $status): see $log and $artifacts" >&2
        tail -30 "$log" >&2
    fi
    rows+=("| \`$t\` | ${runs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $found | ${corp:-?} |")
done

if [ "${FUZZ_NO_REPORT:-0}" != 1 ]; then
    commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)
    # This report itself does not count as a change.
    if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- . ':!ops/RELIABILITY.md' 2> /dev/null)" ]; then
        commit="$commit (with uncommitted changes)"
    fi
    kind="Run"
    if [ "$seconds" -lt 300 ]; then
        kind="**Short run** (below the default 300 s per target; a smoke test, not the long figures)"
    fi
    rustc_version=$(rustc "+$toolchain" --version 2> /dev/null || rustc --version)
    section=$(mktemp)
    {
        echo "$kind: \`ops/fuzz.sh $seconds\` on $(date -u +%Y-%m-%d) at commit $commit, $rustc_version"
        echo "with RUSTC_BOOTSTRAP=1, sanitizer \`$sanitizer\`, ${seconds} s per target, one process at a time on"
        echo "$(nproc) cores (load average $(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo unknown) at the end). Runs and"
        echo "execs/s are libFuzzer's final stats; cov (coverage points), ft (features) and corpus (inputs/size)"
        echo "its last status line (the working corpus carries over from earlier runs on the machine)."
        echo
        echo "| Target | Runs | Execs/s | cov | ft | Crashes | Corpus |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
    } > "$section"
    awk -v section="$section" '
        /<!-- fuzz:begin -->/ { print; while ((getline line < section) > 0) print line; skip = 1; next }
        /<!-- fuzz:end -->/ { skip = 0 }
        !skip { print }
    ' "$report" > "$report.tmp" && mv "$report.tmp" "$report"
    rm -f "$section"
    echo "fuzz: results written to ops/RELIABILITY.md" >&2
fi

printf '%s\n' "${rows[@]}"
if [ "${#crashed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in: ${crashed[*]} (inputs under $work_dir/artifacts)" >&2
    exit 1
fi
echo "fuzz: no crashes" >&2
