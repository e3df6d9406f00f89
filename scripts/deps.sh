#!/usr/bin/env bash
# Installs the Debian packages aero needs, only those missing (idempotent, quiet when done).
#   scripts/deps.sh build   packages to build and run aero
#   scripts/deps.sh quickstart  plus the Vietnamese corpus that `aero quickstart` trains on
#   scripts/deps.sh test    plus the reference implementations and data used by the tests
set -euo pipefail

BUILD_PKGS=(
  g++ cmake ninja-build ccache pkg-config
  libopenblas0-openmp            # BLAS, loaded at run time with the right kernel for the CPU
  libcli11-dev nlohmann-json3-dev
  libsentencepiece-dev libicu-dev libbz2-dev libexpat1-dev libxml2-dev zlib1g-dev
  libedit-dev                    # line editing in aero chat
  libcairo2-dev fonts-dejavu-core  # charts: PNG/SVG/PDF with fonts that cover Vietnamese
  libboost-dev libsqlite3-dev libssl-dev  # aero serve: Beast/Asio, sessions, SHA-256 of keys
  libpq-dev                      # aero serve --sessions postgresql://: the store replicas share
)
CORPUS_PKGS=(libreoffice-help-vi maint-guide-vi manpages-vi)  # aero quickstart's Vietnamese text
TEST_PKGS=(
  libgtest-dev
  python3-torch python3-sentencepiece sentencepiece  # parity references (Debian's /usr/bin/python3)
  bzip2 bc time                                       # .bz2 test inputs; bench/data_bench.sh
  bible-kjv bible-kjv-text "${CORPUS_PKGS[@]}"        # real corpora
  nodejs npm chromium curl  # aero serve through real clients: openai, ws, playwright, curl
  clang                     # fuzz/run.sh (libFuzzer + ASan over request parsing)
  locales                   # tests/e2e/locale_numbers.sh: localedef de_DE.UTF-8
  dpkg-dev debootstrap      # cpack's .deb (dpkg-shlibdeps) and its test in a fresh Debian root
  postgresql postgresql-client nginx  # replicas behind nginx with a shared store (tests/server)
  openmpi-bin libopenmpi-dev iproute2  # mpirun -np N aero train; ranks in network namespaces
)

want=("${BUILD_PKGS[@]}")
[[ "${1:-build}" == quickstart ]] && want+=("${CORPUS_PKGS[@]}")
[[ "${1:-build}" == test ]] && want+=("${TEST_PKGS[@]}")
# Some nodejs builds (NodeSource) ship npm themselves and conflict with Debian's npm package.
if [[ -x /usr/bin/npm ]] && ! dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q "ok installed"; then
  for i in "${!want[@]}"; do [[ ${want[$i]} == npm ]] && unset 'want[i]'; done
  want=("${want[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "aero: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once if a package is unknown.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then $SUDO apt-get update -qq; fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
