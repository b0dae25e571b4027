#!/usr/bin/env bash
# Prints what failed in ctest / doctest logs, briefly: the doctest failure lines of
# every failed test (file:line, the check, its values), or the last lines of a test
# that failed without one (a crash, a timeout). 60 lines at most, each cut to 300
# characters. CI shows only the tail of a run, and ctest's --output-on-failure text
# scrolls far above it, so test.sh and sanitize.sh print this again at the end.
# Usage: scripts/test_failures.sh LOG...   (e.g. BUILD/Testing/Temporary/LastTest.log)
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 LOG..." >&2; exit 2; }
awk '
  /^[0-9]+\/[0-9]+ Testing: / {test = $3; n = 0; erred = 0; ended = 0; k = 0; delete tail}
  /: (ERROR|FATAL ERROR): / {n = 4; erred = 1}
  n > 0 {print "  " (test == "" ? FILENAME : test) ": " substr($0, 1, 300); n--}
  /^<end of output>$/ {ended = 1}
  !ended {tail[k % 5] = $0; k++}
  ended && /^Test (Failed|Timeout|Exception|Not Run)/ && !erred {
    for (i = (k > 5 ? k - 5 : 0); i < k; i++) print "  " test ": " substr(tail[i % 5], 1, 300)
  }
' "$@" | head -60 || true  # head may close the pipe early
