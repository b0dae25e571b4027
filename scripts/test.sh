#!/usr/bin/env bash
# Sets up, configures (Release, warnings as errors), builds and runs every test.
# Usage: scripts/test.sh [--full] [extra ctest args]   (BUILD_DIR overrides build/)
#   --full  what CI runs (.ci/run): after the Release suite, the sanitizer
#           builds (scripts/sanitize.sh: the whole suite under ASan+UBSan, the
#           threaded layers under TSan) and every fuzz target for
#           FUZZ_SECONDS (default 10) each (scripts/fuzz.sh). See docs/testing.md.
# MESHTRAIN_CROSS=1 also cross-builds the aarch64 binary (scripts/cross.sh, into
# build-aarch64/) for the qemu interop test, which otherwise skips with a message.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
full=0
if [ "${1:-}" = --full ]; then
  full=1
  shift
fi

stage() { echo "== test.sh: $1 ($(date +%T))"; }

"$root/scripts/setup.sh"
stage "Release build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMESHTRAIN_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
if [ "${MESHTRAIN_CROSS:-0}" != 0 ]; then
  aarch64_build="${AARCH64_BUILD_DIR:-$root/build-aarch64}"
  BUILD_DIR="$aarch64_build" JOBS="$jobs" "$root/scripts/cross.sh" aarch64
  export MESHTRAIN_AARCH64_BINARY="$aarch64_build/meshtrain"
fi
stage "Release tests"
if ! (cd "$build" && ctest --output-on-failure -j "$jobs" "$@"); then
  echo "== test.sh: what failed" >&2
  "$root/scripts/test_failures.sh" "$build/Testing/Temporary/LastTest.log" >&2 || true
  exit 1
fi
[ "$full" = 1 ] || exit 0

# Sanitizer builds at -O1 -g1: a third less build time than -O2 -g, and every
# report still has file:line.
stage "sanitizers"
SANITIZE_OPT="${SANITIZE_OPT:--O1 -g1}" "$root/scripts/sanitize.sh" all
stage "fuzzing"
"$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-10}"
stage "all green"
