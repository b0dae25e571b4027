#!/usr/bin/env bash
# Sets up, configures (Release, warnings as errors), builds and runs every test.
# Usage: scripts/test.sh [extra ctest args]   (BUILD_DIR overrides build/)
# MESHTRAIN_CROSS=1 also cross-builds the aarch64 binary (scripts/cross.sh, into
# build-aarch64/) for the qemu interop test, which otherwise skips with a message.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMESHTRAIN_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
if [ "${MESHTRAIN_CROSS:-0}" != 0 ]; then
  aarch64_build="${AARCH64_BUILD_DIR:-$root/build-aarch64}"
  BUILD_DIR="$aarch64_build" JOBS="$jobs" "$root/scripts/cross.sh" aarch64
  export MESHTRAIN_AARCH64_BINARY="$aarch64_build/meshtrain"
fi
cd "$build"
ctest --output-on-failure -j "$jobs" "$@"
