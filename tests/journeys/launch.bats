#!/usr/bin/env bats
# A cluster through scripts/launch.sh across runs: stopped with Ctrl-C and
# resumed with --resume; rerun in the same RUN_DIR; a peer stopped while it
# still waits for the others at start-up.

setup() {
  load helpers
  journey_setup
  export RUN_DIR="$T/runs"
}

teardown() { journey_teardown; }

# The last metrics line of PEER that contains TEXT (empty if none).
last_line_with() { grep -F "$2" "$RUN_DIR/$1/metrics.jsonl" 2>/dev/null | tail -n 1; }
# PEER's newest step line is at least STEP.
past_step() {
  local line
  line="$(grep '"loss"' "$RUN_DIR/$1/metrics.jsonl" 2>/dev/null | tail -n 1)"
  [ -n "$line" ] && [ "$(json_num step "$line")" -ge "$2" ]
}

@test "launch.sh, Ctrl-C, then launch.sh --resume: the cluster goes on from its checkpoints" {
  write_cluster_config 2
  local caps=("${TINY[@]}" --set train.max_steps=60)
  # Slowed to ~20 steps a second so the Ctrl-C lands mid-run.
  start_bg "$T/first.out" "$SCRIPTS/launch.sh" 2 "$CONFIG" "${caps[@]}" --set debug.step_delay_ms=50
  local launcher="$BG_PID"
  wait_until 60 "both peers past step 10 ($(cat "$T/first.out"))" eval 'past_step p0 10 && past_step p1 10'
  kill -INT "$launcher"
  wait_bg "$launcher" 60
  [ "$BG_STATUS" -eq 130 ] || fail "launch.sh exited $BG_STATUS after SIGINT, not 130: $(cat "$T/first.out")"
  local pid
  for pid in $(started_pids "$T/first.out"); do
    ! running "$pid" || fail "peer pid $pid outlived launch.sh"
  done
  local id stopped_at
  for id in p0 p1; do
    stopped_at="$(json_num step "$(last_line_with "$id" '"event":"checkpoint"')")"
    [ -n "$stopped_at" ] && [ "$stopped_at" -ge 10 ] || fail "$id wrote no checkpoint before it stopped"
    [ "$stopped_at" -lt 60 ] || fail "$id had already finished (step $stopped_at) when stopped"
  done

  run "$SCRIPTS/launch.sh" 2 "$CONFIG" "${caps[@]}" --resume
  assert_success
  refute_output --partial "unknown option"
  local resumed done_line first
  for id in p0 p1; do
    resumed="$(last_line_with "$id" '"event":"resumed"')"
    [ -n "$resumed" ] || fail "$id did not resume: $(tail -n 3 "$RUN_DIR/$id/log.txt")"
    [ "$(json_num step "$resumed")" -ge 10 ] || fail "$id resumed from step 0: $resumed"
    done_line="$(last_line_with "$id" '"event":"done"')"
    [ "$(json_num step "$done_line")" -eq 60 ] || fail "$id did not end at step 60: $done_line"
    # A resumed run continues the run it resumes: one run id in the file.
    first="$(head -n 1 "$RUN_DIR/$id/metrics.jsonl")"
    [ -n "$(json_str run "$first")" ] || fail "$id: no run id in $first"
    [ "$(json_str run "$done_line")" = "$(json_str run "$first")" ] || fail "$id: the resumed run has a new run id"
  done
}

@test "a rerun in the same RUN_DIR keeps its final checkpoint, and --resume takes it (needs the binary's retention by newest)" {
  write_cluster_config 1
  run "$SCRIPTS/launch.sh" 1 "$CONFIG" "${TINY[@]}" --set train.max_steps=40
  assert_success
  run "$SCRIPTS/launch.sh" 1 "$CONFIG" "${TINY[@]}" --set train.max_steps=15
  assert_success
  [ -f "$RUN_DIR/p0/checkpoints/ckpt-000000000015.bin" ] ||
    fail "the rerun's final checkpoint is gone: $(ls "$RUN_DIR/p0/checkpoints")"
  run "$SCRIPTS/launch.sh" 1 "$CONFIG" "${TINY[@]}" --set train.max_steps=15 --resume
  assert_success
  local resumed
  resumed="$(last_line_with p0 '"event":"resumed"')"
  [ "$(json_num step "$resumed")" -eq 15 ] || fail "resumed from the wrong checkpoint: $resumed"
  [ "$(json_num step "$(last_line_with p0 '"event":"done"')")" -eq 15 ] || fail "the resumed run went past step 15"
}

@test "Ctrl-C while a peer waits for the others at start-up: it exits 130 at once (needs the binary's start-up signals)" {
  write_cluster_config 2
  # p1 never comes; p0 would wait a minute for it.
  start_bg "$T/p0.log" "$MESHTRAIN" run --config "$CONFIG" --id p0 --set sync.start_timeout_ms=60000 \
    --set log.metrics="$T/p0/metrics.jsonl" --set checkpoint.dir="$T/p0/checkpoints"
  local peer="$BG_PID"
  # Its first "still waiting" line (after a few seconds) says it is in the wait.
  wait_until 30 "p0 saying it waits for p1 ($(cat "$T/p0.log"))" grep -q "waiting for the other peers" "$T/p0.log"
  kill -INT "$peer"
  wait_bg "$peer" 20
  [ "$BG_STATUS" -eq 130 ] || fail "p0 exited $BG_STATUS after SIGINT, not 130: $(tail -n 3 "$T/p0.log")"
}
