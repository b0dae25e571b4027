#!/usr/bin/env bats
# scripts/check_layers.sh: the tree itself follows docs/architecture.md's
# layer order, and an include that goes up it (or a header no layer owns) is
# found and named, so the check CI runs can fail.

# shellcheck disable=SC2154  # $stderr: set by bats' run --separate-stderr
setup() {
  load helpers
  journey_setup
  # A tree of its own: the real layer table, one file per case.
  mkdir -p "$T/tree/docs" "$T/tree/include/meshtrain" "$T/tree/src/config" "$T/tree/src/sync"
  cp "$ROOT/docs/architecture.md" "$T/tree/docs/"
  printf '#include "meshtrain/status.h"\n' >"$T/tree/include/meshtrain/config.h"
  printf '#include "meshtrain/config.h"\n#include "sync/mailbox.h"\n#include "ring_round.h"\n' >"$T/tree/src/sync/ok.cpp"
}

teardown() { journey_teardown; }

# The check refuses the planted tree (exit 1), and its message holds TEXT.
assert_refused() {
  run --separate-stderr "$SCRIPTS/check_layers.sh" "$T/tree"
  assert_failure 1
  [[ "$stderr" == *"$1"* ]] || fail "$stderr"
}

@test "the repository's own includes follow the layer order" {
  run "$SCRIPTS/check_layers.sh"
  assert_success
  assert_output --partial "every include follows the layer order"
}

@test "a tree that follows the order passes" {
  run "$SCRIPTS/check_layers.sh" "$T/tree"
  assert_success
}

@test "a lower layer including a higher layer's public header fails, naming the file, line and layers" {
  printf '#include "meshtrain/status.h"\n#include "meshtrain/trainer.h"\n' >"$T/tree/src/config/bad.cpp"
  assert_refused 'src/config/bad.cpp:2: config includes "meshtrain/trainer.h" of layer train'
}

@test "a lower layer including a higher layer's private header fails" {
  printf '#include "sync/mailbox.h"\n' >"$T/tree/src/config/bad.cpp"
  assert_refused 'src/config/bad.cpp:1: config includes "sync/mailbox.h" of layer sync'
}

@test "a public header no row of the table lists fails" {
  printf '#pragma once\n' >"$T/tree/include/meshtrain/orphan.h"
  assert_refused "include/meshtrain/orphan.h: no row of docs/architecture.md's layer table lists it"
}

@test "a tree without the table is exit 2, not a pass" {
  rm "$T/tree/docs/architecture.md"
  run "$SCRIPTS/check_layers.sh" "$T/tree"
  assert_failure 2
}
