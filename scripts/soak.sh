#!/usr/bin/env bash
# A soak: a ring cluster trains for a long time under random faults (kill -9
# and restart, SIGSTOP/SIGCONT, through scripts/chaos.sh), then is stopped, and
# the invariants that must hold across it all are checked (docs/faults.md, "Soak"):
#   - no peer failed (chaos.sh's verdict), no sync_failed, no replica_diverged:
#     every replica fingerprint the peers compared (sync.verify_every) agreed;
#   - no step applied twice or lost: every step line of every peer and run for
#     the same step carries the same cluster loss, and each run's steps only grow;
#   - no hang: the cluster's step advanced in every window of --hang seconds;
#   - no leak: every peer process sampled after the 30 s warm-up ends with its
#     RSS within --rss-growth percent of its first sample, and at most 2 more
#     open files (a connection or a checkpoint in flight).
#
#   scripts/soak.sh [--minutes M] [--peers N] [--every S] [--seed K] [--config FILE]
#                   [--hang S] [--rss-growth PCT] [-- meshtrain run args]
#
#   --minutes M      how long faults are injected (default 60; decimals allowed)
#   --peers N        peers of the cluster (default 8): cluster.size = N of --config
#   --every S        seconds between faults (default 20), jittered +-25% by chaos.sh
#   --seed K         seed of the fault sequence (default: the process id)
#   --config FILE    the cluster config, in ring mode (default: configs/fashion_softmax.toml for
#                    up to 4 peers, configs/fashion_mlp_8.toml beyond)
#   --hang S         the longest time the cluster may go without a step (default 60)
#   --rss-growth P   the RSS growth allowed to a long-lived peer, percent (default 5)
#   --check-only     run nothing: check the invariants of the soak already in RUN_DIR
#
# Environment: RUN_DIR (default runs/soak), MESHTRAIN (default build/meshtrain).
# Writes RUN_DIR/soak_resources.tsv (time, peer, pid, RSS KB, open files),
# RUN_DIR/chaos_report.txt (faults, detection and re-form times) and
# RUN_DIR/soak_report.txt (the invariants). Exit status: 0 every invariant
# held; 1 one did not (named in the report); 2 bad arguments.
set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
bad_usage() { echo "soak: $*" >&2; echo "usage: scripts/soak.sh [--minutes M] [--peers N] ... (--help for more)" >&2; exit 2; }
for arg in "$@"; do
  [ "$arg" = -- ] && break
  case "$arg" in -h | --help) usage; exit 0 ;; esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MESHTRAIN:-$root/build/meshtrain}"
run_dir="${RUN_DIR:-runs/soak}"
minutes=60; peers=8; every=20; seed=$$; config=""; hang=60; rss_growth=5; check_only=0
run_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes | --peers | --every | --seed | --config | --hang | --rss-growth)
      [ $# -ge 2 ] && [ -n "$2" ] || bad_usage "$1 needs a value"
      case "$1" in
        --minutes) minutes="$2" ;;
        --peers) peers="$2" ;;
        --every) every="$2" ;;
        --seed) seed="$2" ;;
        --config) config="$2" ;;
        --hang) hang="$2" ;;
        --rss-growth) rss_growth="$2" ;;
      esac
      shift 2 ;;
    --check-only) check_only=1; shift ;;
    --) shift; run_args=("$@"); break ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
done
for v in "$minutes" "$every" "$hang" "$rss_growth"; do
  [[ "$v" =~ ^[0-9]+([.][0-9]+)?$ ]] || bad_usage "--minutes, --every, --hang and --rss-growth are numbers, e.g. 2.5 (got '$v')"
done
[[ "$peers" =~ ^[0-9]+$ ]] && [ "$peers" -ge 3 ] || bad_usage "--peers must be an integer of at least 3 (a majority survives a fault)"
[[ "$seed" =~ ^[0-9]+$ ]] || bad_usage "--seed must be an integer (got '$seed')"
if [ -z "$config" ]; then
  config="$root/configs/fashion_softmax.toml"
  [ "$peers" -le 4 ] || config="$root/configs/fashion_mlp_8.toml"
fi
[ -f "$config" ] || bad_usage "no config file '$config'"
[ -x "$bin" ] || { echo "soak: $bin not found; build first (or set MESHTRAIN)" >&2; exit 2; }

if [ "$check_only" = 1 ]; then
  compgen -G "$run_dir/*/metrics.jsonl" >/dev/null || bad_usage "--check-only: no $run_dir/*/metrics.jsonl (set RUN_DIR)"
  resources="$run_dir/soak_resources.tsv"
  report="$run_dir/soak_report.txt"
  [ -f "$resources" ] || printf 't\tpeer\tpid\trss_kb\tfds\n' >"$resources"
  chaos_status=skip
  hangs=skip
  last_step="$(cat "$run_dir"/*/metrics.jsonl | sed -n 's/.*"step":\([0-9]*\).*/\1/p' | sort -n | tail -n 1)"
