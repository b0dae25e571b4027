#!/usr/bin/env bats
# Installing meshtrain: `cmake --install` into a prefix gives exactly the files
# docs/deploy.md lists, and scripts/package.sh turns the same tree into a .deb
# that lintian passes, whose binary runs (the arm64 one under qemu, when the
# cross-built binary is there, as for the interop test).

# shellcheck disable=SC2154  # $stderr: set by bats' run --separate-stderr
setup() {
  load helpers
  journey_setup
  BUILD="$(dirname "$MESHTRAIN")"
  [ -f "$BUILD/cmake_install.cmake" ] || fail "$BUILD is not a configured build dir (MESHTRAIN is not in one)"
  LIBDIR="$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$BUILD/CMakeCache.txt")"
  VERSION="$(sed -n 's/^project(meshtrain VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")"
}

teardown() { journey_teardown; }

# What an install holds, relative to its prefix, from the repository itself.
expected_files() {
  local f
  {
    echo bin/meshtrain
    echo lib/systemd/system/meshtrain@.service
    echo share/man/man1/meshtrain.1
    echo share/doc/meshtrain/README.md
    echo include/meshtrain/meshtrain.h
    echo include/meshtrain/status.h
    echo "$LIBDIR/libmeshtrain.so.$VERSION"
    for f in meshtrainConfig meshtrainConfigVersion meshtrainTargets meshtrainTargets-release; do
      echo "$LIBDIR/cmake/meshtrain/$f.cmake"
    done
    # The Python module, where the build made one (pybind11-dev present).
    for f in "$BUILD"/python/meshtrain.cpython-*.so; do
      [ -e "$f" ] && echo "$LIBDIR/python3/dist-packages/$(basename "$f")"
    done
    for f in "$ROOT"/docs/*.md "$ROOT"/docs/*.png; do echo "share/doc/meshtrain/$(basename "$f")"; done
    for f in "$ROOT"/configs/*.toml; do echo "share/meshtrain/configs/$(basename "$f")"; done
  } | sort
}

# The same in the package: under /usr, the unit in Debian 12's /lib, the man
# page compressed, and Debian's copyright and changelog.
expected_packaged_files() {
  {
    expected_files | sed -e '\#^lib/systemd/#! s#^\(bin\|share\|include\|lib\)/#usr/\1/#; s#meshtrain\.1$#meshtrain.1.gz#'
    echo usr/share/doc/meshtrain/copyright
    echo usr/share/doc/meshtrain/changelog.gz
  } | sort
}

@test "cmake --install into a temp prefix holds exactly the listed files, and the unit runs the installed binary" {
  run cmake --install "$BUILD" --prefix "$T/prefix"
  assert_success
  diff <(expected_files) <(cd "$T/prefix" && find . -type f -printf '%P\n' | sort) || fail "the install differs (< expected, > installed)"
  grep -qx "ExecStart=$T/prefix/bin/meshtrain run --config /etc/meshtrain/cluster.toml --id %i --resume \$MESHTRAIN_ARGS" \
    "$T/prefix/lib/systemd/system/meshtrain@.service" || fail "the unit does not start $T/prefix/bin/meshtrain"
  run "$T/prefix/bin/meshtrain" --version
  assert_success
  assert_output --regexp '^meshtrain [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "package.sh builds an amd64 .deb that lintian passes, with the files, Depends, user and unit it should have" {
  run --separate-stderr "$SCRIPTS/package.sh" --build-dir "$BUILD" --out "$T/dist"
  assert_success
  local deb="$output"
  [[ "$deb" == "$T/dist/meshtrain_"*"_amd64.deb" ]] || fail "not the package's path: $deb"
  run dpkg-deb -f "$deb" Package Architecture Depends
  assert_output --partial "Package: meshtrain"
  assert_output --partial "Architecture: amd64"
  assert_output --regexp 'Depends: adduser, .*libzmq5.*python3 \(>= 3\.[0-9]+~\)'
  dpkg-deb -x "$deb" "$T/root"
  diff <(expected_packaged_files) <(cd "$T/root" && find . -type f -printf '%P\n' | sort) ||
    fail "the package's files differ (< expected, > packaged)"
  grep -q '^ExecStart=/usr/bin/meshtrain run ' "$T/root/lib/systemd/system/meshtrain@.service" || fail "the unit does not start /usr/bin/meshtrain"
  dpkg-deb --ctrl-tarfile "$deb" | tar -x -O ./postinst | grep -q 'adduser --system' || fail "postinst makes no system user"
  run "$T/root/usr/bin/meshtrain" --version
  assert_success
}

@test "package.sh builds an arm64 .deb whose binary runs under qemu (needs the cross-built binary)" {
  if [ -z "${MESHTRAIN_AARCH64_BINARY:-}" ] || ! command -v qemu-aarch64 >/dev/null; then
    skip "no aarch64 build (scripts/cross.sh aarch64; scripts/test.sh --full sets MESHTRAIN_AARCH64_BINARY)"
  fi
  # lintian checked the same layout in the amd64 test; here, the binary.
  run --separate-stderr "$SCRIPTS/package.sh" --arch arm64 --build-dir "$(dirname "$MESHTRAIN_AARCH64_BINARY")" --out "$T/dist" --no-lintian
  assert_success
  local deb="$output"
  run dpkg-deb -f "$deb" Architecture
  assert_output "arm64"
  dpkg-deb -x "$deb" "$T/root"
  run qemu-aarch64 -L /usr/aarch64-linux-gnu "$T/root/usr/bin/meshtrain" --version
  assert_success
  assert_output --regexp '^meshtrain [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "package.sh refuses a binary of another architecture and a bad --arch, saying why" {
  run --separate-stderr "$SCRIPTS/package.sh" --arch arm64 --build-dir "$BUILD" --out "$T/dist" --no-lintian
  assert_failure 1
  [[ "$stderr" == *"is a amd64 binary, not arm64"* ]] || fail "$stderr"
  run --separate-stderr "$SCRIPTS/package.sh" --arch sparc
  assert_failure 2
  [[ "$stderr" == *"--arch sparc: expected amd64, arm64 or all"* ]] || fail "$stderr"
  [ ! -e "$T/dist" ] || fail "a refused run wrote $T/dist"
}
