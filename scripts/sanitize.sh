#!/usr/bin/env bash
# Runs the test suite under sanitizers (gcc is fine; -march=native stays on):
#   asan  build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer, the whole ctest suite
#   tsan  build-tsan/: ThreadSanitizer, the threaded layers only (transport, sync, cli_ring)
#   all   both (the default)
# Usage: scripts/sanitize.sh [asan|tsan|all] [extra ctest args]
#   ASAN_BUILD_DIR / TSAN_BUILD_DIR override the build dirs, JOBS the parallelism,
#   CLEAN=1 rebuilds from scratch (an object compiled while its header was being
#   edited can look up to date yet be stale: odd ODR-like reports mean CLEAN=1).
# Exits non-zero if a test fails or any sanitizer reports anything, including in
# a child process a test started (reports go to files, listed at the end).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-all}"
[ $# -gt 0 ] && shift
case "$mode" in
  asan | tsan | all) ;;
  *) echo "sanitize: usage: $0 [asan|tsan|all] [extra ctest args]" >&2; exit 2 ;;
esac
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Tests left out of the ASan run (ctest -E regexes), each with why. Add a test
# here, with a comment, if it gets too slow under ASan for the time budget.
asan_exclude=(
  # They count allocations by interposing malloc (tests/support/allocation_counter.h);
  # the sanitizer runtime owns malloc, so they crash before main under ASan.
  '_allocations$'
)

# The threaded layers: the transport's comm thread, the sync layer's mailbox and
# ring, and the CLI ring test that runs real peers. Everything else is single-threaded.
tsan_tests='^(test_transport_|test_sync_|test_cli_ring)'

"$root/scripts/setup.sh"
failed=()

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
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g" \
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
  changed="$(find "$root/include" "$root/src" "$root/tests" -newer "$stamp" -type f 2>/dev/null | head -5)"
  if [ -n "$changed" ]; then
    echo "sanitize: WARNING: sources changed during the build (e.g. ${changed//$'\n'/ });" \
      "if reports look like layout mismatches, rerun with CLEAN=1" >&2
  fi
}

# run_suite NAME DIR REPORTS_DIR [ctest args...]: runs ctest, then looks for
# sanitizer reports in two places: files under REPORTS_DIR (ASan/LSan/TSan write
# there through log_path, from every process, children whose stderr a test
# swallows included) and the output of every test, passed ones too (UBSan's
# log_path is unreliable in GCC 12's runtime, so its reports stay on stderr).
run_suite() {
  local name="$1" dir="$2" reports="$3"
  shift 3
  local status=0
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900 "$@") || status=$?
  local found=0
  for f in $(find "$reports" -type f | sort); do
    found=1
    echo "---- $name: $f" >&2
    head -60 "$f" >&2
  done
  local output="$dir/Testing/Temporary/LastTest.log"
  if [ -f "$output" ] && grep -qE "$report_pattern" "$output"; then
    found=1
    echo "---- $name: reports in the output of these tests ($output):" >&2
    awk -v pat="$report_pattern" '/^[0-9]+\/[0-9]+ Testing: / {test = $3} $0 ~ pat && !seen[test]++ {print "  " test ": " $0}' \
      "$output" >&2
  fi
  if [ "$found" -ne 0 ]; then
    failed+=("$name: sanitizer reports")
  elif [ "$status" -ne 0 ]; then
    failed+=("$name: ctest exit $status")
  else
    echo "sanitize: $name: clean"
  fi
}
report_pattern='runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|ThreadSanitizer: '

if [ "$mode" = asan ] || [ "$mode" = all ]; then
  build="${ASAN_BUILD_DIR:-$root/build-asan}"
  configure_and_build "$build" "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  reports="$build/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  exclude=()
  if [ ${#asan_exclude[@]} -gt 0 ]; then exclude=(-E "$(IFS='|'; echo "${asan_exclude[*]}")"); fi
  # One log_path, in ASAN_OPTIONS only: LSan shares ASan's common flags, and a
  # log_path in LSAN_OPTIONS would take over ASan's reports as well.
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    run_suite asan "$build" "$reports" "${exclude[@]}" "$@"
fi

if [ "$mode" = tsan ] || [ "$mode" = all ]; then
  build="${TSAN_BUILD_DIR:-$root/build-tsan}"
  # Build only what the selected tests need (they and the meshtrain binary the CLI tests start).
  tsan_targets=(meshtrain)
  for f in "$root"/tests/test_*.cpp; do
    t="$(basename "$f" .cpp)"
    [[ "$t" =~ $tsan_tests ]] && tsan_targets+=("$t")
  done
  configure_and_build "$build" "-fsanitize=thread -fno-omit-frame-pointer" "${tsan_targets[@]}"
  reports="$build/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  # libzmq from Debian is not built with TSan: the hand-off of messages and
  # zero-copy buffers between our threads and ZeroMQ's I/O thread goes through its
  # lock-free pipes and atomics, which TSan cannot see, so every such hand-off
  # looks like a race. So: ignore the memory accesses libzmq makes through
  # intercepted calls (recv, memcpy into message buffers), and reports with a
  # libzmq frame. Races between our own threads (comm thread, mailbox, callers)
  # are still reported.
  printf '%s\n' 'called_from_lib:libzmq.so' 'race:libzmq.so' >"$build/tsan.supp"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$build/tsan.supp:log_path=$reports/tsan" \
    run_suite tsan "$build" "$reports" -R "$tsan_tests" "$@"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: no reports"
