#!/usr/bin/env bash
# Builds Release and prints every figure of docs/benchmarks.md:
#   1. samples/s of one training step per model, one thread (bench_model_train_step)
#   2. peak RSS of one peer training the MLP 784-128-10 on a quarter of Fashion-MNIST
#      (target <= 32 MB), and of one peer of a 4-peer ring doing the same
#   3. end to end, Fashion MLP for 1 epoch: 4 ring peers vs 4 local peers vs 1 peer
#   4. ring all-reduce, N = 2 and 4 processes on loopback, 4 KB .. 64 MB (bench_sync_allreduce)
#   with --compare: installs libgloo-dev, openmpi-bin, libopenmpi-dev (apt, idempotent),
#   runs the Gloo and MPI all-reduce benchmarks too, REPEAT times each, interleaved, and
#   prints one side-by-side table per N with the best time of each cell.
#
#   scripts/bench.sh [--compare] [--only train|rss|e2e|allreduce]
# Environment: BUILD_DIR (default build), OUT_DIR (default runs/bench-<date>; every raw
# output is kept there), JOBS (build jobs, default 2), REPEAT (all-reduce runs with --compare, default 3).
# The figures depend on the machine and on whatever else runs on it: close other work first.
set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${OUT_DIR:-$root/runs/bench-$(date +%Y%m%d-%H%M%S)}"
jobs="${JOBS:-2}"
config="$root/configs/fashion_mlp.toml"
batch=64

compare=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) compare=1 ;;
    -h | --help) usage; exit 0 ;;
    --only)
      case "${2:-}" in
        train | rss | e2e | allreduce) only="$2"; shift ;;
        '') echo "bench: --only needs a value (train, rss, e2e or allreduce)" >&2; exit 2 ;;
        *) echo "bench: --only: unknown part '$2' (train, rss, e2e or allreduce)" >&2; exit 2 ;;
      esac ;;
    *) echo "bench: unknown argument '$1'" >&2; echo "usage: scripts/bench.sh [--compare] [--only train|rss|e2e|allreduce]" >&2; exit 2 ;;
  esac
  shift
done
wants() { [ -z "$only" ] || [ "$only" = "$1" ]; }

# Installs Debian packages that are missing; does nothing (no apt call) when all are there.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    # No `| grep -q`: it can close the pipe early, a failure under pipefail.
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "bench: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

"$root/scripts/setup.sh" || exit 1
apt_install time || exit 1  # /usr/bin/time reports a child's peak RSS (wait4 rusage)
targets=(meshtrain bench_model_train_step bench_sync_allreduce)
if [ "$compare" = 1 ]; then
  apt_install libgloo-dev openmpi-bin libopenmpi-dev || exit 1
  targets+=(bench_gloo_allreduce bench_mpi_allreduce)
fi
mkdir -p "$out"
# Re-configure so CMake finds packages installed just now (it prints what it skips).
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; exit 1; }
grep 'bench/compare' "$out/cmake.log" || true
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; exit 1; }
bin="$build/meshtrain"
echo "bench: raw outputs in $out"
echo "bench: $(nproc) cores, $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. one training step per model --------------------------------------------------
if wants train; then
  echo; echo "== samples/s per model, one thread (bench_model_train_step) =="
  "$build/bench/bench_model_train_step" | tee "$out/train_step.txt"
fi

# ---- 2. peak RSS ---------------------------------------------------------------------
# A peer's arguments for the MLP 784-128-10 on a quarter of Fashion-MNIST, 1 epoch.
quarter_args() {  # $1 = id, $2 = sync mode, $3 = its run dir
  echo run --config "$config" --id "$1" --set cluster.size=4 --set sync.mode="$2" --set model.hidden=[128] \
    --set train.epochs=1 --set train.batch_size=$batch --set log.metrics="$3/metrics.jsonl" \
    --set checkpoint.dir="$3/checkpoints" --set log.progress=line
}
kb_to_mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

