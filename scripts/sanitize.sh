#!/usr/bin/env bash
# Runs the test suite under sanitizers (gcc is fine; -march=native stays on):
#   asan  build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer, the parsers,
#         sockets and kernels (every unit suite, the CLI suites of hostile input,
#         security and the ring)
#   tsan  build-tsan/: ThreadSanitizer, the threaded layers only (transport, sync,
#         membership, cli_ring)
#   all   both (the default)
# Usage: scripts/sanitize.sh [asan|tsan|all] [extra ctest args]
#   ASAN_BUILD_DIR / TSAN_BUILD_DIR override the build dirs, JOBS the parallelism,
#   SANITIZE_OPT the optimisation and debug flags (default "-O2 -g"; CI uses
#   "-O1 -g1": a third less build time, line numbers still in every report),
#   CLEAN=1 rebuilds from scratch (an object compiled while its header was being
#   edited can look up to date yet be stale: odd layout-mismatch reports mean CLEAN=1).
# Exits non-zero if a test fails or any sanitizer reports anything, including in
# a child process a test started.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-all}"
[ $# -gt 0 ] && shift
case "$mode" in
  asan | tsan | all) ;;
  *) echo "sanitize: usage: $0 [asan|tsan|all] [extra ctest args]" >&2; exit 2 ;;
esac
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# What the ASan+UBSan run covers: where memory bugs live, i.e. the parsers
# (config, data files, wire headers and payloads, checkpoints), the sockets
# (transport, the sync layer's mailbox and collectives, membership) and the
# model's kernels: every unit suite of those layers, plus the CLI suites that feed
# real peers hostile, malformed or secured traffic and drive a ring end to end.
# The CLI suites of whole-cluster journeys (faults, gossip, compression, reruns,
# divergence, observability, the bats journeys, the doc runner) run the same code
# for minutes per case at ASan's speed: the Release run covers them, and CI's
# budget (docs/testing.md) does not leave room for them twice.
asan_tests='^(test_(config|data|wire|transport|sync|membership|model|optim|train)_|test_cli_(command_line|hostile_input|security|ring|train|peer_metrics|status_page)$)'
asan_exclude=(
  # They count allocations by interposing malloc (tests/support/allocation_counter.h);
  # the sanitizer runtime owns malloc, so they crash before main under ASan.
  '_allocations$'
)

# Test cases too slow for a sanitizer run (doctest --test-case-exclude globs). The
# executables below run outside ctest with only these cases filtered out; all their
# other cases still run. Why: they train Fashion-MNIST models to an accuracy target
# ("reach 0.88": 1-2 minutes in Release, about 10x that under ASan, more under TSan;
# the full suite took 19 minutes on 2 cores with them), or they assert throughput
# ratios ("slowed 5x") and liveness deadlines (membership.dead_ms = 1000 in the
# compression run) that a sanitizer's slowdown breaks. They check learning and
# timing, which the Release suite covers; their code paths are the ones the other
# cases of the same executables drive.
slow_cases='*reach*,*slowed 5x*'
slow_case_tests=(test_cli_train test_cli_ring test_cli_compression test_cli_gossip)

# The threaded layers: the transport's comm thread, the sync layer's mailbox and
# collectives, membership's heartbeats, and the CLI ring test that runs real peers.
tsan_tests='^(test_transport_|test_sync_|test_membership_|test_cli_ring$)'

"$root/scripts/setup.sh"
failed=()
# What failed, printed again at the very end: CI shows only the tail of the output,
# and ctest's --output-on-failure text scrolls far above it.
excerpts="$(mktemp)"
trap 'rm -f "$excerpts"' EXIT

report_pattern='runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|ThreadSanitizer: '

