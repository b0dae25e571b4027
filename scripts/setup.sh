#!/usr/bin/env bash
# Installs every Debian package meshtrain needs (compiler aside). Idempotent and
# non-interactive: packages already present are skipped without touching apt.
#
#   scripts/setup.sh [--dry-run] [--observability]
#
# A package counts as present only when it is installed for this machine's
# architecture (dpkg --print-architecture) or is architecture-independent: the
# arm64 libraries scripts/cross.sh installs do not build a native binary.
# --dry-run (or SETUP_DRY_RUN=1) prints what it would install and changes nothing.
# --observability also installs the two tools test_cli_observe drives when
# present: promtool (prometheus, ~100 MB installed) and Debian's headless
# Chromium (chromium-headless-shell, a 64 MB download); scripts/test.sh --full
# (CI) passes it. Without them that test skips those checks with a message
# (docs/observability.md, "Tests"). Only promtool is wanted from prometheus: on
# a machine running systemd, the server's service the package starts is
# disabled again; in a container invoke-rc.d finds no runlevel and starts none.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
dry_run="${SETUP_DRY_RUN:-0}"
observability=0
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --dry-run) dry_run=1 ;;
    --observability) observability=1 ;;
    *) echo "setup: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

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
  libcpp-httplib-dev  # log.prometheus and meshtrain watch --http (docs/observability.md)
  dataset-fashion-mnist
  gnuplot-nox
  iproute2      # ip and tc for the slow-link rig (scripts/netlab.sh)
  nftables      # packet loss in the rig (netlab.sh --loss, netlab.sh loss)
  bats          # the journey tests (tests/journeys/)
  bats-assert
  bats-support
  shellcheck    # scripts/test.sh lints scripts/ before the build
  ccache        # scripts/test.sh compiles through it when present
  dpkg-dev      # dpkg-shlibdeps: the Depends of the .deb (scripts/package.sh)
  fakeroot      # dpkg-deb builds the .deb as root-owned files without root
  lintian       # scripts/package.sh checks every .deb it builds
  groff-base    # the man page's check (tests/journeys/manpage.bats)
  pybind11-dev  # the Python module over the C++ API (python/, docs/api.md)
  python3-dev   # ... for Debian's /usr/bin/python3
  python3-numpy # ... and its test (tests/python/test_api_python.py)
)

if [ "$observability" = 1 ]; then
  PACKAGES+=(prometheus chromium-headless-shell)
fi

native="$(dpkg --print-architecture)"

# Installed for the native architecture, or architecture-independent ("all").
# dpkg-query without an architecture lists every installed instance of a
# package (libzmq3-dev:amd64 and libzmq3-dev:arm64 are two); one line each.
installed_natively() {
  local status arch
  while IFS=$'\t' read -r status arch; do
    if [ "$status" = "install ok installed" ] && { [ "$arch" = "$native" ] || [ "$arch" = all ]; }; then
      return 0
    fi
  done < <(dpkg-query -W -f='${Status}\t${Architecture}\n' "$1" 2>/dev/null || true)
  return 1
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed_natively "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present ($native)"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  echo "setup: would install (${native}): ${missing[*]}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# A bare name installs the native architecture's package.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  echo "setup: prometheus is installed for promtool; its server's service is disabled" \
       "(systemctl enable --now prometheus starts it)"
fi
echo "setup: done"
