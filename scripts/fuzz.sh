#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan, and runs each
# for SECONDS on a scratch copy of its seed corpus (fuzz/corpus/<target>/ is
# never modified). Prints the executions per target; exits non-zero if any
# target crashed, leaked, timed out or ran out of memory, keeping the input that
# did it under $BUILD_DIR/crashes/ and the log under $BUILD_DIR/fuzz-logs/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 s, every target)
#   BUILD_DIR overrides build-fuzz/; JOBS the build parallelism.
#   Reproduce a crash:  $BUILD_DIR/fuzz/<target> <crash file>
#   (MESHTRAIN_FUZZ_VERBOSE=1 also prints what each input parsed to).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
seconds="${1:-30}"
[ $# -gt 0 ] && shift
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
all_targets=(fuzz_config fuzz_idx fuzz_csv fuzz_checkpoint fuzz_wire)
targets=("${@:-${all_targets[@]}}")
for t in "${targets[@]}"; do
  [ -d "$root/fuzz/corpus/$t" ] || { echo "fuzz: unknown target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

# clang and its sanitizer/libFuzzer runtimes are only needed here, so they are
# installed here rather than by setup.sh (same idempotent pattern).
"$root/scripts/setup.sh"
fuzz_packages=(clang libclang-rt-14-dev)
missing=()
for pkg in "${fuzz_packages[@]}"; do
  # No `| grep -q`: it can close the pipe early, a failure under pipefail.
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == *"install ok installed"* ]] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "fuzz: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The whole build dir is a clang build: the libraries under test carry the
# coverage and sanitizer instrumentation too (fuzzer-no-link), only the targets
# link libFuzzer's main. Asserts stay on (no NDEBUG): they are our own invariants.
# -g1: line tables only, enough for file:line in every report, and the build
# (part of every CI run) takes about a third less time than with full -g.
cmake -S "$root" -B "$build" \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DMESHTRAIN_FUZZ=ON -DMESHTRAIN_BUILD_TESTS=OFF -DMESHTRAIN_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

crashes="$build/crashes"
logs="$build/fuzz-logs"
mkdir -p "$crashes" "$logs"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/meshtrain-fuzz-run-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$scratch/$t"
  mkdir -p "$corpus"
  cp "$root/fuzz/corpus/$t/"* "$corpus/"
  dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  log="$logs/$t.log"
  echo "fuzz: $t for ${seconds}s"
  status=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a lying header
  # must not make a parser allocate gigabytes.
  "$build/fuzz/$t" "$corpus" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -use_value_profile=1 \
    -print_final_stats=1 -artifact_prefix="$crashes/$t-" >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -1)"
  if [ -z "$runs" ]; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1 runs/p' "$log" | tail -1)"
  fi
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    summary+=("$(printf '%-16s FAILED (exit %s) after %s; input kept: %s' "$t" "$status" "${runs:-? runs}" "${artifact:-none}")")
    echo "fuzz: $t FAILED; the report (from $log):" >&2
    # From the sanitizer's or the harness's first word to its SUMMARY line.
    awk '/ERROR: |runtime error:|fuzz invariant failed|fuzz harness:/ {on = 1} on && n < 40 {print; n++} /^SUMMARY:/ && on {exit}' \
      "$log" >&2
  else
    summary+=("$(printf '%-16s ok: %s (%s, corpus %s inputs)' "$t" "${runs:-? runs}" "${cov:-cov: ?}" "$(ls "$corpus" | wc -l)")")
  fi
done

echo
echo "fuzz: executions per target (${seconds}s each)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $crashes, logs under $logs)" >&2
  exit 1
fi
echo "fuzz: no crashes"
