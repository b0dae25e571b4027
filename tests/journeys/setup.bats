#!/usr/bin/env bats
# scripts/setup.sh counts a package as present only for this machine's
# architecture: after scripts/cross.sh has installed the arm64 libraries, the
# native ones are still missing. The package database is a fake (dpkg and
# dpkg-query on PATH, reading $T/dpkg.db), and SETUP_DRY_RUN=1 only says what
# setup.sh would install, so nothing here touches apt. --observability adds
# the packages of the tools test_cli_observe drives.

setup() {
  load helpers
  journey_setup
  mkdir -p "$T/fake-bin"
  # dpkg: this machine is amd64.
  cat >"$T/fake-bin/dpkg" <<'FAKE'
#!/usr/bin/env bash
[ "$1" = --print-architecture ] && { echo amd64; exit 0; }
echo "dpkg $*" >>"$FAKE_CALLS"; exit 1
FAKE
  # dpkg-query -W [-f=FORMAT] NAME[:ARCH]...: the installed instances of each
  # NAME in $FAKE_DPKG_DB ("name arch" lines), formatted like the real one.
  cat >"$T/fake-bin/dpkg-query" <<'FAKE'
#!/usr/bin/env bash
format='${binary:Package}\t${Version}\n'
names=()
for arg in "$@"; do
  case "$arg" in
    -W | --show) ;;
    -f=* | --showformat=*) format="${arg#*=}" ;;
    -*) echo "fake dpkg-query: unsupported $arg" >&2; exit 2 ;;
    *) names+=("$arg") ;;
  esac
done
status=0
for pattern in "${names[@]}"; do
  name="${pattern%%:*}" want=""
  [ "$name" != "$pattern" ] && want="${pattern#*:}"
  found=0
  while read -r pkg arch; do
    [ "$pkg" = "$name" ] || continue
    [ -z "$want" ] || [ "$want" = "$arch" ] || continue
    found=1
    line="${format//'${Status}'/install ok installed}"
    line="${line//'${Architecture}'/$arch}"
    line="${line//'${binary:Package}'/$pkg:$arch}"
    line="${line//'${Package}'/$pkg}"
    printf '%b' "$line"
  done <"$FAKE_DPKG_DB"
  [ "$found" = 1 ] || { echo "dpkg-query: no packages found matching $pattern" >&2; status=1; }
done
exit "$status"
FAKE
  for cmd in apt-get sudo; do
    printf '#!/bin/sh\necho "%s $*" >>"$FAKE_CALLS"\nexit 1\n' "$cmd" >"$T/fake-bin/$cmd"
  done
  chmod +x "$T/fake-bin"/*
  export PATH="$T/fake-bin:$PATH" FAKE_DPKG_DB="$T/dpkg.db" FAKE_CALLS="$T/calls"
  # The packages setup.sh wants, from its own list.
  mapfile -t WANTED < <(sed -n '/^PACKAGES=(/,/^)/p' "$SCRIPTS/setup.sh" | sed -n 's/^  \([a-z0-9][-a-z0-9.+]*\).*/\1/p')
  [ ${#WANTED[@]} -ge 10 ] || fail "could not read the package list of setup.sh: ${WANTED[*]}"
}

teardown() { journey_teardown; }

# The packages Debian builds as "Architecture: all" (as on Debian 12); the rest are per architecture.
arch_all() { case "$1" in libeigen3-dev | doctest-dev | dataset-fashion-mnist | bats | bats-assert | bats-support) return 0 ;; *) return 1 ;; esac; }

assert_no_apt() { [ ! -s "$T/calls" ] || fail "setup.sh ran: $(cat "$T/calls")"; }

@test "after cross.sh's arm64 packages, setup.sh still installs the native ones" {
  local pkg
  : >"$T/dpkg.db"
  for pkg in "${WANTED[@]}"; do
    if arch_all "$pkg"; then echo "$pkg all"; else echo "$pkg arm64"; fi >>"$T/dpkg.db"
  done
  SETUP_DRY_RUN=1 run "$SCRIPTS/setup.sh"
  assert_success
  assert_output --partial "setup: would install (amd64):"
  for pkg in "${WANTED[@]}"; do
    if arch_all "$pkg"; then
      [[ "$output" != *" $pkg"* ]] || fail "wants $pkg, which is architecture-independent and installed: $output"
    else
      [[ "$output" == *" $pkg"* ]] || fail "does not want $pkg, installed only for arm64: $output"
    fi
  done
  assert_no_apt
}

@test "native and arm64 packages side by side: setup.sh has all it needs" {
  local pkg
  : >"$T/dpkg.db"
  for pkg in "${WANTED[@]}"; do
    if arch_all "$pkg"; then echo "$pkg all"; else printf '%s amd64\n%s arm64\n' "$pkg" "$pkg"; fi >>"$T/dpkg.db"
  done
  run "$SCRIPTS/setup.sh" --dry-run
  assert_success
  assert_output "setup: all ${#WANTED[@]} packages present (amd64)"
  assert_no_apt
}

@test "one package missing: setup.sh --dry-run names exactly it" {
  local pkg
  : >"$T/dpkg.db"
  for pkg in "${WANTED[@]}"; do
    [ "$pkg" = libzmq3-dev ] && continue
    if arch_all "$pkg"; then echo "$pkg all"; else echo "$pkg amd64"; fi >>"$T/dpkg.db"
  done
  run "$SCRIPTS/setup.sh" --dry-run
  assert_success
  assert_output "setup: would install (amd64): libzmq3-dev"
  assert_no_apt
}

@test "--observability adds promtool's and headless Chromium's packages (what test.sh --full installs)" {
  local pkg
  : >"$T/dpkg.db"
  for pkg in "${WANTED[@]}"; do
    if arch_all "$pkg"; then echo "$pkg all"; else echo "$pkg amd64"; fi >>"$T/dpkg.db"
  done
  run "$SCRIPTS/setup.sh" --dry-run --observability
  assert_success
  assert_output "setup: would install (amd64): prometheus chromium-headless-shell"
  assert_no_apt
}
