#!/usr/bin/env bats
# scripts/soak.sh, short: four ring peers under kills and pauses for about
# 20 s, stopped, and every invariant of the soak checked (docs/faults.md,
# "Soak"); and the checker finds a divergence planted in metrics files.

setup() {
  load helpers
  journey_setup
}

teardown() { journey_teardown; }

@test "a short soak: kills and pauses, every invariant holds, the report says so" {
  RUN_DIR="$T/soak" run "$SCRIPTS/soak.sh" --minutes 0.35 --peers 4 --every 6 --seed 2
  [ "$status" = 0 ] || fail "soak.sh exit $status: $output"
  assert_output --partial "ok    every peer ended cleanly"
  assert_output --partial "ok    replicas agreed"
  assert_output --partial "ok    no step applied twice or lost"
  assert_output --partial "ok    no hang"
  refute_output --partial "FAIL"
  # chaos.sh's part: the faults it injected, and their re-form times.
  grep -Eq ' (kill|pause) p[0-3]$' "$T/soak/chaos.log" || fail "no fault in chaos.log"
  assert_output --partial "re-form time (s):"
  [ -s "$T/soak/soak_report.txt" ] || fail "no soak_report.txt"
}

@test "bad arguments are exit 2 with the reason, and nothing is started" {
  run "$SCRIPTS/soak.sh" --peers 2
  assert_failure 2
  assert_output --partial "--peers must be an integer of at least 3"
  run "$SCRIPTS/soak.sh" --minutes soon
  assert_failure 2
  assert_output --partial "are numbers"
  [ ! -e runs ] || fail "a refused soak created runs/"
}

# Step lines of two peers for steps 1..3, p1's step 2 with LOSS2.
plant_metrics() {
  mkdir -p "$T/planted/p0" "$T/planted/p1"
  local p loss
  for p in p0 p1; do
    for s in 1 2 3; do
      loss="0.5$s"
      if [ "$p" = p1 ] && [ "$s" = 2 ]; then loss="$1"; fi
      printf '{"run":"r-%s","t":%s,"peer":"%s","step":%s,"epoch":0,"loss":%s,"lr":0.1}\n' "$p" "$s" "$p" "$s" "$loss"
      if [ "$p" = p1 ] && [ "$s" = 2 ] && [ -n "${2:-}" ]; then printf '%s\n' "$2"; fi
    done >"$T/planted/$p/metrics.jsonl"
  done
}

@test "--check-only finds a step whose cluster loss differs between peers" {
  plant_metrics 0.99
  RUN_DIR="$T/planted" run "$SCRIPTS/soak.sh" --check-only
  assert_failure 1
  assert_output --partial "FAIL  no step applied twice or lost"
  assert_output --partial "step 2: loss 0.52 and 0.99"
}

@test "--check-only leaves out a step a paused peer finished alone and then replaced by a state_sync" {
  plant_metrics 0.99 '{"run":"r-p1","t":2.5,"peer":"p1","step":3,"event":"state_sync","from_step":2,"detail":"step 2 -> 3"}'
  RUN_DIR="$T/planted" run "$SCRIPTS/soak.sh" --check-only
  assert_output --partial "ok    no step applied twice or lost"
  assert_output --partial "1 steps a paused peer finished alone"
}