# configure_and_build DIR FLAGS [TARGET...]: a RelWithDebInfo build with asserts left on
# (they are our own invariants; sanitizer builds exist to find our bugs).
# Warnings are not errors here: GCC's flow analysis sees through the sanitizer
# instrumentation badly (false -Wmaybe-uninitialized in std::variant, GCC 12), and
# the Release build (scripts/test.sh) is the one that holds the code to -Werror.
configure_and_build() {
  local dir="$1" flags="$2"
  shift 2
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${SANITIZE_OPT:--O2 -g}" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    -DMESHTRAIN_WERROR=OFF -DMESHTRAIN_BUILD_BENCH=OFF >/dev/null
  # Keep going past a target that does not compile: the tests that do build still
  # run (a test whose executable is missing shows as "Not Run" and fails).
  local keep_going=(-k)
  grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt" && keep_going=(-k 0)
  local clean=()
  [ "${CLEAN:-0}" = 1 ] && clean=(--clean-first)
  local stamp="$dir/.sanitize-build-start"
  touch "$stamp"
  if ! cmake --build "$dir" -j "$jobs" "${clean[@]}" "${targets[@]}" -- "${keep_going[@]}"; then
    failed+=("$(basename "$dir"): some targets failed to build")
  fi
  # A source edited while it was being compiled leaves an object that make thinks
  # is current: say so, since the reports may then come from mixed layouts.
  local changed
  # sed, not head: head would close the pipe early, and find's SIGPIPE fails the
  # assignment under pipefail (and set -e ends the script).
  changed="$(find "$root/include" "$root/src" "$root/tests" -newer "$stamp" -type f 2>/dev/null | sed -n '1,5p')"
  if [ -n "$changed" ]; then
    echo "sanitize: WARNING: sources changed during the build (e.g. ${changed//$'\n'/ });" \
      "if reports look like layout mismatches, rerun with CLEAN=1" >&2
  fi
}

# The test executables a run covers: every tests/test_*.cpp matching `include`
# (all if empty) and none of `exclude`.
select_tests() {
  local include="$1" exclude="$2" f t
  for f in "$root"/tests/test_*.cpp; do
    t="$(basename "$f" .cpp)"
    [ "$t" = test_main ] && continue
    [ -n "$include" ] && ! [[ "$t" =~ $include ]] && continue
    [ -n "$exclude" ] && [[ "$t" =~ $exclude ]] && continue
    echo "$t"
  done
}

