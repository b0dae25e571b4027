#!/usr/bin/env bash
# The default job: four peers on loopback train the Fashion-MNIST MLP together
# by ring all-reduce, shown as one live view, ending with a summary table.
#
#   scripts/demo.sh [--set section.key=value ...] [--resume]
#
# --set changes the config (e.g. --set train.epochs=2); --resume continues a
# demo stopped with Ctrl-C from its checkpoints: the run in RUN_DIR, by default
# the newest runs/demo-*.
# Environment: RUN_DIR (default runs/demo-<time>); MESHTRAIN=path runs that binary
# as it is (no setup, no build); DEMO_CONFIG another four-peer cluster config
# (default configs/fashion_mlp.toml, whose ports are 7101-7104); BUILD_DIR (default build).
# Exit status: 0 done; 2 bad arguments or config (checked before setup and build
# when a binary at least as new as the sources exists); otherwise the code of
# the first peer that failed, whose error is printed.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
die_usage() { echo "demo: $*" >&2; echo "usage: scripts/demo.sh [--set section.key=value ...] [--resume] (--help for more)" >&2; exit 2; }

set_args=()
resume=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --set)
      [ $# -ge 2 ] && [ -n "$2" ] || die_usage "--set needs a value (section.key=value)"
      set_args+=(--set "$2"); shift 2 ;;
    --set=*)
      [ -n "${1#--set=}" ] || die_usage "--set needs a value (section.key=value)"
      set_args+=("$1"); shift ;;
    --resume) resume=1; shift ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
config="${DEMO_CONFIG:-$root/configs/fashion_mlp.toml}"
demo_args=(--set sync.mode=ring "${set_args[@]}")

# The config the peers will load, checked by `meshtrain peers` (the same checks
# as `run`): a bad --set fails here with its message and exit code 2.
check_config() {
  local out code=0
  out="$("$1" peers --config "$config" --set cluster.size=4 "${demo_args[@]}" 2>&1)" || code=$?
  if [ "$code" -ne 0 ]; then
    echo "demo: $out" >&2
    exit "$code"
  fi
}

if [ -z "${MESHTRAIN:-}" ]; then
  # An existing binary no older than the sources can judge the config before
  # the minutes of setup and build; a stale one might not know a new key.
  if [ -x "$build/meshtrain" ] &&
    [ -z "$(find "$root/src" "$root/include" "$root/CMakeLists.txt" -newer "$build/meshtrain" -print -quit 2>/dev/null)" ]; then
    check_config "$build/meshtrain"
  fi
  "$root/scripts/setup.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target meshtrain
  MESHTRAIN="$build/meshtrain"
fi
export MESHTRAIN
check_config "$MESHTRAIN"

launch_args=("${demo_args[@]}")
if [ "$resume" = 1 ]; then
  launch_args+=(--resume)
  if [ -z "${RUN_DIR:-}" ]; then
    shopt -s nullglob
    earlier=("$root"/runs/demo-*/)
    shopt -u nullglob
    [ ${#earlier[@]} -gt 0 ] || die_usage "--resume: no earlier demo run under $root/runs (set RUN_DIR to the run to resume)"
    RUN_DIR="${earlier[-1]%/}"  # names sort by time
  fi
  [ -d "$RUN_DIR" ] || die_usage "--resume: no run directory $RUN_DIR"
fi
export RUN_DIR="${RUN_DIR:-$root/runs/demo-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RUN_DIR"
what="4 peers, ring all-reduce, Fashion-MNIST MLP"
if [ "$resume" = 1 ]; then echo "demo: $what; resuming run directory $RUN_DIR"; else echo "demo: $what; run directory $RUN_DIR"; fi

"$root/scripts/launch.sh" 4 "$config" "${launch_args[@]}" >"$RUN_DIR/launch.log" 2>&1 &
launcher=$!
# The live view runs in the background too, so a signal to this script is
# handled at once (bash defers traps while a foreground child runs).
"$MESHTRAIN" watch "$RUN_DIR" --pid "$launcher" &
watcher=$!
stop() {
  trap - INT TERM
  kill -TERM "$launcher" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  kill -TERM "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM

wait "$watcher" || true
status=0
wait "$launcher" || status=$?
trap - INT TERM
echo
sed -n '/^peer /,$p' "$RUN_DIR/launch.log"
if [ "$status" -ne 0 ]; then
  # launch.log: "launch: started ..." lines, then per failed peer a header and
  # the end of its log, then the report. Show the first failure in full.
  echo "demo: failed (exit $status); from $RUN_DIR/launch.log:" >&2
  awk '/^launch: started / { next } /^$/ { exit } /^launch: peer .* failed/ { n++; print; next } n <= 1 { print }' \
    "$RUN_DIR/launch.log" >&2
  exit "$status"
fi
echo "demo: plot it with scripts/plot.sh $RUN_DIR"
