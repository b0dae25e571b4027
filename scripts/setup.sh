#!/usr/bin/env bash
# Installs every Debian package meshtrain needs (compiler aside). Idempotent and
# non-interactive: packages already present are skipped without touching apt.
set -euo pipefail

PACKAGES=(
  cmake
  pkg-config
  libzmq3-dev
  cppzmq-dev
  libmsgpack-cxx-dev
  libeigen3-dev
  libtomlplusplus-dev
  doctest-dev
  zlib1g-dev
  dataset-fashion-mnist
  gnuplot-nox
  iproute2  # ip and tc for the slow-link rig (scripts/netlab.sh)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
