#!/usr/bin/env bash
# Sets up, configures (Release, warnings as errors), builds and runs every test.
# Usage: scripts/test.sh [--full] [extra ctest args]   (BUILD_DIR overrides build/)
#   --full  what CI runs (.ci/run): after the Release suite, the sanitizer
#           builds (scripts/sanitize.sh: parsers, sockets and kernels under
#           ASan+UBSan, the threaded layers under TSan) and every fuzz target for
#           FUZZ_SECONDS (default 10) each (scripts/fuzz.sh). See docs/testing.md.
# --full also installs promtool and headless Chromium (scripts/setup.sh
# --observability) and makes test_cli_observe fail, not skip, without them
# (MESHTRAIN_REQUIRE_OBSERVE_TOOLS=1); plain test.sh skips those checks with a message.
# --full also cross-builds the aarch64 binary (scripts/cross.sh, into
# build-aarch64/: about 70 s on 2 cores once its packages are in) for the qemu
# interop test (tests/test_cli_interop.cpp), which otherwise skips with a message.
# MESHTRAIN_CROSS=1 does that without --full, MESHTRAIN_CROSS=0 leaves it out.
# Before the build, shellcheck (warning level) lints scripts/, .ci/ and the
# shell of tests/ (the journey tests, tests/*/*.sh); any finding fails the run, and
# scripts/check_layers.sh fails it on an #include against the layer order of
# docs/architecture.md. The build goes
# through ccache when it is installed (its cache stays in ccache's own
# directory, ~/.cache/ccache unless CCACHE_DIR says otherwise).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
full=0
if [ "${1:-}" = --full ]; then
  full=1
  shift
fi

stage() { echo "== test.sh: $1 ($(date +%T))"; }

if [ "$full" = 1 ]; then
  "$root/scripts/setup.sh" --observability
  export MESHTRAIN_REQUIRE_OBSERVE_TOOLS=1
else
  "$root/scripts/setup.sh"
fi
stage "shellcheck"
shopt -s nullglob
lint=("$root"/scripts/*.sh "$root"/.ci/run "$root"/tests/*/*.sh "$root"/tests/journeys/*.bats "$root"/tests/journeys/*.bash)
shopt -u nullglob
if ! shellcheck -S warning "${lint[@]}"; then
  echo "== test.sh: shellcheck found the problems above (shellcheck -S warning FILE shows them again)" >&2
  exit 1
fi
stage "layer order"
"$root/scripts/check_layers.sh"
stage "Release build"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMESHTRAIN_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
if [ "${MESHTRAIN_CROSS:-$full}" != 0 ]; then
  stage "aarch64 cross-build, for the qemu interop test"
  aarch64_build="${AARCH64_BUILD_DIR:-$root/build-aarch64}"
  cross_status=0
  BUILD_DIR="$aarch64_build" JOBS="$jobs" "$root/scripts/cross.sh" aarch64 || cross_status=$?
  case "$cross_status" in
    0) export MESHTRAIN_AARCH64_BINARY="$aarch64_build/meshtrain" ;;
    3) echo "== test.sh: WARNING: this machine cannot install the aarch64 cross toolchain;" \
         "test_cli_interop will be skipped (its reason is in its output)" >&2 ;;
    *) echo "== test.sh: the aarch64 cross-build failed (exit $cross_status)" >&2; exit 1 ;;
  esac
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
