#!/usr/bin/env bash
# Runs the shell blocks of README.md and docs/*.md that are marked runnable, and
# checks what they print where the doc shows it, so a doc cannot drift from the
# binary and the scripts (docs/testing.md, "The docs' commands").
#
#   scripts/doc_commands.sh [--build DIR] [--cap N] [--list] [--keep] [FILE.md ...]
#
#   --build DIR  the build directory whose meshtrain (and tests/, bench/) the blocks
#                run (default: $BUILD_DIR, else build/)
#   --cap N      default step cap for every `meshtrain run` (default 20; 0 = none)
#   --list       list every sh block with its marker and run nothing
#   --keep       keep the temp dirs (their paths are printed)
#   FILE.md      only these files (default: README.md and docs/*.md)
#
# A marker is an HTML comment (invisible once rendered) on the line before a
# fenced block:
#
#   <!-- doc-test -->                     run it: every command must succeed
#   <!-- doc-test cap=50 exit=2 -->       options, below
#   <!-- doc-test skip: needs root -->    not run; the reason is listed
#
# Options: cap=N (step cap of this block; 0 = none), set=KEY=VALUE (one more
# --set for every `meshtrain run`, repeatable), exit=N (the block's expected exit
# status), timeout=S (wall-clock limit, default 60), output (the next fenced block
# is what the block prints, stdout and stderr together), any=TEXT (in the shown
# output TEXT stands for any run of non-blank characters, e.g. a random key),
# sub=FROM|TO (the block runs with FROM replaced by TO: for what the step cap
# changes, such as the step number in a checkpoint's name, or a board's path;
# repeatable). file=PATH on a block of any language writes it to PATH in the
# doc's temp dir instead of running it, for the blocks after it (a config file).
# A block whose first line starts with "$ " is a session: each "$ " line is a
# command and the lines after it are what it prints, ending in "[N]" if it exits N.
# In shown output a line "..." stands for any number of lines, "..." inside a line
# for any text, and a line ending in " (re)" is an extended regular expression.
#
# Every ```sh block of the files must carry a marker (run or skip), so no new
# command goes unchecked, and every relative link must name a path inside the
# repository. The blocks of one file run in order, in one temp dir
# that holds symlinks to the repository's top-level entries (configs/, scripts/,
# deploy/, ...), a build/ whose meshtrain is a stand-in adding the step cap (every
# other entry links to the real build dir), and that stand-in as `meshtrain` on
# PATH; HOME is a temp dir too. A block runs in its own process group, which is
# killed at the timeout and when the block ends (a block must not leave
# processes behind), and in its own network namespace where unshare allows.
#
# Exit status: 0 every marked block passed, 1 a block failed (each failure is
# reported as FILE:LINE), 2 bad usage, a bad marker or an unmarked sh block.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit "${1:-2}"; }

build="${BUILD_DIR:-$root/build}"
default_cap=20
list_only=0
keep=0
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage 0 ;;
    --build|--cap)
      [ $# -ge 2 ] || { echo "doc_commands: $1 needs a value" >&2; exit 2; }
      if [ "$1" = --build ]; then build="$2"; else default_cap="$2"; fi
      shift 2 ;;
    --list) list_only=1; shift ;;
    --keep) keep=1; shift ;;
    -*) echo "doc_commands: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ "$default_cap" =~ ^[0-9]+$ ]] || { echo "doc_commands: --cap takes a step count (got '$default_cap')" >&2; exit 2; }