else
  seconds="$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')"
  # Enough faults of each kind for the whole soak; chaos.sh stops at --duration.
  faults="$(awk -v s="$seconds" -v e="$every" 'BEGIN { n = int(s / e) + 1; printf "%d", n }')"
  mkdir -p "$run_dir"
  resources="$run_dir/soak_resources.tsv"
  report="$run_dir/soak_report.txt"
  printf 't\tpeer\tpid\trss_kb\tfds\n' >"$resources"

  # The run: trains until chaos.sh stops it; every step logged (its cluster loss
  # is compared across peers), fingerprints compared every 20 steps.
  RUN_DIR="$run_dir" MESHTRAIN="$bin" "$root/scripts/chaos.sh" "$config" --kill "$faults" --pause "$faults" \
    --every "$every" --duration "$seconds" --seed "$seed" --stop-after 5 -- \
    --set cluster.size="$peers" --set sync.mode=ring --set train.epochs=100000 --set train.max_steps=0 --set train.log_every=1 \
    --set train.eval_every=0 --set sync.verify_every=20 --set checkpoint.every_steps=100 "${run_args[@]}" \
    >"$run_dir/chaos_out.txt" 2>&1 &
  chaos_pid=$!
  trap 'kill -TERM "$chaos_pid" 2>/dev/null; wait "$chaos_pid"; exit 130' INT TERM

  # The pid of peer ID's current process (chaos.sh restarts victims under new pids).
  binary_path="$(readlink -f "$bin")"
  peer_pid() {
    local p
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/exe" 2>/dev/null)" = "$binary_path" ] || continue
      tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "log.metrics=$run_dir/$1/metrics.jsonl" && { basename "$p"; return; }
    done
  }

  # The highest step any peer has logged so far.
  # (The tail of each file: a long soak's metrics run to hundreds of MB.)
  cluster_step() {
    local f
    for f in "$run_dir"/*/metrics.jsonl; do tail -n 20 "$f"; done 2>/dev/null |
      sed -n 's/.*"step":\([0-9]*\).*/\1/p' | sort -n | tail -n 1
  }

  hangs=0
  last_step=-1
  last_progress="$(date +%s)"
  start="$(date +%s)"
  while kill -0 "$chaos_pid" 2>/dev/null; do
    sleep 5
    now="$(date +%s)"
    # Resources of every live peer, after a warm-up of 30 s (allocators and
    # caches fill first); a shorter soak measures none (its report says "skip").
    if [ $((now - start)) -ge 30 ]; then
      for dir in "$run_dir"/*/; do
        id="$(basename "$dir")"
        pid="$(peer_pid "$id")"
        [ -n "$pid" ] || continue
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
        fds="$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
        [ -n "$rss" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$now" "$id" "$pid" "$rss" "$fds" >>"$resources"
      done
    fi
    step="$(cluster_step)"
    step="${step:--1}"
    if [ "$step" -gt "$last_step" ]; then
      last_step="$step"
      last_progress="$now"
    elif [ $((now - last_progress)) -gt "${hang%.*}" ]; then
      hangs=$((hangs + 1))
      echo "soak: no step for $((now - last_progress)) s (cluster at step $last_step)" >>"$run_dir/soak_hangs.txt"
      last_progress="$now"
    fi
  done
  wait "$chaos_pid"
  chaos_status=$?
  trap - INT TERM
fi

# ---- the invariants ----
check() {  # check NAME OK|skip|anything else DETAIL: one line of the report
  case "$2" in
    1) printf 'ok    %s: %s\n' "$1" "$3" ;;
    skip) printf 'skip  %s: %s\n' "$1" "$3" ;;
    *) printf 'FAIL  %s: %s\n' "$1" "$3" ;;
  esac
}
{
  if [ "$check_only" = 1 ]; then
    echo "soak check of $run_dir (--check-only: the files as they are)"
  else
    echo "soak of $run_dir: $peers peers of $(basename "$config"), faults every ~$every s for $minutes min (seed $seed)"
  fi
  kills="$(grep -c ' kill ' "$run_dir/chaos.log" 2>/dev/null)"
  pauses="$(grep -c ' pause ' "$run_dir/chaos.log" 2>/dev/null)"
  echo "faults: ${kills:-0} kill -9 and restart, ${pauses:-0} SIGSTOP/SIGCONT; the cluster reached step $last_step"
  check "every peer ended cleanly" "$(case "$chaos_status" in 0) echo 1 ;; skip) echo skip ;; *) echo 0 ;; esac)" \
    "chaos.sh exit $chaos_status (see $run_dir/chaos_out.txt)"
  bad_events="$(cat "$run_dir"/*/metrics.jsonl | grep -c '"event":"\(sync_failed\|replica_diverged\|start_failed\)"')"
  check "replicas agreed" "$([ "$bad_events" = 0 ] && echo 1 || echo 0)" \
    "$bad_events sync_failed/replica_diverged/start_failed events (the peers compared replica fingerprints every 20 steps)"
  # Step lines ({"t":..,"run":..,"peer":..,"step":S,..,"loss":L,..}, no "event") of
  # every peer, in each file's order. A peer paused mid-round can finish that
  # round alone from pieces that reached it before the others gave up on it;
  # its next reconciliation replaces that state (a state_sync from that step,
  # docs/faults.md, "Soak"), so such a step line is not the cluster's and is
  # left out. Every other line of a step carries the same cluster loss.
  steps_check="$(awk '
    function field(line, key,    m) {
      if (match(line, "\"" key "\":\"[^\"]*\"")) { m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m); return m }
      if (match(line, "\"" key "\":[-0-9.eE+a-z]+")) { m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m }
      return ""
    }
    function keep(    step, loss, run) {
      if (pending == "") return
      step = field(pending, "step"); loss = field(pending, "loss"); run = field(pending, "peer") "/" field(pending, "run")
      lines++
      if ((step in seen) && seen[step] != loss) { diff++; if (!example) example = "step " step ": loss " seen[step] " and " loss }
      seen[step] = loss
      if ((run in last) && step + 0 <= last[run] + 0) { back++; if (!example) example = run " logged step " step " after " last[run] }
      last[run] = step
      pending = ""
    }
    FNR == 1 { keep() }
    /"event":"state_sync"/ { if (pending != "" && field($0, "from_step") == field(pending, "step")) { replaced++; pending = "" } ; next }
    /"event"/ { next }
    /"loss"/ { keep(); pending = $0 }
    END { keep(); printf "%d %d %d %d %d %s\n", lines, length(seen), diff, back, replaced, example }' "$run_dir"/*/metrics.jsonl)"
  read -r lines distinct diff back replaced example <<<"$steps_check"
  check "no step applied twice or lost" "$([ "$diff" = 0 ] && [ "$back" = 0 ] && [ "$lines" -gt 0 ] && echo 1 || echo 0)" \
    "$lines step lines for $distinct steps: $diff steps whose cluster loss differs between lines, $back steps that went back${example:+ ($example)}; $replaced steps a paused peer finished alone, replaced by its next state_sync"
  check "no hang" "$(case "$hangs" in 0) echo 1 ;; skip) echo skip ;; *) echo 0 ;; esac)" \
    "$hangs windows of $hang s without a step$([ "$hangs" = 0 ] || echo "; $run_dir/soak_hangs.txt")"
  # RSS and open files of every process sampled at least twice, first sample against its last.
  IFS=$'\t' read -r long worst fdup who fwho < <(awk -F'\t' '
    NR > 1 { k = $2 " (pid " $3 ")"; if (!(k in first)) { first[k] = $4; ffd[k] = $5 }; last[k] = $4; lfd[k] = $5; samples[k]++ }
    END {
      worst = 0; fdup = 0; long = 0; who = "-"; fwho = "-"
      for (k in first) {
        if (samples[k] < 2) continue
        long++
        g = (last[k] - first[k]) * 100 / first[k]
        if (g >= worst) { worst = g; who = k ": " first[k] " -> " last[k] " KB" }
        if (lfd[k] > ffd[k] + 2) { fdup++; fwho = k ": " ffd[k] " -> " lfd[k] " files" }
      }
      printf "%d\t%.2f\t%d\t%s\t%s\n", long, worst, fdup, who, fwho
    }' "$resources")
  check "no memory growth" "$(awk -v w="$worst" -v l="$rss_growth" -v n="$long" 'BEGIN { print (n == 0) ? "skip" : (w <= l) ? 1 : 0 }')" \
    "largest RSS growth $worst% over $long peer processes sampled from the warm-up on (limit $rss_growth%; $who)"
  check "no file descriptor growth" "$([ "$long" = 0 ] && echo skip || { [ "$fdup" = 0 ] && echo 1; } || echo 0)" \
    "$fdup of $long peer processes ended with more than 2 open files over their first sample, a connection or checkpoint in flight ($fwho)"
  echo
  cat "$run_dir/chaos_report.txt" 2>/dev/null
} | tee "$report"
grep -q '^FAIL' "$report" && exit 1
exit 0
