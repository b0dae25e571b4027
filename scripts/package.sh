#!/usr/bin/env bash
# Builds the Debian package of meshtrain: meshtrain_<version>_<arch>.deb with the
# binary, meshtrain(1), the systemd unit meshtrain@.service, the example configs,
# the docs and the C++ API (libmeshtrain.so, its two headers, its CMake package:
# what `cmake --install` puts in a prefix), a system user
# `meshtrain` made on install, and Depends worked out by dpkg-shlibdeps.
#
#   scripts/package.sh [--arch amd64|arm64|all] [--build-dir DIR] [--out DIR] [--no-lintian]
#
#   --arch        amd64 (default), arm64 (cross-built with scripts/cross.sh), or both
#   --build-dir   package what DIR holds (a configured build dir whose
#                 `meshtrain` is built) instead of building; its binary must be
#                 of --arch. Without it the binary is built for a generic CPU of
#                 the architecture (MESHTRAIN_NATIVE=OFF) in build-deb-<arch>/
#   --out         where the .deb goes (default: dist/)
#   --no-lintian  skip the lintian check (it runs by default, and an error fails)
#
# Prints each package's path on a line of its own. Needs dpkg-dev and lintian
# (scripts/setup.sh installs them); the arm64 build needs what cross.sh installs.
# Install on a board: sudo apt install ./meshtrain_<version>_arm64.deb (docs/deploy.md).
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
arch=amd64
build_dir=""
out="$root/dist"
lintian=1
need_value() { [ $# -ge 2 ] || { echo "package.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --arch) need_value "$@"; arch="$2"; shift 2 ;;
    --build-dir) need_value "$@"; build_dir="$2"; shift 2 ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    *) echo "package.sh: unknown argument '$1' (--help for the usage)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64 | arm64) ;;
  all) [ -z "$build_dir" ] || { echo "package.sh: --build-dir packages one architecture; name it with --arch" >&2; exit 2; } ;;
  *) echo "package.sh: --arch $arch: expected amd64, arm64 or all" >&2; exit 2 ;;
esac
for tool in dpkg-deb dpkg-shlibdeps fakeroot; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [ "$lintian" = 1 ] && ! command -v lintian >/dev/null; then
  echo "package.sh: lintian is missing (scripts/setup.sh installs it; --no-lintian skips the check)" >&2
  exit 1
fi

version="$(sed -n 's/^project(meshtrain VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
[ -n "$version" ] || { echo "package.sh: no project(meshtrain VERSION ...) in CMakeLists.txt" >&2; exit 1; }

# The ELF machine of a binary as a Debian architecture (e_machine, offset 18).
elf_arch() {
  case "$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')" in
    3e00) echo amd64 ;;
    b700) echo arm64 ;;
    *) echo unknown ;;
  esac
}

build_binary() {
  local target_arch="$1" dir="$root/build-deb-$1"
  # Debian's hardening: fortified libc calls, a read-only GOT bound at start.
  local common=(-DCMAKE_BUILD_TYPE=Release -DMESHTRAIN_BUILD_TESTS=OFF -DMESHTRAIN_BUILD_BENCH=OFF
    -DCMAKE_CXX_FLAGS=-D_FORTIFY_SOURCE=2 "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-z,relro,-z,now")
  if [ "$target_arch" = amd64 ]; then
    local launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$root" -B "$dir" "${common[@]}" -DMESHTRAIN_NATIVE=OFF "${launcher[@]}" >/dev/null
    cmake --build "$dir" --target meshtrain -j "$(nproc 2>/dev/null || echo 2)" >&2
  else
    BUILD_DIR="$dir" "$root/scripts/cross.sh" aarch64 "${common[@]}" >&2
  fi
  echo "$dir"
}

control_file() {
  local target_arch="$1" depends="$2" size="$3"
  cat <<EOF
Package: meshtrain
Version: $version
Architecture: $target_arch
Maintainer: meshtrain developers <meshtrain@example.org>
Installed-Size: $size
Depends: $depends
Section: science
Priority: optional
Description: decentralized, serverless data-parallel training over ZeroMQ
 Every peer of a cluster trains a model on its own shard of the data and
 combines what it learned with the other peers over ZeroMQ: a ring all-reduce
 of the gradients, parameter averaging, or gossip averaging with its
 neighbours. There is no parameter server and no coordinator; peers that die
 are left behind and rejoin with the others' state.
 .
 This package holds the meshtrain binary, its manual page, the systemd unit
 meshtrain@.service (one peer per instance, run as the system user meshtrain),
 example configs, the documentation, and the C++ API for a training loop of
 one's own: libmeshtrain, its headers and its CMake package.
EOF
}

