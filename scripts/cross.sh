#!/usr/bin/env bash
# Cross-builds the meshtrain binary for another CPU on a Debian 12 x86-64 host:
# installs the cross compiler, the target's -dev libraries (multiarch) and
# qemu-user, configures with cmake/toolchain-<target>.cmake and builds only the
# `meshtrain` target, then runs `meshtrain --version` under qemu as a smoke test.
#
#   scripts/cross.sh aarch64 [--static] [--no-install] [extra cmake args...]
#
#   --static      MESHTRAIN_STATIC=ON: a mostly static binary (see docs/edge.md)
#   --no-install  skip the package step (for machines without apt or root)
#
# Environment: BUILD_DIR (default build-aarch64, or build-aarch64-static with
# --static), JOBS (default: nproc). Prints the binary's path on the last line.
# Idempotent: packages already present are skipped without touching apt.
# Exit status: 0 built; 3 the packages could not be installed (no mirror for the
# target's architecture, no root: the machine cannot cross-build, which
# scripts/test.sh reports and goes on without); anything else, a real failure.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
  case "$arg" in -h | --help) usage; exit 0 ;; esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bad_usage() { echo "usage: scripts/cross.sh aarch64 [--static] [--no-install] [cmake args...] (--help for more)" >&2; exit 2; }
[ $# -ge 1 ] || bad_usage
target="$1"; shift
case "$target" in
  aarch64|arm64)
    target=aarch64
    deb_arch=arm64
    triplet=aarch64-linux-gnu
    qemu="qemu-aarch64"
    ;;
  *) echo "cross: unknown target '$target' (supported: aarch64)" >&2; bad_usage ;;
esac

static=OFF
install=1
cmake_args=()
for arg in "$@"; do
  case "$arg" in
    --static) static=ON ;;
    --no-install) install=0 ;;
    *) cmake_args+=("$arg") ;;
  esac
done
suffix=""
[ "$static" = ON ] && suffix="-static"
build="${BUILD_DIR:-$root/build-$target$suffix}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# --- packages ---------------------------------------------------------------
# Host tools, then the target's libraries as <pkg>:<arch> next to the host's.
# Eigen and doctest are architecture-independent and shared with the host build.
HOST_PACKAGES=(cmake pkg-config "g++-$triplet" qemu-user libeigen3-dev)
TARGET_PACKAGES=(libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libtomlplusplus-dev zlib1g-dev)

# No `| grep -q`: it can close the pipe early, a failure under pipefail.
installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == *"install ok installed"* ]]; }

if [ "$install" = 1 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  need_update=0
  foreign="$(dpkg --print-foreign-architectures)"
  if ! grep -qx "$deb_arch" <<<"$foreign"; then
    echo "cross: adding the $deb_arch architecture to dpkg"
    $SUDO dpkg --add-architecture "$deb_arch"
    need_update=1
  fi
  missing_host=()
  for pkg in "${HOST_PACKAGES[@]}"; do installed "$pkg" || missing_host+=("$pkg"); done
  missing_target=()
  for pkg in "${TARGET_PACKAGES[@]}"; do installed "$pkg:$deb_arch" || missing_target+=("$pkg:$deb_arch"); done
  if [ ${#missing_host[@]} -gt 0 ] || [ ${#missing_target[@]} -gt 0 ]; then
    need_update=1
  fi
  if [ "$need_update" = 1 ]; then
    echo "cross: installing ${missing_host[*]} ${missing_target[*]}"
    install_ok=1
    $SUDO apt-get update -qq || install_ok=0
    # The cross compiler keeps its recommends: they bring its C library headers.
    if [ "$install_ok" = 1 ] && [ ${#missing_host[@]} -gt 0 ]; then
      $SUDO apt-get install -y -qq "${missing_host[@]}" >/dev/null || install_ok=0
    fi
    if [ "$install_ok" = 1 ] && [ ${#missing_target[@]} -gt 0 ]; then
      $SUDO apt-get install -y -qq --no-install-recommends "${missing_target[@]}" >/dev/null || install_ok=0
    fi
    if [ "$install_ok" = 0 ]; then
      # Leave dpkg as we found it: an architecture the mirror does not serve
      # would make every later `apt-get update` on this machine fail.
      if ! grep -qx "$deb_arch" <<<"$foreign" && [ -z "$(dpkg-query -W -f='${Package}\n' "*:$deb_arch" 2>/dev/null)" ]; then
        $SUDO dpkg --remove-architecture "$deb_arch" || true
      fi
      echo "cross: could not install the packages for $target (see apt's messages above)" >&2
      exit 3
    fi
  else
    echo "cross: all packages for $target present"
  fi
fi

# --- build --------------------------------------------------------------------
cmake -S "$root" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$target.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DMESHTRAIN_WERROR=ON \
  -DMESHTRAIN_BUILD_TESTS=OFF \
  -DMESHTRAIN_BUILD_BENCH=OFF \
  -DMESHTRAIN_STATIC="$static" \
  "${cmake_args[@]}" >/dev/null
cmake --build "$build" --target meshtrain -j "$jobs"

binary="$build/meshtrain"
if command -v "$qemu" >/dev/null 2>&1; then
  echo "cross: $("$qemu" "$binary" --version) runs under $qemu"
else
  echo "cross: $qemu not found; the binary was built but not tried" >&2
fi
echo "$binary"
