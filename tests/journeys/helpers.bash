# shellcheck shell=bash
# shellcheck disable=SC2034  # CONFIG, TINY, BG_STATUS: set here, read by the .bats files
# Shared by the journey tests (tests/journeys/*.bats): what a user does across
# runs, through the scripts and the binary, each test in its own temp dir.
# Run one file:  MESHTRAIN=build/meshtrain bats tests/journeys/launch.bats
# (CTest runs every file this way, MESHTRAIN set to the binary it built).

# Loads bats-assert and bats-support (Debian: /usr/lib/bats), finds the
# repository and the binary, and moves into the test's own temp dir.
journey_setup() {
  bats_require_minimum_version 1.5.0
  bats_load_library bats-support
  bats_load_library bats-assert
  ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  SCRIPTS="$ROOT/scripts"
  MESHTRAIN="${MESHTRAIN:-$ROOT/build/meshtrain}"
  [ -x "$MESHTRAIN" ] || fail "no meshtrain binary at $MESHTRAIN (build it, or set MESHTRAIN)"
  export ROOT SCRIPTS MESHTRAIN
  T="$BATS_TEST_TMPDIR"
  cd "$T" || fail "cannot enter $T"
  BG_PIDS=()
}

# A TCP port on 127.0.0.1 nobody listens on, claimed for this test: the same
# flock in /tmp/meshtrain-ports that the C++ suites take (tests/support/process.h),
# held as long as this test's shell (and what it starts) keeps the descriptor.
# Ports come from below Linux's ephemeral range (32768+), so no outgoing
# connection is handed one while the test runs.
free_port() {
  local port fd
  mkdir -p /tmp/meshtrain-ports 2>/dev/null && chmod 1777 /tmp/meshtrain-ports 2>/dev/null
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ] || continue
    exec {fd}>>"/tmp/meshtrain-ports/$port" || continue
    if flock -n "$fd"; then
      echo "$port"
      return 0
    fi
    exec {fd}>&-
  done
  echo "free_port: no free port found" >&2
  return 1
}

# Writes $T/cluster.toml: N peers p0.. on free loopback ports, then the model,
# data and training sections of configs/$2 (default fashion_softmax.toml).
# free_port runs in this shell (not in $(...)), so its claims last the test.
write_cluster_config() {
  local n="$1" body="${2:-fashion_softmax.toml}" k port
  : >"$T/cluster.toml"
  for ((k = 0; k < n; k++)); do
    free_port >"$T/.port" || return 1
    port="$(cat "$T/.port")"
    printf '[[cluster.peers]]\nid = "p%d"\nendpoint = "tcp://127.0.0.1:%s"\n\n' "$k" "$port" >>"$T/cluster.toml"
  done
  sed -n '/^\[data\]/,$p' "$ROOT/configs/$body" >>"$T/cluster.toml"
  CONFIG="$T/cluster.toml"
}

# Small runs: a few hundred rows, a few steps, a checkpoint every 5 steps.
TINY=(--set data.train_limit=512 --set data.test_limit=200 --set train.batch_size=16
      --set train.log_every=2 --set checkpoint.every_steps=5 --set optim.warmup_steps=0)

# Polls CMD every 0.1 s until it succeeds, for at most SECONDS; fails the test
# saying what did not happen.
wait_until() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "waited ${seconds}s for: $what"
    sleep 0.1
  done
}

# Starts CMD in the background with SIGINT at its default (a non-interactive
# shell starts background jobs with SIGINT ignored, and bash cannot trap a
# signal ignored on entry), output to OUT, bats' fd 3 closed (bats waits for
# every holder of it). Sets BG_PID; teardown reaps what is left.
start_bg() {
  local out="$1"
  shift
  env --default-signal=INT "$@" >"$out" 2>&1 3>&- &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

# True while PID runs: a zombie (ended, not yet reaped) still answers kill -0,
# so the state in /proc decides.
running() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits at most SECONDS for background job PID to end and reaps it; sets
# BG_STATUS to its exit code.
wait_bg() {
  local pid="$1" seconds="$2"
  local deadline=$((SECONDS + seconds))
  while running "$pid"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "pid $pid still running after ${seconds}s"
    sleep 0.1
  done
  BG_STATUS=0
  wait "$pid" || BG_STATUS=$?
}

# The peer pids a launch.sh output reports ("launch: started p0 (pid 123), ...").
started_pids() { sed -n 's/^launch: started [^ ]* (pid \([0-9]*\)).*/\1/p' "$1"; }

# Every process this test started is gone; what is left is stopped (TERM, then
# KILL) and reaped, and the test fails naming it. Peers launch.sh started
# count too (their pids are in the launch outputs: $T/*.out, and the
# launch.log demo.sh keeps in its run directory).
journey_teardown() {
  local left=() pid f
  for pid in "${BG_PIDS[@]}"; do
    if running "$pid"; then left+=("$pid"); else wait "$pid" 2>/dev/null; fi
  done
  for f in "$T"/*.out "$T"/*/launch.log; do
    [ -f "$f" ] || continue
    for pid in $(started_pids "$f"); do running "$pid" && left+=("$pid"); done
  done
  [ ${#left[@]} -eq 0 ] && return 0
  for pid in "${left[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${left[@]}"; do running "$pid" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  fail "processes still running at the end of the test (stopped now): ${left[*]}"
}

# The value of string field KEY in a JSON metrics line.
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2"; }
# The value of numeric field KEY in a JSON metrics line.
json_num() { sed -n "s/.*\"$1\":\\([-0-9.eE+]*\\).*/\\1/p" <<<"$2"; }