if wants rss; then
  echo; echo "== peak RSS of a peer, MLP 784-128-10 on a quarter of Fashion-MNIST, 1 epoch (target <= 32 MiB) =="
  dir="$out/rss-local/p0"; mkdir -p "$dir"
  # shellcheck disable=SC2046
  if /usr/bin/time -f '%M' -o "$dir/maxrss_kb" "$bin" $(quarter_args p0 local "$dir") >"$dir/log.txt" 2>&1; then
    kb="$(tail -n 1 "$dir/maxrss_kb")"
    verdict="within"; [ "$kb" -gt $((32 * 1024)) ] && verdict="ABOVE"
    echo "sync.mode=local, 1 peer of 4:  peak RSS $(kb_to_mb "$kb") MiB ($kb KB), $verdict the 32 MiB target"
  else
    echo "sync.mode=local peer failed; see $dir/log.txt"; tail -n 5 "$dir/log.txt"
  fi

  # The same peer in a ring of four (adds ZeroMQ, its I/O thread and the all-reduce buffers).
  pids=()
  stop_ring() {
    for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; done
    wait 2>/dev/null; exit 130
  }
  trap stop_ring INT TERM
  for id in p0 p1 p2 p3; do
    dir="$out/rss-ring/$id"; mkdir -p "$dir"
    # shellcheck disable=SC2046
    timeout 300 /usr/bin/time -f '%M' -o "$dir/maxrss_kb" "$bin" $(quarter_args $id ring "$dir") >"$dir/log.txt" 2>&1 &
    pids+=("$!")
  done
  ok=1
  for pid in "${pids[@]}"; do wait "$pid" || ok=0; done
  trap - INT TERM
  if [ "$ok" = 1 ]; then
    max=0
    for id in p0 p1 p2 p3; do
      kb="$(tail -n 1 "$out/rss-ring/$id/maxrss_kb")"; [ "$kb" -gt "$max" ] && max="$kb"
    done
    echo "sync.mode=ring, 4 peers:       peak RSS $(kb_to_mb "$max") MiB (largest of the four)"
  else
    echo "ring peers failed; see $out/rss-ring/*/log.txt"
  fi
fi

