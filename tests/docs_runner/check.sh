#!/usr/bin/env bash
# The doc runner's own test (scripts/doc_commands.sh): it passes every kind of
# marker and pattern in passing.md, and fails, naming the doc file and line, on a
# block whose output differs from what the doc shows, a failing command, a
# session whose exit status differs, a block that hangs or leaves a process
# behind, a link that leaves the repository or leads nowhere, and an unmarked sh block.
#
#   tests/docs_runner/check.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2; exit 2; }
src="$1"
build="$2"
runner="$src/scripts/doc_commands.sh"
fixtures="tests/docs_runner"
out="$(mktemp -d "${TMPDIR:-/tmp}/docs_runner.XXXXXX")"
trap 'rm -rf "$out"' EXIT
failures=0

# expect NAME STATUS PATTERN...: the runner, given only NAME.md, exits STATUS and
# prints a line matching each PATTERN (grep -E).
expect() {
  local name="$1" want="$2" got=0 p
  shift 2
  bash "$runner" --build "$build" "$src/$fixtures/$name.md" >"$out/$name.txt" 2>&1 || got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name.md: the runner exited $got, expected $want; it printed:"
    sed 's/^/  | /' "$out/$name.txt"
    failures=$((failures + 1))
    return
  fi
  for p in "$@"; do
    if ! grep -qE -- "$p" "$out/$name.txt"; then
      echo "FAIL $name.md: no line of the runner's output matches /$p/; it printed:"
      sed 's/^/  | /' "$out/$name.txt"
      failures=$((failures + 1))
      return
    fi
  done
  echo "ok   $name.md (exit $got)"
}

expect passing 0 "^ok   $fixtures/passing.md:6 " "^ok   $fixtures/passing.md:24 " \
  "^file $fixtures/passing.md:[0-9]+: conf/settings.toml" \
  "^skip $fixtures/passing.md:[0-9]+: shows a command that needs root" "5 passed, 0 failed, 1 skipped"
expect wrong_output 1 "^FAIL $fixtures/wrong_output.md:4: prints something else than the doc shows" \
  '^    \| -accuracy 0\.91$' '^    \| \+accuracy 0\.88$'
expect failing_command 1 "^FAIL $fixtures/failing_command.md:6: exited 2, expected 0"
expect wrong_session 1 "^FAIL $fixtures/wrong_session.md:4: prints something else" '^    \| \+\[1\]$'
expect leftover 1 "^FAIL $fixtures/leftover.md:4: did not finish within timeout=1s" \
  "^FAIL $fixtures/leftover.md:9: left processes running after it ended" "0 passed, 2 failed"
expect bad_links 1 "^FAIL $fixtures/bad_links.md:4: links to \.\./\.\./\.\./, outside the repository" \
  "^FAIL $fixtures/bad_links.md:5: links to no_such_page.md, which does not exist" "0 passed, 2 failed"
expect unmarked 2 "$fixtures/unmarked.md:3: a sh block without a doc-test marker"

if ! bash "$runner" --help >"$out/help.txt" 2>&1 || ! grep -q 'doc-test' "$out/help.txt"; then
  echo "FAIL --help: no usage with exit 0"
  failures=$((failures + 1))
fi
if bash "$runner" --no-such-option >/dev/null 2>&1; then
  echo "FAIL an unknown option was accepted"
  failures=$((failures + 1))
fi

[ "$failures" = 0 ] || { echo "docs_runner: $failures check(s) failed"; exit 1; }
echo "docs_runner: every check passed"
