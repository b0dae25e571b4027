#!/usr/bin/env bash
# What packet loss does to a cluster: 4 ring peers, each in its own network
# namespace behind a 10 Mbit/s link with 50 ms one way (scripts/netlab.sh),
# the given fraction of packets dropped in each direction of every peer's link
# (nftables), nothing else injected. RUNS runs per loss rate; for each rate it
# prints the crashes (a peer killed by a signal: libzmq's abort was one),
# false deaths (peer_dead events: nothing is killed, so every one is false),
# evictions, aborted rounds, peers that finished (exit 0 with a done line),
# the longest time to finish, whether the finishers' replicas are identical
# (the state_fingerprint of their done lines), and the spread of their test
# accuracy. Needs root.
#
#   scripts/bench_lossy.sh [--losses "0 2 5 10 15 20"] [--runs 3] [--steps 150] [--config configs/fashion_softmax.toml]
#                          [--timeout-s 600] [-- extra 'meshtrain run' arguments, e.g. the slow-link settings]
#
# Environment: BUILD_DIR (default build; the meshtrain binary and tests/delay_relay),
# OUT_DIR (default runs/bench-lossy-<date>; configs, logs and metrics are kept there).
set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
value_of() { [ "$3" -ge 2 ] && [ -n "$2" ] || { echo "bench_lossy: $1 needs a value" >&2; exit 2; }; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${OUT_DIR:-$root/runs/bench-lossy-$(date +%Y%m%d-%H%M%S)}"
losses="0 2 5 10 15 20"
runs=3
steps=150
config="$root/configs/fashion_softmax.toml"
timeout_s=600
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --losses) value_of "$1" "${2:-}" $#; losses="$2"; shift 2 ;;
    --runs) value_of "$1" "${2:-}" $#; runs="$2"; shift 2 ;;
    --steps) value_of "$1" "${2:-}" $#; steps="$2"; shift 2 ;;
    --config) value_of "$1" "${2:-}" $#; config="$2"; shift 2 ;;
    --timeout-s) value_of "$1" "${2:-}" $#; timeout_s="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench_lossy: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench_lossy: --runs must be a positive integer" >&2; exit 2; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "bench_lossy: --steps must be a positive integer" >&2; exit 2; }
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || { echo "bench_lossy: --timeout-s must be a positive integer" >&2; exit 2; }
[ -f "$config" ] || { echo "bench_lossy: no config $config" >&2; exit 2; }

bin="$build/meshtrain"
relay="$build/tests/delay_relay"
lab_script="$root/scripts/netlab.sh"
for f in "$bin" "$relay"; do
  [ -x "$f" ] || { echo "bench_lossy: $f not found; build meshtrain and delay_relay first" >&2; exit 2; }
done
if ! why="$("$lab_script" check 2>&1)"; then
  echo "bench_lossy: cannot build the lab here: $why" >&2
  exit 1
fi

lab="mtlossy$$"
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  "$lab_script" down "$lab" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$lab_script" up "$lab" 4 --relay "$relay" --owner $$ >/dev/null || exit 1

