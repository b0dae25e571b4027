#!/usr/bin/env bash
# Fault injection for a local ring cluster: kills (SIGKILL) and pauses
# (SIGSTOP/SIGCONT) peers at random moments, restarts the killed ones, waits
# for the run to end and reports, for every fault, how fast the others noticed
# and re-formed, plus the final accuracy of every peer (docs/faults.md).
#
#   scripts/chaos.sh CONFIG  [options] [-- meshtrain run args]   starts the cluster itself, in $RUN_DIR
#   scripts/chaos.sh RUN_DIR [options]                            a cluster started by scripts/launch.sh
#
# Options:
#   --kill N        SIGKILL N times in all (default 1); each victim is restarted (--resume) after --down S
#   --pause N       SIGSTOP N times in all (default 0); each pause lasts --pause-for S
#   --every S       seconds between faults (default 10; the first comes after S), jittered by +-25%
#   --duration S    stop injecting after S seconds even if faults remain (default: no limit)
#   --seed K        seed of the random choices (victim, jitter, kind), for a repeatable sequence
#   --down S        how long a killed peer stays down before its restart (default 3)
#   --pause-for S   how long a pause lasts (default 3)
#   --stop-after S  S seconds after the last fault, SIGTERM every peer instead of waiting for the run
#                   to end (CONFIG mode; a long run under faults, scripts/soak.sh): each checkpoints
#                   and leaves, and its exit 143 counts as a clean end
#   --report-only   only print the report of RUN_DIR (its chaos.log and metrics)
#
# Environment: RUN_DIR (default runs/chaos) in CONFIG mode; MESHTRAIN (default build/meshtrain).
# Writes RUN_DIR/chaos.log ("<unix time> <kill|restart|pause|resume> <peer>") and RUN_DIR/chaos_report.txt.
# A victim counts as rejoined once it completes a round together with another peer; one that came back
# after the others had finished is reported as such (docs/faults.md, "scripts/chaos.sh").
# Exits non-zero if a peer failed (a victim that stopped because the run had ended without it excepted).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MESHTRAIN:-$root/build/meshtrain}"

# usage [CODE]: the header above; on stdout for --help (exit 0), on stderr for a mistake (exit 2).
usage() {
  local code="${1:-2}"
  if [ "$code" = 0 ]; then
    sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  else
    sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  fi
  exit "$code"
}
# value OPTION ARGS...: the value after OPTION, or a clear error when there is none.
value() {
  if [ $# -lt 2 ] || [ -z "$2" ] || [ "${2#--}" != "$2" ]; then
    echo "chaos: $1 needs a value (see scripts/chaos.sh --help)" >&2
    exit 2
  fi
  printf '%s' "$2"
}
[ $# -ge 1 ] || usage
for arg in "$@"; do  # --help anywhere before the run args: usage, and nothing else happens
  [ "$arg" = -- ] && break
  case "$arg" in -h|--help) usage 0 ;; esac
done
target="$1"; shift
kills=1; pauses=0; every=10; duration=0; seed=$$; down=3; pause_for=3; report_only=0; stop_after=""
run_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kill|--pause|--every|--duration|--seed|--down|--pause-for|--stop-after)
      v="$(value "$@")" || exit 2
      case "$1" in
        --kill) kills="$v" ;;
        --pause) pauses="$v" ;;
        --every) every="$v" ;;
        --duration) duration="$v" ;;
        --seed) seed="$v" ;;
        --down) down="$v" ;;
        --pause-for) pause_for="$v" ;;
        --stop-after) stop_after="$v" ;;
      esac
      shift 2 ;;
    --report-only) report_only=1; shift ;;
    --) shift; run_args=("$@"); break ;;
    -h|--help) usage 0 ;;
    *) echo "chaos: unknown option '$1'" >&2; usage ;;
  esac
