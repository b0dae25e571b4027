#!/usr/bin/env bats
# The public API as a user gets it (docs/api.md): meshtrain installed into a
# temporary prefix, examples/linreg_embedded built against that install alone
# (no path into the source tree), three processes of it training a linear
# regression to the true weights, all three ending with the same model.

setup() {
  load helpers
  journey_setup
  BUILD="$(dirname "$MESHTRAIN")"
  [ -f "$BUILD/cmake_install.cmake" ] || fail "$BUILD is not a configured build dir (MESHTRAIN is not in one)"
}

teardown() { journey_teardown; }

@test "an installed meshtrain builds examples/linreg_embedded, whose three processes reach w and b within 1e-2" {
  cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null || fail "cmake --install failed"
  # Only the public API's headers are installed.
  run find "$T/prefix/include" -type f -printf '%P\n'
  assert_output "$(printf 'meshtrain/meshtrain.h\nmeshtrain/status.h')"
  cp -r "$ROOT/examples/linreg_embedded" "$T/example"
  run cmake -S "$T/example" -B "$T/example/build" -DCMAKE_PREFIX_PATH="$T/prefix" -DCMAKE_BUILD_TYPE=Release
  assert_success
  run cmake --build "$T/example/build"
  assert_success
  if grep -rqs -- "$ROOT" "$T/example/build/CMakeFiles/linreg_embedded.dir/flags.make" \
      "$T/example/build/CMakeFiles/linreg_embedded.dir/link.txt"; then
    fail "the example's build reaches into $ROOT"
  fi

  local ports=() k
  for k in 0 1 2; do ports+=("$(free_port)") || fail "no free port"; done
  for k in 0 1 2; do
    printf '[[cluster.peers]]\nid = "p%d"\nendpoint = "tcp://127.0.0.1:%s"\n\n' "$k" "${ports[$k]}"
  done >"$T/cluster.toml"
  printf '[sync]\nmode = "ring"\nstart_timeout_ms = 30000\n' >>"$T/cluster.toml"
  local pids=()
  for k in 0 1 2; do
    start_bg "$T/p$k.out" "$T/example/build/linreg_embedded" "$T/cluster.toml" "p$k" 400
    pids+=("$BG_PID")
  done
  for k in 0 1 2; do
    wait_bg "${pids[$k]}" 120
    [ "$BG_STATUS" = 0 ] || fail "p$k exited $BG_STATUS: $(cat "$T/p$k.out")"
  done
  # The same model on all three (the ring keeps replicas bit-identical).
  [ "$(cat "$T/p0.out")" = "$(cat "$T/p1.out")" ] && [ "$(cat "$T/p0.out")" = "$(cat "$T/p2.out")" ] ||
    fail "the models differ: $(cat "$T/p0.out") / $(cat "$T/p1.out") / $(cat "$T/p2.out")"
  echo "model: $(cat "$T/p0.out")" >&3
}