if [ ${#files[@]} -eq 0 ]; then
  files=("$root/README.md" "$root"/docs/*.md)
fi
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "doc_commands: no such file: $f" >&2; exit 2; }
done
build="$(cd "$build" 2>/dev/null && pwd)" || { echo "doc_commands: no build directory $build" >&2; exit 2; }
if [ "$list_only" = 0 ] && [ ! -x "$build/meshtrain" ]; then
  echo "doc_commands: $build/meshtrain not found; build first (cmake --build build)" >&2
  exit 2
fi

# A path relative to the repository, for messages.
rel() { case "$1" in "$root"/*) echo "${1#"$root"/}" ;; *) echo "$1" ;; esac; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/doc_commands.XXXXXX")"
cleanup() { [ "$keep" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT
# A block runs in its own process group (timeout's), which Ctrl-C does not reach: stop it here.
block_pid=""
stop() {
  [ -n "$block_pid" ] && kill -TERM -- "-$block_pid" 2>/dev/null
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM

# Output goes to a file but is compared with what a terminal shows, where stdout is
# line-buffered: so it is here too (coreutils' stdbuf, inherited by every child),
# or a program's stdout would come after its stderr.
line_buffered=()
command -v stdbuf >/dev/null && line_buffered=(stdbuf -oL)
# Each block gets a network namespace of its own where the machine allows it (as
# root, or through a user namespace), so the shipped configs' fixed ports never
# meet another cluster on this machine; its loopback is brought up first.
isolate=()
if ! command -v ip >/dev/null; then
  :  # no iproute2 to bring the namespace's loopback up
elif unshare -n true 2>/dev/null; then
  isolate=(unshare -n)
elif unshare -rn true 2>/dev/null; then
  isolate=(unshare -rn)
fi

passed=0
listed=0
failed=0
skipped=0
bad=0
failures=()

fail() {  # fail WHERE MESSAGE [INTRO]: one failure, reported now (INTRO leads to the lines after it) and in the summary
  failed=$((failed + 1))
  failures+=("$1: $2")
  echo "FAIL $1: $2${3:-}"
}

# match_output EXPECTED ACTUAL: exit 0 if ACTUAL matches the pattern text EXPECTED
# (the "..." / " (re)" conventions above; ANY_TEXTS, newline-separated, are any=).
match_output() {
  ANY_TEXTS="${any_texts:-}" awk '
    function quote(s,   out, i, c) {
      out = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\001") out = out "[^ \t]+"
        else if (c == "\002") out = out ".*"
        else if (index("\\^$.[]|()*+?{}/", c)) out = out "\\" c
        else out = out c
      }
      return out
    }
    function pattern(line,   n, k, t, pos) {
      if (line ~ / \(re\)$/) return "^(" substr(line, 1, length(line) - 5) ")$"
      n = split(ENVIRON["ANY_TEXTS"], anys, "\n")
      for (k = 1; k <= n; k++) {
        if (anys[k] == "") continue
        while ((pos = index(line, anys[k])) > 0)
          line = substr(line, 1, pos - 1) "\001" substr(line, pos + length(anys[k]))
      }
      while ((pos = index(line, "...")) > 0) line = substr(line, 1, pos - 1) "\002" substr(line, pos + 3)
      return "^" quote(line) "$"
    }
    function trim_right(s) { sub(/[ \t\r]+$/, "", s); return s }
    FNR == NR { e[++ne] = trim_right($0); next }
    { a[++na] = trim_right($0) }
    END {
      # Drop trailing blank lines of both, then fill ok[i, j]: expected lines i..ne
      # match actual lines j..na. A "..." line matches any number of lines.
      while (ne > 0 && e[ne] == "") ne--
      while (na > 0 && a[na] == "") na--
      for (i = 1; i <= ne; i++) {
        wild[i] = (e[i] ~ /^[ \t]*\.\.\.$/)
        if (!wild[i]) pat[i] = pattern(e[i])
      }
      for (j = na + 1; j >= 1; j--) ok[ne + 1, j] = (j == na + 1)
      for (i = ne; i >= 1; i--) {
        for (j = na + 1; j >= 1; j--) {
          if (wild[i]) ok[i, j] = ok[i + 1, j] || (j <= na && ok[i, j + 1])
          else ok[i, j] = (j <= na && a[j] ~ pat[i] && ok[i + 1, j + 1])
        }
      }
      exit ok[1, 1] ? 0 : 1
    }' "$1" "$2"
}

# The work dir of one doc file: the repository's entries as symlinks, a build/
# with the step-capping stand-in, and that stand-in on PATH as `meshtrain`.
make_workdir() {
  local dir="$1" entry name
  mkdir -p "$dir/build" "$dir/bin" "$dir/home"
  for entry in "$root"/* "$root"/.ci; do
    name="${entry##*/}"
    case "$name" in build|build-*|runs) continue ;; esac
    [ -e "$entry" ] && ln -s "$entry" "$dir/$name"
  done
  for entry in "$build"/*; do
    name="${entry##*/}"
    [ "$name" = meshtrain ] || ln -s "$entry" "$dir/build/$name"
  done
  cat >"$dir/build/meshtrain" <<EOF
