#!/usr/bin/env bats
# scripts/plot.sh and `meshtrain report` on run directories that several runs
# appended to: they always succeed, draw a picture, and show each peer's latest
# run (plot.sh --all-runs draws every run).

setup() {
  load helpers
  journey_setup
  export RUN_DIR="$T/runs"
}

teardown() { journey_teardown; }

# Writes RUN_DIR/PEER/metrics.jsonl: RUNS runs (ids r1.. , none with RUNS=0:
# one run of an older binary) of STEPS step lines each, an eval line every 50
# steps (test_acc 0.<run>), a done line per run. Large enough (10,000 steps:
# ~1 MB) that a reader that stops early cuts a pipe and gets SIGPIPE.
synthetic_metrics() {
  local peer="$1" runs="$2" steps="$3"
  mkdir -p "$RUN_DIR/$peer"
  awk -v peer="$peer" -v runs="$runs" -v steps="$steps" 'BEGIN {
    t = 1700000000
    for (r = 1; r <= (runs ? runs : 1); r++) {
      tag = runs ? sprintf("\"run\":\"r%d\",", r) : ""
      for (s = 1; s <= steps; s++) {
        t += 0.01
        printf "{%s\"t\":%.2f,\"peer\":\"%s\",\"step\":%d,\"epoch\":0,\"loss\":%.5f,\"lr\":0.1}\n", tag, t, peer, s, 2 / (s + 1)
        if (s % 50 == 0)
          printf "{%s\"t\":%.2f,\"peer\":\"%s\",\"step\":%d,\"epoch\":0,\"test_loss\":0.5,\"test_acc\":0.%d}\n", tag, t, peer, s, r
      }
      printf "{%s\"t\":%.2f,\"peer\":\"%s\",\"step\":%d,\"event\":\"done\",\"test_acc\":0.%d}\n", tag, t, peer, steps, r
    }
  }' >"$RUN_DIR/$peer/metrics.jsonl"
}

assert_png() { [ "$(head -c 4 "$1" | tail -c 3)" = PNG ] || fail "$1 is not a PNG"; }

@test "plot.sh on large metrics files: exit 0 and a picture, never 141 (SIGPIPE)" {
  synthetic_metrics p0 0 10000
  synthetic_metrics p1 0 10000
  run "$SCRIPTS/plot.sh" "$RUN_DIR" "$T/run.png"
  assert_success
  assert_png "$T/run.png"
  # Test accuracy for both peers, under its own label (a cut pipe made some peers plot test_loss).
  assert_line "plot: p0: run - (latest of 1): 10000 loss points, 200 test_acc points"
  assert_line "plot: p1: run - (latest of 1): 10000 loss points, 200 test_acc points"
}

@test "plot.sh draws each peer's latest run; --all-runs draws them all" {
  synthetic_metrics p0 3 600
  synthetic_metrics p1 2 400
  run "$SCRIPTS/plot.sh" "$RUN_DIR"
  assert_success
  assert_png "$RUN_DIR/run.png"
  assert_line "plot: p0: run r3 (latest of 3): 600 loss points, 12 test_acc points"
  assert_line "plot: p1: run r2 (latest of 2): 400 loss points, 8 test_acc points"
  run "$SCRIPTS/plot.sh" "$RUN_DIR" "$T/all.png" --all-runs
  assert_success
  assert_png "$T/all.png"
  assert_line "plot: p0: all 3 run(s): 1800 loss points, 36 test_acc points"
  assert_line "plot: p1: all 2 run(s): 800 loss points, 16 test_acc points"
}

@test "three launch.sh runs in one RUN_DIR: plot.sh and meshtrain report, 20 times each, show the latest" {
  write_cluster_config 2
  local steps
  for steps in 30 20 10; do
    run "$SCRIPTS/launch.sh" 2 "$CONFIG" "${TINY[@]}" --set train.max_steps="$steps"
    assert_success
  done
  local i
  for i in $(seq 20); do
    rm -f "$T/run.png"
    run "$SCRIPTS/plot.sh" "$RUN_DIR" "$T/run.png"
    [ "$status" -eq 0 ] || fail "plot.sh run $i exited $status: $output"
    assert_png "$T/run.png"
    assert_output --regexp "plot: p0: run [^ ]+ \(latest of 3\): [1-9][0-9]* loss points"
    assert_output --regexp "plot: p1: run [^ ]+ \(latest of 3\): [1-9][0-9]* loss points"
    run "$MESHTRAIN" report "$RUN_DIR"
    [ "$status" -eq 0 ] || fail "meshtrain report run $i exited $status: $output"
    # The latest run's 10 steps, not the 60 of the three together nor the first run's 30.
    assert_output --regexp $'(^|\n)p0 +[0-9.]+ +10 '
    assert_output --regexp $'(^|\n)p1 +[0-9.]+ +10 '
  done
}