# run_suite NAME DIR REPORTS_DIR INCLUDE EXCLUDE [ctest args...]: runs the selected
# tests (ctest for most, the executables of slow_case_tests directly, without their
# slow cases), then looks for sanitizer reports in two places: files under
# REPORTS_DIR (ASan/LSan/TSan write there through log_path, from every process,
# children whose stderr a test swallows included) and the output of every test,
# passed ones too (UBSan's log_path is unreliable in GCC 12's runtime, so its
# reports stay on stderr).
run_suite() {
  local name="$1" dir="$2" reports="$3" include="$4" exclude="$5"
  shift 5
  local direct=() t
  for t in "${slow_case_tests[@]}"; do
    if [ -n "$(select_tests "^$t\$" "$exclude")" ] && { [ -z "$include" ] || [[ "$t" =~ $include ]]; }; then
      direct+=("$t")
    fi
  done
  local ctest_exclude="$exclude"
  if [ ${#direct[@]} -gt 0 ]; then
    ctest_exclude="${ctest_exclude:+$ctest_exclude|}^($(IFS='|'; echo "${direct[*]}"))\$"
  fi
  local ctest_args=(--output-on-failure -j "$jobs" --timeout 900)
  [ -n "$include" ] && ctest_args+=(-R "$include")
  [ -n "$ctest_exclude" ] && ctest_args+=(-E "$ctest_exclude")  # an empty -E would exclude everything
  local status=0 started=$SECONDS
  (cd "$dir" && ctest "${ctest_args[@]}" "$@") || status=$?

  local logs=("$dir/Testing/Temporary/LastTest.log")
  for t in "${direct[@]}"; do
    local log="$dir/Testing/Temporary/direct-$t.log" rc=0
    logs+=("$log")
    echo "sanitize: $name: $t without the cases '$slow_cases'"
    (cd "$dir/tests" && timeout 900 "./$t" --test-case-exclude="$slow_cases") >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      status=1
      echo "sanitize: $name: $t FAILED (exit $rc); its output ($log):" >&2
      tail -40 "$log" >&2
    fi
  done
  echo "sanitize: $name: tests took $((SECONDS - started)) s"

  local found=0 f
  for f in $(find "$reports" -type f | sort); do
    echo "---- $name: $f" >&2
    head -60 "$f" >&2
    # The first report once more at the end, where CI's tail shows it.
    [ "$found" -eq 0 ] && { echo "---- $name: the first report ($f)"; head -40 "$f"; } >>"$excerpts"
    found=1
  done
  # Reports in the tests' output (UBSan's), shown here and again at the end.
  local in_output
  in_output="$(
    for f in "${logs[@]}"; do
      [ -f "$f" ] && grep -qE "$report_pattern" "$f" || continue
      echo "---- $name: reports in the output of these tests ($f):"
      awk -v pat="$report_pattern" -v file="$(basename "$f")" '
        /^[0-9]+\/[0-9]+ Testing: / {test = $3}
        $0 ~ pat && !seen[test]++ {print "  " (test == "" ? file : test) ": " $0}' "$f"
    done
  )"
  if [ -n "$in_output" ]; then
    found=1
    echo "$in_output" >&2
    echo "$in_output" >>"$excerpts"
  fi
  if [ "$status" -ne 0 ]; then
    { echo "---- $name: what failed"; "$root/scripts/test_failures.sh" "${logs[@]}" || true; } >>"$excerpts"
  fi
  if [ "$found" -ne 0 ]; then
    failed+=("$name: sanitizer reports")
  elif [ "$status" -ne 0 ]; then
    failed+=("$name: test failures (no sanitizer report)")
  else
    echo "sanitize: $name: clean"
  fi
}

if [ "$mode" = asan ] || [ "$mode" = all ]; then
  build="${ASAN_BUILD_DIR:-$root/build-asan}"
  # Build only what the selected tests need (they and the meshtrain binary the CLI tests start).
  mapfile -t asan_targets < <(select_tests "$asan_tests" "$(IFS='|'; echo "${asan_exclude[*]}")")
  configure_and_build "$build" "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    meshtrain "${asan_targets[@]}"
  reports="$build/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  # One log_path, in ASAN_OPTIONS only: LSan shares ASan's common flags, and a
  # log_path in LSAN_OPTIONS would take over ASan's reports as well.
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    run_suite asan "$build" "$reports" "$asan_tests" "$(IFS='|'; echo "${asan_exclude[*]}")" "$@"
fi

if [ "$mode" = tsan ] || [ "$mode" = all ]; then
  build="${TSAN_BUILD_DIR:-$root/build-tsan}"
  # Build only what the selected tests need (they and the meshtrain binary the CLI tests start).
  mapfile -t tsan_targets < <(select_tests "$tsan_tests" "")
  configure_and_build "$build" "-fsanitize=thread -fno-omit-frame-pointer" meshtrain "${tsan_targets[@]}"
  reports="$build/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  # libzmq from Debian is not built with TSan: the hand-off of messages and
  # zero-copy buffers between our threads and ZeroMQ's I/O thread goes through its
  # lock-free pipes and atomics, which TSan cannot see, so every such hand-off
  # looks like a race. So: ignore the memory accesses libzmq makes through
  # intercepted calls (recv, memcpy into message buffers), and reports with a
  # libzmq frame. Races between our own threads (comm thread, mailbox, callers)
  # are still reported.
  # The same holds for libsodium, which libzmq's I/O thread calls to decrypt
  # CURVE messages into the buffers it then hands over.
  printf '%s\n' 'called_from_lib:libzmq.so' 'race:libzmq.so' 'called_from_lib:libsodium.so' 'race:libsodium.so' \
    >"$build/tsan.supp"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$build/tsan.supp:log_path=$reports/tsan" \
    run_suite tsan "$build" "$reports" "$tsan_tests" "" "$@"
fi

if [ ${#failed[@]} -gt 0 ]; then
  cat "$excerpts" >&2
  printf 'sanitize: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "sanitize: no reports"
