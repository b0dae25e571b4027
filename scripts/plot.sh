#!/usr/bin/env bash
# Loss and test accuracy against time for every peer of a run, in one picture.
#
#   scripts/plot.sh RUN_DIR [OUT.png] [--all-runs]
#
# Reads RUN_DIR/<peer>/metrics.jsonl (default picture: RUN_DIR/run.png). A
# metrics file that several runs appended to (scripts/launch.sh keeps appending)
# holds one run per "run" id; by default each peer's latest run is drawn (the
# "run" of its last line that has one; a file without run ids is one run).
# --all-runs draws every run of every peer, each as its own line.
# Prints what it drew per peer, then the picture's path.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

all_runs=0
positional=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --all-runs) all_runs=1 ;;
    -*) echo "plot: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    *) positional+=("$arg") ;;
  esac
done
if [ ${#positional[@]} -lt 1 ] || [ ${#positional[@]} -gt 2 ]; then usage >&2; exit 2; fi
run_dir="${positional[0]}"
out="${positional[1]:-$run_dir/run.png}"
command -v gnuplot >/dev/null || { echo "plot: gnuplot missing; run scripts/setup.sh" >&2; exit 1; }
shopt -s nullglob
files=("$run_dir"/*/metrics.jsonl)
[ ${#files[@]} -gt 0 ] || { echo "plot: no */metrics.jsonl under $run_dir" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Every step is one awk program reading whole files: no pipe is ever cut short,
# so nothing dies of SIGPIPE under pipefail (a `| head` or `| grep -q` did).
#
# 1. The lines to draw, per peer: "<run tag> <json line>" into $tmp/<peer>.sel.
#    The tag is the run id, "-" for lines without one.
for f in "${files[@]}"; do
  id="$(basename "$(dirname "$f")")"
  awk -v all="$all_runs" '
    function run_of(line) { return match(line, /"run":"[^"]*"/) ? substr(line, RSTART + 7, RLENGTH - 8) : "" }
    NR == FNR { r = run_of($0); if (r != "") latest = r; next }   # first pass: the latest run
    {
      r = run_of($0)
      if (!all && latest != "" && r != latest) next
      print (r == "" ? "-" : r), $0
    }' "$f" "$f" >"$tmp/$id.sel"
done

# 2. t0: the earliest time drawn, so the x axis starts at 0.
t0="$(awk 'match($0, /"t":[-0-9.eE+]+/) { t = substr($0, RSTART + 4, RLENGTH - 4) + 0; if (!seen || t < min) min = t; seen = 1 }
           END { printf "%.6f\n", seen ? min : 0 }' "$tmp"/*.sel)"

# 3. The metric of the lower panel, the same for every peer: test accuracy if
#    any drawn eval line has it (classifiers), else test loss (regression).
metric=test_loss
if awk '!/"event"/ && /"test_acc":/ { found = 1; exit } END { exit !found }' "$tmp"/*.sel; then
  metric=test_acc
fi

# 4. Series per peer and run: $tmp/<peer>.<k>.loss and .acc ("seconds value"),
#    the run of series k in $tmp/<peer>.runs, events into $tmp/events.
loss_plots=(); acc_plots=(); event_lines=()
for sel in "$tmp"/*.sel; do
  id="$(basename "$sel" .sel)"
  : >"$tmp/$id.runs"
  awk -v t0="$t0" -v m="$metric" -v base="$tmp/$id" -v id="$id" -v events="$tmp/events" '
    function num(key) { return match($0, "\"" key "\":[-0-9.eE+]+") ? substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3) : "" }
    function str(key) { return match($0, "\"" key "\":\"[^\"]*\"") ? substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5) : "" }
    {
      if (!($1 in series)) { series[$1] = ++n; print $1 > (base ".runs") }
      k = series[$1]; t = num("t") - t0
      if (/"event":/) {
        e = str("event")
        if (e != "checkpoint" && e != "done") print t, id ":" e > events
        next
      }
      l = num("loss"); if (l != "") print t, l > (base "." k ".loss")
      a = num(m); if (a != "") print t, a > (base "." k ".acc")
    }' "$sel"
  mapfile -t runs <"$tmp/$id.runs"
  for k in "${!runs[@]}"; do
    series="$tmp/$id.$((k + 1))"
    title="$id"
    [ ${#runs[@]} -gt 1 ] && title="$id run ${runs[$k]//[\'\\]/}"
    [ -s "$series.loss" ] && loss_plots+=("'$series.loss' using 1:2 with lines title '$title'")
    [ -s "$series.acc" ] && acc_plots+=("'$series.acc' using 1:2 with linespoints title '$title'")
  done
  # What was drawn, so a user (and the tests) can tell which run it was.
  total="$(awk 'match($0, /"run":"[^"]*"/) { r = substr($0, RSTART + 7, RLENGTH - 8); if (!(r in seen)) { seen[r] = 1; n++ } }
                !/"run":"/ { plain = 1 } END { print n + plain }' "$run_dir/$id/metrics.jsonl")"
  points_loss=0; points_acc=0
  for s in "$tmp/$id".*.loss; do points_loss=$((points_loss + $(wc -l <"$s"))); done
  for s in "$tmp/$id".*.acc; do points_acc=$((points_acc + $(wc -l <"$s"))); done
  if [ "$all_runs" = 1 ]; then which="all $total run(s)"; else which="run ${runs[0]:--} (latest of $total)"; fi
  echo "plot: $id: $which: $points_loss loss points, $points_acc $metric points"
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
  if [ ${#loss_plots[@]} -gt 0 ]; then
    echo "plot $(join "${loss_plots[@]}")"
  else
    echo "set label 'no loss lines' at graph 0.5,0.5; plot NaN notitle"
  fi
  echo "unset logscale y; set ylabel '${metric/_/ }'"
  if [ ${#acc_plots[@]} -gt 0 ]; then echo "plot $(join "${acc_plots[@]}")"; else echo "plot NaN notitle"; fi
  echo "unset multiplot"
} >"$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "plot: wrote $out"
