#!/usr/bin/env bash
# Sets up, configures (Release, warnings as errors), builds and runs every test.
# Usage: scripts/test.sh [extra ctest args]   (BUILD_DIR overrides build/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMESHTRAIN_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs" "$@"