done
for v in "$kills" "$pauses" "$seed"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "chaos: --kill, --pause and --seed take integers (got '$v')" >&2; exit 2; }
done
for v in "$every" "$duration" "$down" "$pause_for" ${stop_after:+"$stop_after"}; do
  [[ "$v" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "chaos: times are seconds, e.g. 2.5 (got '$v')" >&2; exit 2; }
done

now() { date +%s.%N; }
# Deterministic pseudo-random numbers (an LCG), so --seed repeats a sequence.
rng_state=$(( seed % 2147483647 + 1 ))
# (Not called in $(...): a subshell's draw would not advance the state.)
rand() {  # rand N: sets R to 0..N-1
  rng_state=$(( (rng_state * 48271) % 2147483647 ))
  R=$(( rng_state % $1 ))
}
sleep_jittered() {  # sleeps S seconds +-25%
  rand 1000
  sleep "$(awk -v s="$1" -v r="$R" 'BEGIN { printf "%.3f", s * (0.75 + 0.5 * r / 1000) }')"
}

declare -A pid cmd cwd state  # per peer id: process, its command line (shell-quoted), its directory, up|down|paused
ids=()
mode=""
if [ -f "$target" ]; then
  mode=config
  run_dir="${RUN_DIR:-runs/chaos}"
  [ -x "$bin" ] || { echo "chaos: $bin not found; build first" >&2; exit 2; }
elif [ -d "$target" ]; then
  mode=attach
  run_dir="${target%/}"
else
  echo "chaos: '$target' is neither a config file nor a run directory" >&2
  exit 2
fi
mkdir -p "$run_dir"
log="$run_dir/chaos.log"

start_peer() {  # start_peer ID [extra args...]: runs the peer's command line (again), appending to its log
  local id="$1"; shift
  local extra=""
  [ $# -gt 0 ] && extra="$(printf '%q ' "$@")"
  (cd "${cwd[$id]}" && eval "exec ${cmd[$id]} $extra" >>"$run_dir/$id/log.txt" 2>&1) &
  pid[$id]=$!
  state[$id]=up
}

if [ "$report_only" = 0 ] && [ "$mode" = config ]; then
  if ! peers_out="$("$bin" peers --config "$target" "${run_args[@]}" 2>&1)"; then
    echo "chaos: $peers_out" >&2
    exit 2
  fi
  mapfile -t ids < <(printf '%s\n' "$peers_out" | awk '{print $1}')
  : >"$log"
  for id in "${ids[@]}"; do
    mkdir -p "$run_dir/$id"
    : >"$run_dir/$id/metrics.jsonl"
    : >"$run_dir/$id/log.txt"
    rm -rf "${run_dir:?}/$id/checkpoints"  # a restart must resume from this run's checkpoints only
    cmd[$id]="$(printf '%q ' "$bin" run --config "$target" --id "$id" \
      --set log.metrics="$run_dir/$id/metrics.jsonl" --set checkpoint.dir="$run_dir/$id/checkpoints" \
      --set log.progress=line "${run_args[@]}")"
    cwd[$id]="$PWD"
    start_peer "$id"
    echo "chaos: started $id (pid ${pid[$id]})"
  done
elif [ "$report_only" = 0 ]; then
  # Peers of a launch.sh run: found by the metrics path on their command line.
  for dir in "$run_dir"/*/; do
    id="$(basename "$dir")"
    for p in /proc/[0-9]*; do
      [ -r "$p/cmdline" ] || continue
      line="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
      case "$line" in
        *" run "*"log.metrics=$run_dir/$id/metrics.jsonl"*|*" run "*"log.metrics=$(cd "$run_dir" && pwd)/$id/metrics.jsonl"*)
          ids+=("$id")
          pid[$id]="$(basename "$p")"
          mapfile -d '' -t argv <"$p/cmdline"
          cmd[$id]="$(printf '%q ' "${argv[@]}")"
          cwd[$id]="$(readlink "$p/cwd")"
          state[$id]=up
          break ;;
      esac
    done
  done
  [ ${#ids[@]} -gt 0 ] || { echo "chaos: no running peers found under $run_dir" >&2; exit 2; }
  echo "chaos: attached to ${#ids[@]} peers: ${ids[*]}"
fi

alive() { kill -0 "${pid[$1]}" 2>/dev/null; }

cleanup() {
  trap - INT TERM
  echo "chaos: stopping" >&2
  for id in "${ids[@]}"; do
    [ "${state[$id]:-}" = paused ] && kill -CONT "${pid[$id]}" 2>/dev/null
    [ "$mode" = config ] && kill -TERM "${pid[$id]}" 2>/dev/null
  done
  exit 130
}
trap cleanup INT TERM

# ---- inject ----
if [ "$report_only" = 0 ]; then
  start_t="$(now)"
  left_kills=$kills; left_pauses=$pauses
  while [ $((left_kills + left_pauses)) -gt 0 ]; do
    sleep_jittered "$every"
    if [ "$duration" != 0 ] && awk -v a="$(now)" -v b="$start_t" -v d="$duration" 'BEGIN { exit !(a - b > d) }'; then
      echo "chaos: --duration reached; no more faults"
      break
    fi
    candidates=()
    for id in "${ids[@]}"; do alive "$id" && [ "${state[$id]}" = up ] && candidates+=("$id"); done
    if [ ${#candidates[@]} -lt 2 ]; then
      echo "chaos: fewer than two peers running; no more faults"
      break
    fi
    rand ${#candidates[@]}
    victim="${candidates[$R]}"
    rand 2
    if [ "$left_kills" -gt 0 ] && { [ "$left_pauses" = 0 ] || [ "$R" = 0 ]; }; then
      kill -KILL "${pid[$victim]}" 2>/dev/null
      echo "$(now) kill $victim" >>"$log"
      echo "chaos: SIGKILL $victim"
      wait "${pid[$victim]}" 2>/dev/null
      state[$victim]=down
      left_kills=$((left_kills - 1))
      sleep "$down"
      start_peer "$victim" --resume
      echo "$(now) restart $victim" >>"$log"
      echo "chaos: restarted $victim (pid ${pid[$victim]})"
    else
      kill -STOP "${pid[$victim]}" 2>/dev/null
      echo "$(now) pause $victim" >>"$log"
      echo "chaos: SIGSTOP $victim"
      state[$victim]=paused
      sleep "$pause_for"
      kill -CONT "${pid[$victim]}" 2>/dev/null
      echo "$(now) resume $victim" >>"$log"
      echo "chaos: SIGCONT $victim"
      state[$victim]=up
      left_pauses=$((left_pauses - 1))
    fi
  done
  if [ -n "$stop_after" ] && [ "$mode" = config ]; then
    echo "chaos: stopping every peer in $stop_after s (--stop-after)"
    sleep "$stop_after"
    for id in "${ids[@]}"; do kill -TERM "${pid[$id]}" 2>/dev/null; done
  fi
  echo "chaos: waiting for the run to end"
  failed=0
  for id in "${ids[@]}"; do
    if [ "$mode" = config ]; then
      wait "${pid[$id]}"
      code=$?
      if [ -n "$stop_after" ] && [ "$code" = 143 ]; then
        :  # stopped by --stop-after, after a checkpoint
      elif [ "$code" = 1 ] && grep -q '"event":"cluster_finished".*"adopted":false' "$run_dir/$id/metrics.jsonl"; then
        # The documented outcome of a peer that came back after the run had ended without it.
        echo "chaos: $id came back after the others had finished the run and stopped without their final state (exit 1; see the report)"
      elif [ "$code" != 0 ]; then
        failed=1
        echo "chaos: $id exited with $code; last lines of $run_dir/$id/log.txt:" >&2
        tail -n 5 "$run_dir/$id/log.txt" >&2
      fi
    else
      while alive "$id"; do sleep 0.5; done
    fi
  done
fi
trap - INT TERM

# ---- report ----
# One awk pass over chaos.log and every metrics file: per fault, the first
# peer_dead (detection) and the first successful round in a view without the
# victim (re-form) on every other peer, the victim's own return, and the
# rounds the others had to redo (until the next fault: the victim's return
# interrupts a round too).
report="$run_dir/chaos_report.txt"
{
  echo "chaos report for $run_dir"
  awk '
    function field(line, key,    m) {
      if (match(line, "\"" key "\":\"[^\"]*\"")) { m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m); return m }
      if (match(line, "\"" key "\":[-0-9.eE+]+")) { m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m }
      if (match(line, "\"" key "\":\\[[^]]*\\]")) { m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m }
      return ""
    }
    function sort_and_pick(arr, n, which,    i, j, t) {  # which: "median" or "max"
      for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
      if (n == 0) return -1
      return which == "max" ? arr[n] : arr[int((n + 1) / 2)]
    }
    FILENAME ~ /chaos\.log$/ {
      if ($2 == "kill" || $2 == "pause") { nf++; ft[nf] = $1; fk[nf] = $2; fv[nf] = $3 }
      if ($2 == "restart" || $2 == "resume") { for (i = nf; i >= 1; i--) if (fv[i] == $3 && !(i in back)) { back[i] = $1; break } }
      next
    }
    {
      peer = FILENAME; sub(/\/metrics\.jsonl$/, "", peer); sub(/.*\//, "", peer)
      peers[peer] = 1
      ev = field($0, "event"); t = field($0, "t") + 0
      if (ev == "done") { acc[peer] = field($0, "test_acc"); steps[peer] = field($0, "step") }
      n[peer]++; L[peer, n[peer]] = $0; T[peer, n[peer]] = t; E[peer, n[peer]] = ev
    }
    END {
      if (nf == 0) print "no faults in chaos.log"
      printf "%-3s %-6s %-8s %12s %12s %12s %8s\n", "#", "fault", "peer", "detect_s", "reform_s", "rejoin_s", "redone"
      for (i = 1; i <= nf; i++) {
        nd = 0; nr = 0; redone = 0
        for (p in peers) {
          if (p == fv[i]) continue
          got_d = 0; got_r = 0; red = 0
          for (k = 1; k <= n[p]; k++) {
            if (T[p, k] < ft[i]) continue
            if (i < nf && T[p, k] >= ft[i + 1]) break
            line = L[p, k]
            if (!got_d && E[p, k] == "peer_dead" && field(line, "about") == fv[i]) { d[++nd] = T[p, k] - ft[i]; got_d = 1 }
            if (!got_r && E[p, k] == "view_ready" && index(field(line, "view"), "\"" fv[i] "\"") == 0) { r[++nr] = T[p, k] - ft[i]; got_r = 1 }
            if (E[p, k] == "round_aborted") red++  # rounds redone because of this fault (its death and its return)
          }
          redone = (red > redone) ? red : redone
        }
        # Rejoined: the first round of the victim after its return in a view with
        # another peer (a round alone, after the others left, is no rejoin).
        # Or it found the run over: cluster_finished, with or without the final state.
        rj = -1; ended = ""
        if (i in back) {
          for (k = 1; k <= n[fv[i]]; k++) {
            if (T[fv[i], k] < back[i]) continue
            if (E[fv[i], k] == "cluster_finished") { ended = (field(L[fv[i], k], "adopted") == "true" || index(L[fv[i], k], "\"adopted\":true") > 0) ? "end:adopted" : "end:stopped"; break }
            if (E[fv[i], k] == "view_ready" && index(field(L[fv[i], k], "view"), ",") > 0) { rj = T[fv[i], k] - back[i]; break }
          }
        }
        if (ended != "") { late++; late_what = late_what sprintf("\n  #%d %s came back after the others had finished: %s", i, fv[i], ended == "end:adopted" ? "it took their final state (not a rejoin)" : "it stopped without their final state (not a rejoin)") }
        det = sort_and_pick(d, nd, "median"); ref = sort_and_pick(r, nr, "max")
        printf "%-3d %-6s %-8s %12s %12s %12s %8d\n", i, fk[i], fv[i], det < 0 ? "-" : sprintf("%.3f", det), ref < 0 ? "-" : sprintf("%.3f", ref), ended != "" ? ended : (rj < 0 ? "-" : sprintf("%.3f", rj)), redone
        if (det >= 0) { D[++nD] = det }
        if (ref >= 0) { R[++nR] = ref }
        if (rj >= 0) { J[++nJ] = rj }
        sumred += redone
      }
      print ""
      if (nD > 0) { a = sort_and_pick(D, nD, "median"); b = sort_and_pick(D, nD, "max"); printf "detection latency (s): median %.3f, max %.3f over %d faults\n", a, b, nD }
      if (nR > 0) { a = sort_and_pick(R, nR, "median"); b = sort_and_pick(R, nR, "max"); printf "re-form time (s):      median %.3f, max %.3f over %d faults\n", a, b, nR }
      if (nJ > 0) { a = sort_and_pick(J, nJ, "median"); b = sort_and_pick(J, nJ, "max"); printf "rejoin time (s):       median %.3f, max %.3f over %d returns\n", a, b, nJ }
      if (late > 0) printf "the run ended without %d victim(s):%s\n", late, late_what
      if (nf > 0) printf "lost work: %.2f steps per fault (rounds interrupted and redone, its return included), %d in %d faults\n", sumred / nf, sumred, nf
      print ""
      print "final accuracy:"
      for (p in peers) printf "  %-8s test_acc %s  steps %s\n", p, (p in acc) ? acc[p] : "(did not finish)", (p in steps) ? steps[p] : "-"
      print "  (detect_s: median over the other peers of the first peer_dead after the fault; reform_s: the last of"
      print "   them to finish a round in a view without the victim; rejoin_s: the victim'"'"'s first round with another"
      print "   peer after its return, or end:adopted / end:stopped if the others had finished the run by then)"
    }
  ' "$log" "$run_dir"/*/metrics.jsonl
} | tee "$report"
exit "${failed:-0}"
