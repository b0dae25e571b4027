#!/usr/bin/env bash
# Starts the first N peers of a cluster config as background processes on this
# machine, logs each to RUN_DIR/<id>/, waits for all, prints the summary table.
#
#   scripts/launch.sh N [CONFIG] [--set section.key=value ...] [--resume]
#
# Without CONFIG: configs/fashion_mlp.toml for up to 4 peers, configs/fashion_mlp_8.toml beyond.
# --set goes to every peer; --resume makes each peer continue from its newest
# checkpoint in RUN_DIR/<id>/checkpoints (a cluster stopped with Ctrl-C goes on).
# Every run appends to RUN_DIR/<id>/metrics.jsonl; each line carries its run id,
# and `meshtrain report` / scripts/plot.sh show the latest run.
#
# Environment: RUN_DIR (default runs), MESHTRAIN (the binary; default build/meshtrain),
# PROMETHEUS_PORT (unset: off; P: the i-th peer serves /metrics on 127.0.0.1:P+i,
# log.prometheus, docs/observability.md).
# Exit status: 0 all peers done; 2 bad arguments or config; otherwise the exit
# code of the first peer that failed. Ctrl-C / SIGTERM stops exactly the peers
# it started (each checkpoints and leaves) and exits 130 (143 after SIGTERM).
set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
die_usage() { echo "launch: $*" >&2; echo "usage: scripts/launch.sh N [CONFIG] [--set section.key=value ...] [--resume] (--help for more)" >&2; exit 2; }

for arg in "$@"; do
  case "$arg" in -h | --help) usage; exit 0 ;; esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MESHTRAIN:-$root/build/meshtrain}"
run_dir="${RUN_DIR:-runs}"

[ $# -ge 1 ] || die_usage "missing N, the number of peers"
n="$1"; shift
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die_usage "N must be a positive integer (got '$n')"
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  config="$1"; shift
elif [ "$n" -le 4 ]; then
  config="$root/configs/fashion_mlp.toml"
else
  config="$root/configs/fashion_mlp_8.toml"
fi

# --set goes to `meshtrain peers` (which validates the config the peers will
# load) and to every `meshtrain run`; --resume only to `run`.
set_args=()
run_only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --set)
      [ $# -ge 2 ] && [ -n "$2" ] || die_usage "--set needs a value (section.key=value)"
      set_args+=(--set "$2"); shift 2 ;;
    --set=*)
      [ -n "${1#--set=}" ] || die_usage "--set needs a value (section.key=value)"
      set_args+=("$1"); shift ;;
    --resume) run_only+=(--resume); shift ;;
    --config | --config=* | -c | --id | --id=*)
      die_usage "$1: launch.sh sets the config and the peer ids itself (CONFIG, N)" ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

if [ ! -x "$bin" ]; then
  echo "launch: $bin not found; build first (scripts/test.sh or cmake --build build)" >&2
  exit 2
fi

# The peers of the cluster, as the config itself lists them (after cluster.size).
if ! peers_out="$("$bin" peers --config "$config" --set cluster.size="$n" "${set_args[@]}" 2>&1)"; then
  echo "launch: $peers_out" >&2
  exit 2
fi
mapfile -t ids < <(awk '{print $1}' <<<"$peers_out")

pids=()
stop_children() {  # $1: the exit code, 128 + the signal
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
  exit "$1"
}
trap 'stop_children 130' INT
trap 'stop_children 143' TERM

prometheus_port="${PROMETHEUS_PORT:-}"
[ -z "$prometheus_port" ] || [[ "$prometheus_port" =~ ^[1-9][0-9]*$ ]] ||
  die_usage "PROMETHEUS_PORT must be a port number (got '$prometheus_port')"
for i in "${!ids[@]}"; do
  id="${ids[$i]}"
  dir="$run_dir/$id"
  mkdir -p "$dir"
  metrics_args=()
  [ -z "$prometheus_port" ] || metrics_args=(--set log.prometheus="127.0.0.1:$((prometheus_port + i))")
  "$bin" run --config "$config" --id "$id" --set cluster.size="$n" \
    --set log.metrics="$dir/metrics.jsonl" --set checkpoint.dir="$dir/checkpoints" \
    --set log.progress=line "${metrics_args[@]}" "${set_args[@]}" "${run_only[@]}" >"$dir/log.txt" 2>&1 &
  pids+=("$!")
  echo "launch: started $id (pid $!), log $dir/log.txt"
done

status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then :; else
    code=$?
    [ "$status" = 0 ] && status="$code"
    echo "launch: peer ${ids[$i]} failed (exit $code); last lines of $run_dir/${ids[$i]}/log.txt:" >&2
    tail -n 5 "$run_dir/${ids[$i]}/log.txt" >&2
  fi
done
trap - INT TERM

echo
"$bin" report "$run_dir" || true
exit "$status"
