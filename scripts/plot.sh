#!/usr/bin/env bash
# Loss and test accuracy against time for every peer of a run, in one picture.
#   scripts/plot.sh RUN_DIR [OUT.png]
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: scripts/plot.sh RUN_DIR [OUT.png]" >&2; exit 2; fi
run_dir="$1"
out="${2:-$run_dir/run.png}"
command -v gnuplot >/dev/null || { echo "plot: gnuplot missing; run scripts/setup.sh" >&2; exit 1; }
shopt -s nullglob
files=("$run_dir"/*/metrics.jsonl)
[ ${#files[@]} -gt 0 ] || { echo "plot: no */metrics.jsonl under $run_dir" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Pull one numeric field out of flat JSON lines.
field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
t0="$(cat "${files[@]}" | field t | sort -g | head -n 1)"

loss_plots=(); acc_plots=(); event_lines=()
for f in "${files[@]}"; do
  id="$(basename "$(dirname "$f")")"
  { grep '"loss":' "$f" || true; } | { grep -v '"event"' || true; } | awk -v t0="$t0" '{
      t = $0; sub(/.*"t":/, "", t); sub(/,.*/, "", t);
      l = $0; sub(/.*"loss":/, "", l); sub(/,.*/, "", l);
      if (l != "null") print t - t0, l }' >"$tmp/$id.loss"
  # Classifiers report test accuracy; regression runs only test loss.
  metric=test_acc
  grep -v '"event"' "$f" | grep -q '"test_acc":' || metric=test_loss
  { grep "\"$metric\":" "$f" || true; } | { grep -v '"event"' || true; } | awk -v t0="$t0" -v m="$metric" '{
      t = $0; sub(/.*"t":/, "", t); sub(/,.*/, "", t);
      a = $0; sub(".*\"" m "\":", "", a); sub(/[,}].*/, "", a);
      print t - t0, a }' >"$tmp/$id.acc"
  { grep '"event":' "$f" || true; } | { grep -v '"event":"\(checkpoint\|done\)"' || true; } | awk -v t0="$t0" -v id="$id" '{
      t = $0; sub(/.*"t":/, "", t); sub(/,.*/, "", t);
      e = $0; sub(/.*"event":"/, "", e); sub(/".*/, "", e);
      print t - t0, id ":" e }' >>"$tmp/events"
  [ -s "$tmp/$id.loss" ] && loss_plots+=("'$tmp/$id.loss' using 1:2 with lines title '$id'")
  [ -s "$tmp/$id.acc" ] && acc_plots+=("'$tmp/$id.acc' using 1:2 with linespoints title '$id'")
done
# Events (peer deaths, view changes, ...) become dashed vertical lines with a label.
if [ -s "$tmp/events" ]; then
  while read -r t label; do
    event_lines+=("set arrow from $t, graph 0 to $t, graph 1 nohead dt 2 lc rgb 'red'")
    event_lines+=("set label '$label' at $t, graph 0.95 rotate by 90 right font ',7' tc rgb 'red'")
  done <"$tmp/events"
fi

join() { local IFS=","; echo "$*"; }
{
  echo "set terminal pngcairo size 1200,900 noenhanced"
  echo "set output '$out'"
  echo "set multiplot layout 2,1 title 'meshtrain run: $(basename "$run_dir")'"
  echo "set grid; set key outside right; set xlabel 'time (s)'"
  printf '%s\n' "${event_lines[@]}"
  echo "set ylabel 'training loss'; set logscale y"
  [ ${#loss_plots[@]} -gt 0 ] && echo "plot $(join "${loss_plots[@]}")" || echo "set label 'no loss lines' at graph 0.5,0.5; plot NaN notitle"
  echo "unset logscale y; set ylabel '${metric/_/ }'"
  [ ${#acc_plots[@]} -gt 0 ] && echo "plot $(join "${acc_plots[@]}")" || echo "plot NaN notitle"
  echo "unset multiplot"
} >"$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "plot: wrote $out"