package_one() {
  local target_arch="$1" dir="$2"
  local binary="$dir/meshtrain"
  [ -x "$binary" ] || { echo "package.sh: no built meshtrain in $dir" >&2; exit 1; }
  local got
  got="$(elf_arch "$binary")"
  [ "$got" = "$target_arch" ] || { echo "package.sh: $binary is a $got binary, not $target_arch" >&2; exit 1; }

  local work stage
  work="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: the trap outlives this function's locals
  trap "rm -rf '$work'" EXIT
  stage="$work/stage"
  # A build dir configured before the install rules last changed is
  # configured again, so that it installs by today's rules; what the install
  # takes beyond the binary (the API's library, the Python module) is built
  # if it is not (a cross build makes only the binary).
  [ "$dir/cmake_install.cmake" -nt "$root/CMakeLists.txt" ] || cmake -S "$root" -B "$dir" >/dev/null
  cmake --build "$dir" --target meshtrain_api >&2
  if grep -q '^MESHTRAIN_PYTHON:BOOL=ON' "$dir/CMakeCache.txt" && cmake --build "$dir" --target help | grep -q meshtrain_python; then
    cmake --build "$dir" --target meshtrain_python >&2
  fi
  DESTDIR="$stage" cmake --install "$dir" --prefix /usr >/dev/null
  # Debian 12 keeps packaged units in /lib/systemd/system.
  mkdir -p "$stage/lib/systemd"
  mv "$stage/usr/lib/systemd/system" "$stage/lib/systemd/system"
  rmdir "$stage/usr/lib/systemd" 2>/dev/null || true
  local strip_tool=strip
  [ "$target_arch" = arm64 ] && strip_tool=aarch64-linux-gnu-strip
  # Every ELF file, stripped: the binary, the API's library and the Python module (docs/api.md).
  local elves=("$stage/usr/bin/meshtrain")
  mapfile -t -O 1 elves < <(find "$stage/usr/lib" \( -name 'libmeshtrain.so.*' -o -name 'meshtrain.cpython-*.so' \) -type f 2>/dev/null)
  "$strip_tool" --strip-unneeded --remove-section=.comment --remove-section=.note "${elves[@]}"
  gzip -9n "$stage/usr/share/man/man1/meshtrain.1"
  local docs="$stage/usr/share/doc/meshtrain"
  install -m 0644 "$root/packaging/deb/copyright" "$docs/copyright"
  gzip -9nc "$root/packaging/deb/changelog" >"$docs/changelog.gz"
  chmod 0644 "$docs/changelog.gz"
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -type f ! -path "$stage/usr/bin/*" -exec chmod 0644 {} +
  rmdir "$stage/usr/lib" 2>/dev/null || true

  # Depends: the shared libraries those ELF files link, as their packages.
  mkdir -p "$work/src/debian" "$stage/DEBIAN"
  printf 'Source: meshtrain\n\nPackage: meshtrain\nArchitecture: any\n' >"$work/src/debian/control"
  local shlibs
  shlibs="$(cd "$work/src" && DEB_HOST_ARCH="$target_arch" dpkg-shlibdeps -O --warnings=0 "${elves[@]}")"
  shlibs="${shlibs#shlibs:Depends=}"
  # The Python module (docs/api.md, "Python") is built for one python3: the
  # package needs that one.
  local depends="adduser, $shlibs" module minor
  module="$(find "$stage/usr/lib" -path '*/python3/dist-packages/meshtrain.cpython-3*.so' -printf '%f\n' 2>/dev/null | sed -n 1p)"
  if [ -n "$module" ]; then
    minor="$(sed -n 's/^meshtrain\.cpython-3\([0-9]*\)-.*/\1/p' <<<"$module")"
    depends="$depends, python3 (>= 3.$minor~), python3 (<< 3.$((minor + 1)))"
  fi
  local size
  size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  control_file "$target_arch" "$depends" "$size" >"$stage/DEBIAN/control"
  install -m 0755 "$root/packaging/deb/postinst" "$root/packaging/deb/postrm" "$stage/DEBIAN/"
  # Packages built against libmeshtrain.so.N depend on this one (dpkg-shlibdeps reads it).
  local soname
  soname="$(find "$stage/usr/lib" -name 'libmeshtrain.so.*.*' -printf '%f\n' 2>/dev/null | sed -n 's/^libmeshtrain\.so\.\([0-9]*\)\..*/\1/p')"
  if [ -n "$soname" ]; then
    echo "libmeshtrain $soname meshtrain (>= $version)" >"$stage/DEBIAN/shlibs"
    chmod 0644 "$stage/DEBIAN/shlibs"
  fi
  # ldconfig learns of libmeshtrain.so.N when the package comes and goes.
  echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"
  chmod 0644 "$stage/DEBIAN/triggers"
  (cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

  mkdir -p "$out"
  local deb="$out/meshtrain_${version}_${target_arch}.deb"
  fakeroot dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  if [ "$lintian" = 1 ]; then
    # Errors fail the package; warnings are printed for a person to judge.
    lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" >&2
  fi
  rm -rf "$work"
  trap - EXIT
  echo "$deb"
}

archs=("$arch")
[ "$arch" = all ] && archs=(amd64 arm64)
for a in "${archs[@]}"; do
  dir="$build_dir"
  [ -n "$dir" ] || dir="$(build_binary "$a")"
  package_one "$a" "$dir"
done
