#!/usr/bin/env bash
# Prints what failed in ctest / doctest / bats logs, briefly: the doctest failure
# lines of every failed test (file:line, the check, its values), the "not ok"
# lines of a bats journey suite with the lines bats explains them with, or the
# last lines of a test that failed without either (a crash, a timeout). 60 lines
# at most, each cut to 300 characters. CI shows only the tail of a run, and
# ctest's --output-on-failure text scrolls far above it, so test.sh and
# sanitize.sh print this again at the end.
#
#   scripts/test_failures.sh LOG...   (e.g. BUILD/Testing/Temporary/LastTest.log)
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -gt 0 ] || { usage >&2; exit 2; }
# awk stops at 60 lines itself: a `| head` would cut the pipe under pipefail.
awk '
  function out(line) { if (printed++ < 60) print "  " (test == "" ? FILENAME : test) ": " substr(line, 1, 300) }
  /^[0-9]+\/[0-9]+ Testing: / {test = $3; n = 0; m = 0; erred = 0; ended = 0; k = 0; delete tail}
  /: (ERROR|FATAL ERROR): / {n = 4; erred = 1}
  n > 0 {out($0); n--}
  # bats (TAP): "not ok N name", then "# " lines saying where and why.
  /^not ok [0-9]+ / {out($0); m = 12; erred = 1; next}
  m > 0 && /^#( |$)/ {out($0); m--; next}
  m > 0 {m = 0}
  /^<end of output>$/ {ended = 1}
  !ended {tail[k % 5] = $0; k++}
  ended && /^Test (Failed|Timeout|Exception|Not Run)/ && !erred {
    for (i = (k > 5 ? k - 5 : 0); i < k; i++) out(tail[i % 5])
  }
' "$@"
