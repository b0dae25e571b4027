#!/usr/bin/env bats
# meshtrain(1) (docs/man/meshtrain.1) documents every command, option and exit
# code the binary's own --help lists, and groff renders it without a warning.

setup() {
  load helpers
  journey_setup
  PAGE="$ROOT/docs/man/meshtrain.1"
  # The page as text, with roff's escaped hyphens plain.
  TEXT="$(sed 's/\\-/-/g' "$PAGE")"
}

teardown() { journey_teardown; }

@test "groff renders meshtrain(1) without a warning" {
  run groff -man -Tutf8 -ww -z "$PAGE"
  assert_success
  assert_output ""
}

@test "every command of meshtrain --help has its entry in meshtrain(1)" {
  local cmd commands
  commands="$("$MESHTRAIN" --help | sed -n 's/^  meshtrain \([a-z]\+\) .*/\1/p')"
  [ "$(wc -w <<<"$commands")" -ge 7 ] || fail "found too few commands in meshtrain --help: $commands"
  for cmd in $commands; do
    grep -qx ".B $cmd" "$PAGE" || fail "meshtrain $cmd has no .B $cmd entry under COMMANDS in $PAGE"
    grep -q "^\.B meshtrain $cmd" "$PAGE" || fail "meshtrain $cmd is not in the SYNOPSIS of $PAGE"
  done
}

@test "every option of every command's --help is in meshtrain(1)" {
  local cmd option
  for cmd in run eval inspect peers report watch keygen; do
    for option in $("$MESHTRAIN" "$cmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
      grep -q -- "$option" <<<"$TEXT" || fail "meshtrain $cmd's $option is not in $PAGE"
    done
  done
}

@test "every exit code of meshtrain --help is under EXIT STATUS in meshtrain(1)" {
  local status section
  section="$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$PAGE")"
  for status in $("$MESHTRAIN" --help | sed -n '/^exit codes/,$p' | grep -oE '^  [0-9]+(, [0-9]+)*' | tr -d ','); do
    grep -qE "^\.BR? .*\b$status\b" <<<"$section" || fail "exit code $status is not under EXIT STATUS in $PAGE"
  done
}