# ---- 3. end to end -------------------------------------------------------------------
# Prints one row from the "done" lines of a run directory's metrics (one per peer).
e2e_row() {  # $1 = label, $2 = run dir
  cat "$2"/*/metrics.jsonl 2>/dev/null | grep '"event":"done"' | awk -v label="$1" -v batch=$batch '
    function num(key,   m) { return match($0, "\"" key "\":[-0-9.eE+]+") ? substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3) + 0 : 0 }
    { n++; steps = num("step"); wall = num("wall_s"); if (wall > maxwall) maxwall = wall
      samples += steps * batch / wall; stepsps += steps / wall; compute += num("compute_s"); comm += num("comm_s")
      acc += num("test_acc") }
    END { if (n == 0) { printf "%-16s (no done lines)\n", label; exit }
          printf "%-16s %5d %7d %8.2f %10.0f %12.0f %10.3f %8.3f %6.0f%% %8.4f\n", label, n, steps, maxwall,
                 stepsps / n, samples, compute / n, comm / n, 100 * comm / (compute + comm + 1e-12), acc / n }'
}

if wants e2e; then
  echo; echo "== end to end: Fashion MLP 784-256-128-10, batch $batch per peer, 1 epoch =="
  e2e="$out/e2e"
  RUN_DIR="$e2e/ring4" MESHTRAIN="$bin" "$root/scripts/launch.sh" 4 "$config" --set sync.mode=ring \
    --set train.epochs=1 --set train.batch_size=$batch >"$e2e-ring4.log" 2>&1 || echo "ring4 run failed: $e2e-ring4.log"
  RUN_DIR="$e2e/local4" MESHTRAIN="$bin" "$root/scripts/launch.sh" 4 "$config" --set sync.mode=local \
    --set train.epochs=1 --set train.batch_size=$batch >"$e2e-local4.log" 2>&1 || echo "local4 run failed: $e2e-local4.log"
  RUN_DIR="$e2e/one" MESHTRAIN="$bin" "$root/scripts/launch.sh" 1 "$config" \
    --set train.epochs=1 --set train.batch_size=$batch >"$e2e-one.log" 2>&1 || echo "one-peer run failed: $e2e-one.log"
  {
    printf "%-16s %5s %7s %8s %10s %12s %10s %8s %7s %8s\n" "setup" "peers" "steps" "wall_s" "steps/s" \
      "samples/s" "compute_s" "comm_s" "comm%" "test_acc"
    e2e_row "4 peers, ring" "$e2e/ring4"
    e2e_row "4 peers, local" "$e2e/local4"
    e2e_row "1 peer" "$e2e/one"
  } | tee "$out/e2e.txt"
  echo "(steps, wall_s: per peer (the slowest's wall time); steps/s: per peer; samples/s: the whole cluster;"
  echo " compute_s, comm_s: mean per peer; report tables: $e2e-*.log)"
fi

# ---- 4. all-reduce -------------------------------------------------------------------
# Joins the tables of bench_sync_allreduce / bench_gloo_allreduce / bench_mpi_allreduce by (N, buffer).
# Files are LIB.K.txt (run K of LIB); each cell keeps the best (lowest) time over the runs.
side_by_side() {
  awk '
    FNR == 1 { lib = FILENAME; sub(/.*\//, "", lib); sub(/(\.[0-9]+)?\.txt$/, "", lib)
               if (!(lib in seen_lib)) { seen_lib[lib] = 1; libs[++nlibs] = lib } }
    /^N = [0-9]+ peers/ { n = $3; if (!(n in seen_n)) { seen_n[n] = 1; ns[++nn] = n } }
    /^ *[0-9]+ (KB|MB) +[0-9]+ +[0-9.]+ ms +[0-9.]+ MB\/s/ {
      size = $1 " " $2; key = n SUBSEP size
      if (!(key in seen_size)) { seen_size[key] = 1; sizes[n, ++count[n]] = size }
      if (!((lib, key) in t) || $4 + 0 < t[lib, key] + 0) { t[lib, key] = $4; bw[lib, key] = $6; sent[lib, key] = $8 } }
    END {
      for (i = 1; i <= nn; i++) {
        n = ns[i]
        printf "\nN = %d peers: time per all-reduce (ms) | bus bandwidth 2(N-1)/N*S/t (MB/s)\n", n
        printf "%8s", "buffer"
        for (j = 1; j <= nlibs; j++) printf " %10s", libs[j]
        printf " %9s |", "ours/best"
        for (j = 1; j <= nlibs; j++) printf " %10s", libs[j]
        printf "\n"
        for (k = 1; k <= count[n]; k++) {
          key = n SUBSEP sizes[n, k]; best = 0
          printf "%8s", sizes[n, k]
          for (j = 1; j <= nlibs; j++) printf " %10s", ((libs[j], key) in t) ? t[libs[j], key] : "-"
          for (j = 2; j <= nlibs; j++) if ((libs[j], key) in t && (best == 0 || t[libs[j], key] < best)) best = t[libs[j], key]
          if (best > 0 && (libs[1], key) in t) printf " %8.2fx |", t[libs[1], key] / best; else printf " %9s |", "-"
          for (j = 1; j <= nlibs; j++) printf " %10s", ((libs[j], key) in bw) ? bw[libs[j], key] : "-"
          printf "\n"
        }
        printf "\nN = %d peers: bytes a peer sends per all-reduce / 2(N-1)/N*S (worst peer, same runs)\n%8s", n, "buffer"
        for (j = 1; j <= nlibs; j++) printf " %10s", libs[j]
        printf "\n"
        for (k = 1; k <= count[n]; k++) {
          key = n SUBSEP sizes[n, k]
          printf "%8s", sizes[n, k]
          for (j = 1; j <= nlibs; j++) printf " %10s", ((libs[j], key) in sent) ? sent[libs[j], key] : "-"
          printf "\n"
        }
      }
      print "\n(best of the runs per cell; ours/best: our time over the fastest of the others, below 1 means we are faster)"
    }' "$@"
}

if wants allreduce; then
  if [ "$compare" = 0 ]; then
    echo; echo "== ring all-reduce, separate processes on loopback (bench_sync_allreduce) =="
    "$build/bench/bench_sync_allreduce" --peers 2,4 | tee "$out/ours.txt"
  else
    # Interleaved repeats, best of REPEAT per cell: other load on the machine only ever slows a run down.
    repeat="${REPEAT:-3}"
    # lib:program[:its options]. gloo = gloo::allreduce with the RING algorithm (bandwidth-optimal);
    # gloo_naive = gloo::AllreduceRing, which passes the whole buffer N-1 times (fewer, larger steps).
    benches=(ours:bench_sync_allreduce gloo:bench_gloo_allreduce gloo_naive:bench_gloo_allreduce:"--algo ring_naive"
             mpi:bench_mpi_allreduce)
    files=()
    for k in $(seq "$repeat"); do
      for entry in "${benches[@]}"; do
        IFS=: read -r lib exe opts <<<"$entry"
        exe="$build/bench/$exe"
        [ -x "$exe" ] || { [ "$k" = 1 ] && echo "bench: $exe not built; skipping $lib"; continue; }
        echo "bench: all-reduce run $k/$repeat: $lib"
        # shellcheck disable=SC2086
        if "$exe" --peers 2,4 $opts >"$out/$lib.$k.txt" 2>"$out/$lib.$k.err"; then
          files+=("$out/$lib.$k.txt")
        else
          echo "bench: $lib run $k failed; see $out/$lib.$k.err"
        fi
      done
    done
    echo; echo "== all-reduce side by side: ours (bench_sync_allreduce), Gloo ring (gloo::allreduce RING), Gloo"
    echo "   AllreduceRing (gloo_naive), Open MPI MPI_Allreduce; all over TCP on 127.0.0.1 =="
    side_by_side "${files[@]}" | tee "$out/side_by_side.txt"
    echo "(every run's full table, with bytes sent per peer against 2(N-1)/N*S: $out/<lib>.<k>.txt)"
  fi
fi
