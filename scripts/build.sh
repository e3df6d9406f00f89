#!/usr/bin/env bash
# Configures (once) and builds aero in build/ (Release, -O3, -march=native). Idempotent: quiet
# when everything is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AERO_BUILD_DIR:-build}
# ccache keys on paths relative to the checkout, so every clone (CI's too) reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  echo "aero: configuring and building $BUILD_DIR (Release; a few minutes the first time)" >&2
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -- --quiet | { grep -v '^ninja: no work to do\.$' || true; }
