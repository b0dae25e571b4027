#!/usr/bin/env bash
# Fails when an #include goes against the layer order of docs/architecture.md.
# Usage: scripts/check_layers.sh [ROOT]   (ROOT defaults to this checkout)
#
# The layers and their public headers are read from the table in
# ROOT/docs/architecture.md (its rows, bottom to top); a file of layer L
# (src/L/*, or a header of include/meshtrain/ that the table gives to L) may
# include only headers of L or of a layer below it (an earlier row):
# "meshtrain/H.h" belongs to the layer whose row lists H.h, "M/x.h" to layer M,
# a bare "x.h" to the includer's own layer. A header of include/meshtrain/ that
# no row lists is an error too, so a new header gets its place in the table.
# Prints every violation as FILE:LINE and exits 1; exit 0 when there is none.
# test.sh runs it before the build (CI); tests/journeys/check_layers.bats
# checks that it finds a planted violation.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
table="$root/docs/architecture.md"
[ -f "$table" ] || { echo "check_layers.sh: no $table" >&2; exit 2; }

# "RANK LAYER HEADER..." for each row of the layer table, bottom layer first.
layers="$(awk -F'|' '
  /^\| *layer *\| *library/ { in_table = 1; next }
  in_table && !/^\|/ { exit }
  in_table && /^\|[- |]+\|$/ { next }
  in_table {
    gsub(/ /, "", $2)
    headers = ""
    n = split($5, words, /[^A-Za-z0-9_.]+/)
    for (i = 1; i <= n; i++) if (words[i] ~ /\.h$/) headers = headers " " words[i]
    print rank++, $2 headers
  }' "$table")"
[ -n "$layers" ] || { echo "check_layers.sh: no layer table (| layer | library | ...) in $table" >&2; exit 2; }

declare -A rank_of header_layer
while read -r rank layer headers; do
  rank_of[$layer]=$rank
  for h in $headers; do header_layer[$h]=$layer; done
done <<<"$layers"

failures=0
fail() {
  echo "$1" >&2
  failures=$((failures + 1))
}

# The layer an include names, from the file that includes it.
target_layer() {
  local inc="$1" own="$2"
  case "$inc" in
    meshtrain/*) echo "${header_layer[${inc#meshtrain/}]:-}" ;;
    */*) echo "${inc%%/*}" ;;
    *) echo "$own" ;;
  esac
}

check_file() {
  local file="$1" own="$2" line inc target
  while IFS=: read -r line inc; do
    inc="${inc#*\"}"
    inc="${inc%%\"*}"
    target="$(target_layer "$inc" "$own")"
    if [ -z "$target" ] || [ -z "${rank_of[$target]:-}" ]; then
      fail "${file#"$root"/}:$line: includes \"$inc\", which no layer of docs/architecture.md's table owns"
    elif [ "${rank_of[$target]}" -gt "${rank_of[$own]}" ]; then
      fail "${file#"$root"/}:$line: $own includes \"$inc\" of layer $target, a layer above $own (docs/architecture.md's table lists them bottom to top)"
    fi
  done < <(grep -n '^ *# *include *"' "$file" || true)
}

shopt -s nullglob
for header in "$root"/include/meshtrain/*.h; do
  name="$(basename "$header")"
  own="${header_layer[$name]:-}"
  if [ -z "$own" ]; then
    fail "include/meshtrain/$name: no row of docs/architecture.md's layer table lists it"
    continue
  fi
  check_file "$header" "$own"
done
for dir in "$root"/src/*/; do
  own="$(basename "$dir")"
  if [ -z "${rank_of[$own]:-}" ]; then
    fail "src/$own/: no row of docs/architecture.md's layer table is named $own"
    continue
  fi
  for file in "$dir"*.h "$dir"*.cpp; do check_file "$file" "$own"; done
done

if [ "$failures" -gt 0 ]; then
  echo "check_layers.sh: $failures include(s) against the layer order (docs/architecture.md)" >&2
  exit 1
fi
echo "check_layers.sh: every include follows the layer order (${#rank_of[@]} layers)"
