#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test (unit, parity, end to end).
#   scripts/test.sh              everything
#   scripts/test.sh -LE slow     skip tests labelled slow (extra arguments go to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh
cd "${AERO_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" "$@"
