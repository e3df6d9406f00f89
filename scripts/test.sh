#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test (unit, parity, end to end).
#   scripts/test.sh              everything
#   scripts/test.sh -LE slow     skip tests labelled slow (extra arguments go to ctest)
# Then the sanitizer builds: ASan + UBSan, TSan and short fuzz runs (scripts/sanitize.sh asan
# tsan fuzz; AERO_SANITIZE_TESTS=0 skips them, AERO_FUZZ_SECONDS sets the time per fuzz target,
# default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# llama.cpp (npm's node-llama-cpp) for the GGUF export tests; without it they are skipped, except
# under CI=true, where they must run (and fail without it), so a failed install stops here.
if ! scripts/llama-cpp.sh; then
  if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
    echo "aero: error: llama.cpp could not be installed (scripts/llama-cpp.sh); CI runs formats.llama_cpp_* tests" >&2
    exit 1
  fi
  echo "aero: warning: llama.cpp could not be installed; formats.llama_cpp_* tests are skipped" >&2
fi
scripts/build.sh
(cd "${AERO_BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)" "$@")
[[ ${AERO_SANITIZE_TESTS:-1} == 0 ]] || scripts/sanitize.sh asan tsan fuzz
