#!/usr/bin/env bats
# scripts/demo.sh as a new user meets it: a bad --set is reported with the
# config's own message and exit code (before any setup or build when a binary
# exists), and --resume continues a demo run.

setup() {
  load helpers
  journey_setup
  export RUN_DIR="$T/runs"
}

teardown() { journey_teardown; }

@test "demo.sh --set train.epochs=0: the config error and exit 2, no peer started" {
  write_cluster_config 4 fashion_mlp.toml
  DEMO_CONFIG="$CONFIG" run "$SCRIPTS/demo.sh" --set train.epochs=0
  assert_failure 2
  assert_output --partial "train.epochs: must be >= 1 (got 0)"
  refute_output --partial "launch: started"
}

@test "demo.sh whose peers fail at run time: the peer's own error and its exit code" {
  write_cluster_config 4 fashion_mlp.toml
  DEMO_CONFIG="$CONFIG" run "$SCRIPTS/demo.sh" --set data.dir="$T/no-such-dir"
  assert_failure 1
  assert_output --partial "$T/no-such-dir/train-"
  assert_output --partial "No such file or directory"
}

@test "demo.sh with a bad --set and a built binary: the error before setup and build" {
  write_cluster_config 4 fashion_mlp.toml
  mkdir -p "$T/build" "$T/fake-bin"
  cp "$MESHTRAIN" "$T/build/meshtrain"  # newer than every source: demo.sh trusts it
  local cmd
  for cmd in cmake apt-get sudo; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\nexit 1\n' "$cmd" "$T" >"$T/fake-bin/$cmd"
    chmod +x "$T/fake-bin/$cmd"
  done
  PATH="$T/fake-bin:$PATH" MESHTRAIN="" BUILD_DIR="$T/build" DEMO_CONFIG="$CONFIG" \
    run "$SCRIPTS/demo.sh" --set train.epochs=0
  assert_failure 2
  assert_output --partial "train.epochs: must be >= 1 (got 0)"
  refute_output --partial "setup:"
  [ ! -s "$T/calls" ] || fail "demo.sh set up or built first: $(cat "$T/calls")"
}

@test "demo.sh, Ctrl-C, then demo.sh --resume: the run goes on from its checkpoints" {
  write_cluster_config 4 fashion_mlp.toml
  export DEMO_CONFIG="$CONFIG"
  local caps=("${TINY[@]}" --set train.max_steps=60)
  # Slowed to ~20 steps a second so the Ctrl-C lands mid-run.
  start_bg "$T/first.out" "$SCRIPTS/demo.sh" "${caps[@]}" --set debug.step_delay_ms=50
  local demo="$BG_PID" id
  past_step_10() {
    local id line
    for id in p0 p1 p2 p3; do
      line="$(grep -F '"loss"' "$RUN_DIR/$id/metrics.jsonl" 2>/dev/null | tail -n 1)"
      [ -n "$line" ] && [ "$(json_num step "$line")" -ge 10 ] || return 1
    done
  }
  wait_until 60 "every peer past step 10 ($(cat "$T/first.out"))" past_step_10
  kill -INT "$demo"
  wait_bg "$demo" 60
  [ "$BG_STATUS" -eq 130 ] || fail "demo.sh exited $BG_STATUS after SIGINT, not 130: $(cat "$T/first.out")"
  local pid
  for pid in $(started_pids "$RUN_DIR/launch.log"); do
    ! running "$pid" || fail "peer pid $pid outlived demo.sh"
  done

  run "$SCRIPTS/demo.sh" "${caps[@]}" --resume
  assert_success
  assert_output --partial "resuming run directory $RUN_DIR"
  local line
  for id in p0 p1 p2 p3; do
    line="$(grep -F '"event":"resumed"' "$RUN_DIR/$id/metrics.jsonl" | tail -n 1)"
    [ -n "$line" ] && [ "$(json_num step "$line")" -ge 10 ] || fail "$id did not resume from its checkpoint: '$line'"
    line="$(grep -F '"event":"done"' "$RUN_DIR/$id/metrics.jsonl" | tail -n 1)"
    [ "$(json_num step "$line")" -eq 60 ] || fail "$id did not end at step 60: '$line'"
  done
}
