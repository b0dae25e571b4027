#!/usr/bin/env bats
# Every script answers --help and -h with its usage and exit 0, and does
# nothing else: no package installed, no build, no directory created. A missing
# option value is a clear error (exit 2), never bash's "unbound variable".

setup() {
  load helpers
  journey_setup
  REAL_MESHTRAIN="$MESHTRAIN"
  # A world where every side effect shows: the commands a script could change
  # the machine with only log their call, every directory a script writes to
  # by default is redirected under $T/world, and the test runs in an empty $T/cwd.
  mkdir -p "$T/fake-bin" "$T/world" "$T/cwd"
  local cmd
  for cmd in apt-get sudo cmake ctest dpkg dpkg-query gnuplot ip tc shellcheck clang clang++ qemu-aarch64 make ninja meshtrain; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\nexit 1\n' "$cmd" "$T" >"$T/fake-bin/$cmd"
    chmod +x "$T/fake-bin/$cmd"
  done
  export PATH="$T/fake-bin:$PATH"
  export MESHTRAIN="$T/fake-bin/meshtrain"
  export BUILD_DIR="$T/world/build" RUN_DIR="$T/world/runs" OUT_DIR="$T/world/out" \
    ASAN_BUILD_DIR="$T/world/asan" TSAN_BUILD_DIR="$T/world/tsan" AARCH64_BUILD_DIR="$T/world/aarch64" \
    NETLAB_STATE="$T/world/netlab" DEMO_CONFIG="$T/world/none.toml"
  cd "$T/cwd" || fail "no $T/cwd"
}

teardown() { journey_teardown; }

# What the script did besides printing: commands it called, files it made.
assert_no_side_effects() {
  if [ -s "$T/calls" ]; then fail "it ran: $(cat "$T/calls")"; fi
  local made
  made="$(find "$T/world" "$T/cwd" -mindepth 1)"
  [ -z "$made" ] || fail "it created: $made"
}

# SCRIPT answers OPTION with its usage on stdout and exit 0.
assert_help() {
  local name="$1" option="$2"
  run --separate-stderr "$SCRIPTS/$name" "$option"
  assert_success
  [[ "$output" == *"scripts/$name"* ]] || fail "$name $option: the usage does not name scripts/$name: $output"
  assert_no_side_effects
}

@test "every script in scripts/ has its --help test here" {
  local f name
  for f in "$SCRIPTS"/*.sh; do
    name="$(basename "$f")"
    grep -q "^@test \"$name --help" "$BATS_TEST_FILENAME" || fail "no --help test for scripts/$name in $BATS_TEST_FILENAME"
  done
}

@test "bench.sh --help and -h" { assert_help bench.sh --help; assert_help bench.sh -h; }
@test "bench_slowlink.sh --help and -h" { assert_help bench_slowlink.sh --help; assert_help bench_slowlink.sh -h; }
@test "bench_lossy.sh --help and -h" { assert_help bench_lossy.sh --help; assert_help bench_lossy.sh -h; }
@test "check_layers.sh --help and -h" { assert_help check_layers.sh --help; assert_help check_layers.sh -h; }
@test "chaos.sh --help and -h" { assert_help chaos.sh --help; assert_help chaos.sh -h; }
@test "cross.sh --help and -h" { assert_help cross.sh --help; assert_help cross.sh -h; }
@test "demo.sh --help and -h" { assert_help demo.sh --help; assert_help demo.sh -h; }
@test "doc_commands.sh --help and -h" { assert_help doc_commands.sh --help; assert_help doc_commands.sh -h; }
@test "fuzz.sh --help and -h" { assert_help fuzz.sh --help; assert_help fuzz.sh -h; }
@test "launch.sh --help and -h" { assert_help launch.sh --help; assert_help launch.sh -h; }
@test "netlab.sh --help and -h" { assert_help netlab.sh --help; assert_help netlab.sh -h; }
@test "package.sh --help and -h" { assert_help package.sh --help; assert_help package.sh -h; }
@test "plot.sh --help and -h" { assert_help plot.sh --help; assert_help plot.sh -h; }
@test "sanitize.sh --help and -h" { assert_help sanitize.sh --help; assert_help sanitize.sh -h; }
@test "setup.sh --help and -h" { assert_help setup.sh --help; assert_help setup.sh -h; }
@test "soak.sh --help and -h" { assert_help soak.sh --help; assert_help soak.sh -h; }
@test "test.sh --help and -h" { assert_help test.sh --help; assert_help test.sh -h; }
@test "test_failures.sh --help and -h" { assert_help test_failures.sh --help; assert_help test_failures.sh -h; }

# SCRIPT ARGS... (the last one an option without its value) fails with exit 2
# and a message naming the option.
assert_needs_value() {
  local name="$1" option="${*: -1}"
  shift
  run "$SCRIPTS/$name" "$@"
  assert_failure 2
  assert_output --partial "$option needs a value"
  refute_output --partial "unbound variable"
  assert_no_side_effects
}

@test "launch.sh --set without a value" { assert_needs_value launch.sh 2 "$ROOT/configs/fashion_softmax.toml" --set; }
@test "demo.sh --set without a value" { assert_needs_value demo.sh --set; }
@test "bench.sh --only without a value" { assert_needs_value bench.sh --only; }
@test "bench_slowlink.sh --steps without a value" { assert_needs_value bench_slowlink.sh --codecs fp16 --steps; }
@test "netlab.sh up --rate without a value" { assert_needs_value netlab.sh up lab 2 --rate; }
@test "package.sh --out without a value" { assert_needs_value package.sh --arch amd64 --out; }
@test "soak.sh --minutes without a value" { assert_needs_value soak.sh --minutes; }
@test "chaos.sh --kill without a value" { assert_needs_value chaos.sh "$ROOT/configs/fashion_mlp.toml" --kill; }

@test "meshtrain COMMAND --help prints that command's usage and exits 0 (needs the binary's --help)" {
  local cmd
  for cmd in run eval inspect peers report watch keygen; do
    run "$REAL_MESHTRAIN" "$cmd" --help
    assert_success
    assert_output --partial "meshtrain $cmd"
  done
  assert_no_side_effects
}
