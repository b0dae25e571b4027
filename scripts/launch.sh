#!/usr/bin/env bash
# Starts the first N peers of a cluster config as background processes on this
# machine, logs each to RUN_DIR/<id>/, waits for all, prints the summary table.
#
#   scripts/launch.sh N [CONFIG] [extra meshtrain run args, e.g. --set sync.mode=ring]
#
# Without CONFIG: configs/fashion_mlp.toml for up to 4 peers, configs/fashion_mlp_8.toml beyond.
#
# Environment: RUN_DIR (default runs), MESHTRAIN (the binary; default build/meshtrain).
# Exits non-zero if any peer failed. Ctrl-C / SIGTERM stops exactly the peers it started.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MESHTRAIN:-$root/build/meshtrain}"
run_dir="${RUN_DIR:-runs}"

if [ $# -lt 1 ]; then
  echo "usage: scripts/launch.sh N [CONFIG] [meshtrain run args...]" >&2
  exit 2
fi
n="$1"; shift
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "launch: N must be a positive integer (got '$n')" >&2
  exit 2
fi
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  config="$1"; shift
elif [ "$n" -le 4 ]; then
  config="$root/configs/fashion_mlp.toml"
else
  config="$root/configs/fashion_mlp_8.toml"
fi
if [ ! -x "$bin" ]; then
  echo "launch: $bin not found; build first (scripts/test.sh or cmake --build build)" >&2
  exit 2
fi

# The peers of the cluster, as the config itself lists them (after cluster.size).
if ! peers_out="$("$bin" peers --config "$config" --set cluster.size="$n" "$@" 2>&1)"; then
  echo "launch: $peers_out" >&2
  exit 2
fi
mapfile -t ids < <(printf '%s\n' "$peers_out" | awk '{print $1}')

pids=()
stop_children() {
  trap - INT TERM
  echo "launch: stopping ${#pids[@]} peer(s)" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Peers checkpoint and leave on SIGTERM; give them a moment, then insist.
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  exit 130
}
trap stop_children INT TERM

for id in "${ids[@]}"; do
  dir="$run_dir/$id"
  mkdir -p "$dir"
  "$bin" run --config "$config" --id "$id" --set cluster.size="$n" \
    --set log.metrics="$dir/metrics.jsonl" --set checkpoint.dir="$dir/checkpoints" \
    --set log.progress=line "$@" >"$dir/log.txt" 2>&1 &
  pids+=("$!")
  echo "launch: started $id (pid $!), log $dir/log.txt"
done

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then :; else
    code=$?
    failed=1
    echo "launch: peer ${ids[$i]} failed (exit $code); last lines of $run_dir/${ids[$i]}/log.txt:" >&2
    tail -n 5 "$run_dir/${ids[$i]}/log.txt" >&2
  fi
done
trap - INT TERM

echo
"$bin" report "$run_dir" || true
exit "$failed"
