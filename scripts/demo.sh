#!/usr/bin/env bash
# The default job: four peers on loopback train the Fashion-MNIST MLP together
# by ring all-reduce, shown as one live view, ending with a summary table.
#   scripts/demo.sh [extra meshtrain run args, e.g. --set train.epochs=2]
# Environment: RUN_DIR (default runs/demo-<time>); MESHTRAIN=path runs that binary
# as it is (no setup, no build); DEMO_CONFIG another four-peer cluster config
# (default configs/fashion_mlp.toml, whose ports are 7101-7104).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ -z "${MESHTRAIN:-}" ]; then
  "$root/scripts/setup.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target meshtrain
  MESHTRAIN="$build/meshtrain"
fi
export MESHTRAIN
config="${DEMO_CONFIG:-$root/configs/fashion_mlp.toml}"

export RUN_DIR="${RUN_DIR:-$root/runs/demo-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RUN_DIR"
echo "demo: 4 peers, ring all-reduce, Fashion-MNIST MLP; run directory $RUN_DIR"

"$root/scripts/launch.sh" 4 "$config" --set sync.mode=ring "$@" >"$RUN_DIR/launch.log" 2>&1 &
launcher=$!
trap 'kill -TERM $launcher 2>/dev/null; wait $launcher 2>/dev/null; exit 130' INT TERM

"$MESHTRAIN" watch "$RUN_DIR" --pid "$launcher"
status=0
wait "$launcher" || status=$?
echo
sed -n '/^peer /,$p' "$RUN_DIR/launch.log"
[ "$status" -eq 0 ] || { echo "demo: a peer failed; see $RUN_DIR/launch.log" >&2; exit "$status"; }
echo "demo: plot it with scripts/plot.sh $RUN_DIR"
