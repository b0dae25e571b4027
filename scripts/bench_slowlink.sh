#!/usr/bin/env bash
# Time per ring round over slow links, per codec: 4 peers, each in its own
# network namespace behind a RATE link with DELAY_MS one way (scripts/netlab.sh),
# the Fashion MLP 784-256-128-10 of configs/fashion_mlp.toml, STEPS steps per codec.
# Prints, per codec, the all-reduce time per round (comm_s from the metrics),
# the wall time per step, and bytes sent per peer per round, measured between the
# first and the last metrics line (the first round, with connection set-up and
# TCP slow start, is left out), averaged over the four peers. Needs root.
#
#   scripts/bench_slowlink.sh [--codecs "none fp16 bf16 int8 topk"] [--steps 20] [--rate 10mbit] [--delay-ms 50]
#
# Environment: BUILD_DIR (default build; the meshtrain binary and tests/delay_relay),
# OUT_DIR (default runs/bench-slowlink-<date>; configs, logs and metrics are kept there).
set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
# The value of option $1, which must be there ($2 is what followed it, $3 how many args were left).
value_of() { [ "$3" -ge 2 ] && [ -n "$2" ] || { echo "bench_slowlink: $1 needs a value" >&2; exit 2; }; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${OUT_DIR:-$root/runs/bench-slowlink-$(date +%Y%m%d-%H%M%S)}"
codecs="none fp16 bf16 int8 topk"
steps=20
rate=10mbit
delay=50
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --codecs) value_of "$1" "${2:-}" $#; codecs="$2"; shift 2 ;;
    --steps) value_of "$1" "${2:-}" $#; steps="$2"; shift 2 ;;
    --rate) value_of "$1" "${2:-}" $#; rate="$2"; shift 2 ;;
    --delay-ms) value_of "$1" "${2:-}" $#; delay="$2"; shift 2 ;;
    *) echo "bench_slowlink: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

bin="$build/meshtrain"
relay="$build/tests/delay_relay"
lab_script="$root/scripts/netlab.sh"
for f in "$bin" "$relay"; do
  [ -x "$f" ] || { echo "bench_slowlink: $f not found; build meshtrain and delay_relay first" >&2; exit 2; }
done
if ! why="$("$lab_script" check 2>&1)"; then
  echo "bench_slowlink: cannot build the lab here: $why" >&2
  exit 1
fi

lab="mtbench$$"
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  "$lab_script" down "$lab"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$lab_script" up "$lab" 4 --rate "$rate" --delay-ms "$delay" --relay "$relay" --owner $$ || exit 1

# Field "key" of a JSON metrics line.
field() { sed -E "s/.*\"$1\":([-0-9.e+]+).*/\1/" <<<"$2"; }

printf '\n4 peers, links %s, %s ms one way, MLP 784-256-128-10 (235 146 params), %s steps per codec\n\n' \
  "$rate" "$delay" "$steps"
printf '%-8s %18s %12s %16s %10s %10s\n' codec "all-reduce s/round" "s/step" "bytes/round/peer" "vs fp32" "s vs fp32"
base_bytes="" base_comm=""
for codec in $codecs; do
  dir="$out/$codec"
  mkdir -p "$dir"
  { "$lab_script" peers "$lab"; sed -n '/^\[data\]/,$p' "$root/configs/fashion_mlp.toml"; } >"$dir/cluster.toml"
  pids=()
  for k in 0 1 2 3; do
    "$lab_script" exec "$lab" "$k" "$bin" run --config "$dir/cluster.toml" --id "p$k" \
      --set sync.compression="$codec" --set train.max_steps="$steps" --set train.log_every=2 \
      --set checkpoint.every_steps=0 --set log.metrics="$dir/p$k.jsonl" --set checkpoint.dir="$dir/ckpt-p$k" \
      --set log.progress=line >"$dir/p$k.log" 2>&1 &
    pids+=("$!")
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  pids=()
  if [ "$failed" = 1 ]; then
    echo "bench_slowlink: a peer failed with $codec; see $dir/p*.log" >&2
    continue
  fi
  comm=0 wall=0 bytes=0
  for k in 0 1 2 3; do
    mapfile -t lines < <(grep -v '"event"' "$dir/p$k.jsonl" | grep '"comm_s"')
    first="${lines[0]}" last="${lines[${#lines[@]}-1]}"
    n=$(awk -v a="$(field step "$first")" -v b="$(field step "$last")" 'BEGIN{print b-a}')
    comm=$(awk -v s="$comm" -v a="$(field comm_s "$first")" -v b="$(field comm_s "$last")" -v n="$n" 'BEGIN{print s+(b-a)/n/4}')
    wall=$(awk -v s="$wall" -v a="$(field t "$first")" -v b="$(field t "$last")" -v n="$n" 'BEGIN{print s+(b-a)/n/4}')
    bytes=$(awk -v s="$bytes" -v a="$(field bytes_sent "$first")" -v b="$(field bytes_sent "$last")" -v n="$n" 'BEGIN{print s+(b-a)/n/4}')
  done
  [ -z "$base_bytes" ] && base_bytes="$bytes" base_comm="$comm"
  name="$codec"; [ "$codec" = none ] && name=fp32
  awk -v c="$name" -v t="$comm" -v w="$wall" -v b="$bytes" -v base="$base_bytes" -v tbase="$base_comm" \
    'BEGIN{printf "%-8s %18.3f %12.3f %16.0f %10.3f %10.3f\n", c, t, w, b, b/base, t/tbase}'
done
echo
echo "raw logs and metrics: $out"