# One run at the lab's current loss; prints "crashes deaths evictions aborted finished wall identical accmin accmax".
one_run() {
  local dir="$1" k pid start end crashes=0 deaths=0 evictions=0 aborted=0 finished=0 rc
  local -a accs=() sums=()
  mkdir -p "$dir"
  { "$lab_script" peers "$lab"; sed -n '/^\[data\]/,$p' "$config"; } >"$dir/cluster.toml"
  pids=()
  start=$(date +%s.%N)
  for k in 0 1 2 3; do
    timeout -s KILL "$timeout_s" "$lab_script" exec "$lab" "$k" "$bin" run --config "$dir/cluster.toml" --id "p$k" \
      --set train.max_steps="$steps" --set log.progress=none --set checkpoint.every_steps=0 \
      --set log.metrics="$dir/p$k.jsonl" --set checkpoint.dir="$dir/ckpt-p$k" "${extra[@]}" >"$dir/p$k.log" 2>&1 &
    pids+=("$!")
  done
  for k in 0 1 2 3; do
    wait "${pids[$k]}"; rc=$?
    echo "$rc" >"$dir/p$k.rc"
    [ "$rc" -gt 128 ] && [ "$rc" -ne 137 ] && crashes=$((crashes + 1))  # 137: our own timeout's KILL
    grep -q '_io_error\|Assertion failed' "$dir/p$k.log" && [ "$rc" -le 128 ] && crashes=$((crashes + 1))
  done
  end=$(date +%s.%N)
  pids=()
  for k in 0 1 2 3; do
    [ -f "$dir/p$k.jsonl" ] || continue
    deaths=$((deaths + $(grep -c '"event":"peer_dead"' "$dir/p$k.jsonl")))
    evictions=$((evictions + $(grep -c '"event":"evicted"' "$dir/p$k.jsonl")))
    aborted=$((aborted + $(grep -c '"event":"round_aborted"' "$dir/p$k.jsonl")))
    if [ "$(cat "$dir/p$k.rc")" = 0 ] && grep -q '"event":"done"' "$dir/p$k.jsonl"; then
      finished=$((finished + 1))
      accs+=("$(grep '"event":"done"' "$dir/p$k.jsonl" | sed -E 's/.*"test_acc":([0-9.]+).*/\1/')")
      sums+=("$(grep '"event":"done"' "$dir/p$k.jsonl" | sed -E 's/.*"state_fingerprint":"([0-9a-f]+)".*/\1/')")
    fi
  done
  local identical=yes
  for s in "${sums[@]}"; do [ "$s" = "${sums[0]}" ] && [ -n "$s" ] || identical=no; done
  [ "${#sums[@]}" -gt 0 ] || identical=-
  printf '%s %s %s %s %s %s %s %s\n' "$crashes" "$deaths" "$evictions" "$aborted" "$finished" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')" "$identical" \
    "$(printf '%s\n' "${accs[@]:-}" | awk 'NF{if(min==""||$1<min)min=$1; if($1>max)max=$1} END{printf "%s %s", (min==""?"-":min), (max==""?"-":max)}')"
}

printf '\n4 ring peers, links 10 Mbit/s, 50 ms one way, %s, %s steps, %s run(s) per loss rate%s\n\n' \
  "$(basename "$config")" "$steps" "$runs" "${extra[*]:+, extra: ${extra[*]}}"
printf '%-6s %8s %12s %10s %15s %14s %16s %10s %14s\n' loss crashes "false deaths" evictions "aborted rounds" \
  "peers finished" "longest run s" identical "accuracy"
for loss in $losses; do
  "$lab_script" loss "$lab" "$loss" || exit 1
  c=0 d=0 e=0 a=0 f=0 longest=0 same=yes lo="" hi=""
  for ((r = 1; r <= runs; r++)); do
    read -r rc rd re ra rf rw ri rlo rhi < <(one_run "$out/loss$loss/run$r")
    c=$((c + rc)) d=$((d + rd)) e=$((e + re)) a=$((a + ra)) f=$((f + rf))
    longest=$(awk -v x="$longest" -v y="$rw" 'BEGIN{print (y>x)?y:x}')
    [ "$ri" = no ] && same=no  # "-": nobody finished that run, nothing to compare
    [ "$ri" = - ] && [ "$r" = "$runs" ] && [ "$f" = 0 ] && same=-
    for v in $rlo $rhi; do
      [ "$v" = - ] && continue
      lo=$(awk -v x="$lo" -v y="$v" 'BEGIN{print (x==""||y<x)?y:x}')
      hi=$(awk -v x="$hi" -v y="$v" 'BEGIN{print (x==""||y>x)?y:x}')
    done
  done
  printf '%-6s %8s %12s %10s %15s %14s %16s %10s %14s\n' "$loss%" "$c" "$d" "$e" "$a" "$f/$((4 * runs))" "$longest" \
    "$same" "${lo:--}..${hi:--}"
done
echo
echo "raw logs and metrics: $out"