#!/usr/bin/env bash
# Stand-in for meshtrain made by scripts/doc_commands.sh: the real binary, with the
# block's step cap (DOC_TEST_CAP, unless the command sets train.max_steps itself)
# and its extra settings (DOC_TEST_SET) added to \`run\`.
real="$build/meshtrain"
if [ "\${1:-}" = run ]; then
  extra=()
  while IFS= read -r kv; do [ -n "\$kv" ] && extra+=(--set "\$kv"); done <<<"\${DOC_TEST_SET:-}"
  if [ "\${DOC_TEST_CAP:-0}" != 0 ] && [[ " \$* " != *train.max_steps=* ]]; then
    extra+=(--set "train.max_steps=\$DOC_TEST_CAP")
  fi
  exec "\$real" "\$@" "\${extra[@]}"
fi
exec "\$real" "\$@"
EOF
  chmod +x "$dir/build/meshtrain"
  ln -s ../build/meshtrain "$dir/bin/meshtrain"
}

# run_block FILE LINE: runs the block body in block_lines (doc lines LINE+1...)
# with the options already parsed; reports pass or fail.
run_block() {
  local file="$1" line="$2" where
  where="$(rel "$1"):$2"
  local dir="$workdir" script="$scratch/block.sh" out="$scratch/out.txt"
  local expected="$scratch/expected.txt" errline="$scratch/errline" status k header
  local session=0
  [[ "${block_lines[0]:-}" == '$ '* ]] && session=1
  rm -f "$errline" "$expected"
  {
    [ ${#isolate[@]} -eq 0 ] || echo "ip link set lo up || exit 96"
    echo "cd '$dir' || exit 97"
    if [ "$session" = 1 ]; then
      echo 'transcript() { local rc=$?; [ "$rc" = 0 ] || echo "[$rc]"; }'
    else
      echo "trap 'echo \$LINENO >\"$errline\"' ERR"
      echo 'set -eo pipefail'
    fi
  } >"$script"
  header=$(wc -l <"$script")
  if [ "$session" = 1 ]; then
    : >"$expected"
    for k in "${!block_lines[@]}"; do
      local l="${block_lines[$k]}"
      echo "$l" >>"$expected"
      if [[ "$l" == '$ '* ]]; then
        printf 'printf "%%s\\n" %q\n' "$l" >>"$script"
        printf '%s 2>&1\ntranscript\n' "${l#\$ }" >>"$script"
      fi
    done
  else
    printf '%s\n' "${block_lines[@]}" >>"$script"
    [ -n "$output_text" ] && printf '%s\n' "$output_text" >"$expected"
  fi

  local start=$SECONDS
  env HOME="$dir/home" PATH="$dir/bin:$PATH" DOC_TEST_CAP="$cap" DOC_TEST_SET="$extra_sets" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    timeout --kill-after=5 "$block_timeout" "${isolate[@]}" "${line_buffered[@]}" bash "$script" </dev/null >"$out" 2>&1 &
  block_pid=$!
  wait "$block_pid"
  status=$?
  local pid="$block_pid"
  block_pid=""
  # The block's process group is the one timeout leads: anything still in it after
  # a moment (for the exited to be reaped) was left behind.
  local left=0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 -- "-$pid" 2>/dev/null || { left=0; break; }
    left=1
    sleep 0.1
  done
  if [ "$left" = 1 ]; then
    kill -TERM -- "-$pid" 2>/dev/null
    sleep 1
    kill -KILL -- "-$pid" 2>/dev/null
  fi
  local took=$((SECONDS - start))
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    fail "$where" "did not finish within timeout=${block_timeout}s" "; last lines:"
    tail -n 15 "$out" | sed 's/^/    | /'
    return
  fi
  if [ "$left" = 1 ]; then
    fail "$where" "left processes running after it ended (killed)"
    return
  fi
  if [ "$session" = 0 ] && [ "$status" != "$expect_exit" ]; then
    local at="$where"
    if [ -s "$errline" ]; then at="$(rel "$file"):$((line + $(cat "$errline") - header))"; fi
    fail "$at" "exited $status, expected $expect_exit" "; last lines:"
    tail -n 15 "$out" | sed 's/^/    | /'
    return
  fi
  if [ -s "$expected" ] || [ "$session" = 1 ]; then
    if ! match_output "$expected" "$out"; then
      fail "$where" "prints something else than the doc shows" " (- doc, + actual):"
      diff -u "$expected" "$out" | tail -n +3 | head -n 40 | sed 's/^/    | /'
      return
    fi
  fi
  passed=$((passed + 1))
  echo "ok   $where (${took}s)"
}

# check_links FILE: every relative markdown link of FILE names a file or directory
# inside the repository (the docs are the reference: they cite nothing outside it).
check_links() {
  local file="$1" at target path
  while IFS=: read -r at target; do
    case "$target" in http://*|https://*|mailto:*|'#'*) continue ;; esac
    path="$(dirname "$file")/${target%%#*}"
    if [ ! -e "$path" ]; then
      fail "$(rel "$file"):$at" "links to $target, which does not exist"
    elif [[ "$(realpath -m "$path")" != "$root"/* && "$(realpath -m "$path")" != "$root" ]]; then
      fail "$(rel "$file"):$at" "links to $target, outside the repository"
    fi
  done < <(grep -no '\]([^)]*)' "$file" | sed 's/:](/:/; s/)$//; s/ .*//')
}

for file in "${files[@]}"; do
  file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
  [ "$list_only" = 1 ] || check_links "$file"
  mapfile -t lines <"$file"
  workdir=""
  n=${#lines[@]}
  i=0
  pending=""       # the marker waiting for its block, and its line
  pending_line=0
  while [ "$i" -lt "$n" ]; do
    l="${lines[$i]}"
    trimmed="${l#"${l%%[! ]*}"}"
    if [[ "$trimmed" == '<!-- doc-test'* ]]; then
      if [[ "$trimmed" != *'-->' ]]; then
        echo "$(rel "$file"):$((i + 1)): a doc-test marker must end on its line with -->" >&2
        bad=$((bad + 1))
      fi
      [ -n "$pending" ] && { echo "$(rel "$file"):$pending_line: marker without a block after it" >&2; bad=$((bad + 1)); }
      pending="$trimmed"
      pending_line=$((i + 1))
      i=$((i + 1))
      continue
    fi
    if [[ "$trimmed" =~ ^(\`\`\`+|~~~+)[[:space:]]*([A-Za-z0-9_-]*) ]]; then
      fence="${BASH_REMATCH[1]}"
      lang="${BASH_REMATCH[2]}"
      indent=$(( ${#l} - ${#trimmed} ))
      fence_line=$((i + 1))
      block_lines=()
      i=$((i + 1))
      while [ "$i" -lt "$n" ]; do
        b="${lines[$i]}"
        bt="${b#"${b%%[! ]*}"}"
        [[ "$bt" == "$fence"* && "$bt" =~ ^(\`+|~+)[[:space:]]*$ ]] && break
        block_lines+=("${b:$(( ${#b} - ${#bt} < indent ? ${#b} - ${#bt} : indent ))}")
        i=$((i + 1))
      done
      i=$((i + 1))
      where="$(rel "$file"):$fence_line"
      if [ -z "$pending" ]; then
        if [ "$lang" = sh ] || [ "$lang" = bash ] || [ "$lang" = console ]; then
          echo "$where: a $lang block without a doc-test marker (<!-- doc-test --> or <!-- doc-test skip: REASON -->)" >&2
          bad=$((bad + 1))
        fi
        continue
      fi
      marker="${pending#<!-- doc-test}"
      marker="${marker%-->}"
      pending=""
      if [[ "$marker" =~ ^[[:space:]]*skip:?[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]]; then
        reason="${BASH_REMATCH[1]:-}"
        if [ -z "$reason" ]; then
          echo "$where: a skip marker needs a reason (<!-- doc-test skip: REASON -->)" >&2
          bad=$((bad + 1)); continue
        fi
        skipped=$((skipped + 1))
        echo "skip $where: $reason"
        continue
      fi
      cap="$default_cap"; expect_exit=0; block_timeout=60; want_output=0; any_texts=""; extra_sets=""; subs=(); write_to=""
      marker_ok=1
      read -r -a opts <<<"$marker"
      for opt in "${opts[@]}"; do
        case "$opt" in
          cap=*) cap="${opt#cap=}" ;;
          exit=*) expect_exit="${opt#exit=}" ;;
          timeout=*) block_timeout="${opt#timeout=}" ;;
          set=*) extra_sets+="${opt#set=}"$'\n' ;;
          any=*) any_texts+="${opt#any=}"$'\n' ;;
          sub=*'|'*) subs+=("${opt#sub=}") ;;
          output) want_output=1 ;;
          file=?*) write_to="${opt#file=}" ;;
          *) echo "$where: unknown doc-test option '$opt'" >&2; marker_ok=0 ;;
        esac
      done
      for v in "$cap" "$expect_exit" "$block_timeout"; do
        [[ "$v" =~ ^[0-9]+$ ]] || { echo "$where: cap=, exit= and timeout= take integers (got '$v')" >&2; marker_ok=0; }
      done
      output_text=""
      if [ "$want_output" = 1 ]; then
        # The next fenced block, after any prose, is the shown output.
        j=$i
        while [ "$j" -lt "$n" ] && ! [[ "${lines[$j]}" =~ ^[[:space:]]*(\`\`\`+|~~~+) ]]; do j=$((j + 1)); done
        if [ "$j" -ge "$n" ]; then
          echo "$where: 'output' but no fenced block follows" >&2; marker_ok=0
        else
          j=$((j + 1))
          while [ "$j" -lt "$n" ] && ! [[ "${lines[$j]}" =~ ^[[:space:]]*(\`\`\`+|~~~+)[[:space:]]*$ ]]; do
            output_text+="${lines[$j]#"$(printf '%*s' "$indent" '')"}"$'\n'
            j=$((j + 1))
          done
          output_text="${output_text%$'\n'}"
        fi
      fi
      if [ "$marker_ok" = 0 ]; then bad=$((bad + 1)); continue; fi
      for s in "${subs[@]}"; do
        for k in "${!block_lines[@]}"; do block_lines[$k]="${block_lines[$k]//"${s%%|*}"/"${s#*|}"}"; done
      done
      if [ "$list_only" = 1 ]; then
        if [ -n "$write_to" ]; then echo "file $where: $write_to"; else listed=$((listed + 1)); echo "run  $where:${marker% }"; fi
        continue
      fi
      if [ -z "$workdir" ]; then
        workdir="$scratch/$(basename "$file" .md)"
        make_workdir "$workdir"
      fi
      if [ -n "$write_to" ]; then
        mkdir -p "$(dirname "$workdir/$write_to")"
        printf '%s\n' "${block_lines[@]}" >"$workdir/$write_to"
        echo "file $where: $write_to"
        continue
      fi
      run_block "$file" "$fence_line"
      continue
    fi
    i=$((i + 1))
  done
  [ -n "$pending" ] && { echo "$(rel "$file"):$pending_line: marker without a block after it" >&2; bad=$((bad + 1)); }
done

[ "$keep" = 1 ] && echo "doc_commands: temp dirs kept under $scratch"
if [ "$list_only" = 1 ]; then
  echo "doc_commands: $listed to run, $skipped skipped$([ "$bad" = 0 ] || echo ", $bad marker errors")"
  [ "$bad" = 0 ] || exit 2
  exit 0
fi
[ ${#isolate[@]} -gt 0 ] || echo "doc_commands: no network namespace (unshare -n or ip missing or refused): blocks share this machine's ports"
echo "doc_commands: $passed passed, $failed failed, $skipped skipped$([ "$bad" = 0 ] || echo ", $bad marker errors")"
if [ "$failed" -gt 0 ]; then
  printf '  %s\n' "${failures[@]}"
fi
[ "$bad" = 0 ] || exit 2
[ "$failed" = 0 ] || exit 1
exit 0
