#!/usr/bin/env bash
# The test suite under sanitizers (docs/fuzzing.md), called by scripts/test.sh:
#   asan  build-asan/ (clang, -O1 -g, ASan + UBSan, every report fatal, libFuzzer coverage):
#         the unit, parity and fuzz-replay tests, less those labelled slow (a 600-step
#         training run takes over 15 minutes under ASan; the normal build runs them)
#   tsan  build-tsan/ (clang, TSan): the server tests (transport, scheduler, sessions, limits
#         on their own threads) through aero serve and real clients, the scheduler's unit tests
#         (many client threads, cancellation, drain), then the unit tests whose code runs on
#         OpenMP threads (engine, data-parallel step, gradient buckets) with two of them
#   fuzz  every fuzz target for AERO_FUZZ_SECONDS (default 20) each, in build-asan/
#   scripts/sanitize.sh [asan|tsan|fuzz]...     default: all three
# Prints the time each part took (build and run), for CI's budget.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${*:-asan tsan fuzz}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# clang's OpenMP runtime (libomp) for the clang builds; the Debian package is libomp-dev.
if [[ ! -e /usr/lib/llvm-14/lib/libomp.so ]] && ! ls /usr/lib/llvm-*/lib/libomp.so > /dev/null 2>&1; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends libomp-dev > /dev/null
fi

timed() {  # timed LABEL CMD...: runs CMD, then prints how long it took
  local label=$1 t0=$SECONDS; shift
  "$@"
  echo "sanitize: $label took $((SECONDS - t0)) s" >&2
}
configure() {  # configure DIR CMAKE_ARGS...
  local dir=$1; shift
  [[ -f $dir/build.ninja ]] && return
  CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" "$@" > /dev/null
}

# Any sanitizer report ends the process with an error; leaks are reports too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}

for part in $parts; do
  case $part in
    asan)
      configure build-asan -DAERO_FUZZ=ON
      # aero itself too: some unit and parity tests run the CLI (data.spm_parity_python).
      timed "asan build" cmake --build build-asan --target aero aero_tests aero_parity_tests \
        aero_server_tests $(ls fuzz/*_fuzz.cpp | sed 's|fuzz/\(.*\)_fuzz\.cpp|fuzz_replay_\1|') \
        -- --quiet
      (cd build-asan && timed "asan tests" ctest --output-on-failure -j"$(nproc)" -L 'unit|parity|fuzz' -LE slow)
      ;;
    tsan)
      configure build-tsan -DAERO_SANITIZE=thread
      # aero_tests holds only the unit tests with threads of their own there (tests/CMakeLists.txt).
      timed "tsan build" cmake --build build-tsan --target aero aero_server_tests aero_tests \
        -- --quiet
      # Each report goes to a file as well as failing the process; a test whose script ignores
      # the server's exit status is still caught by the check below.
      rm -f build-tsan/tsan.*
      tsan_options="halt_on_error=1 second_deadlock_stack=1 log_path=$PWD/build-tsan/tsan"
      tsan_options+=" suppressions=$PWD/scripts/tsan.supp"
      # The server with one OpenMP and one OpenBLAS thread (`aero serve --threads 1`; the
      # fixture's training too): its own threads are the transport, the scheduler, sessions.
      (cd build-tsan && export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 &&
        TSAN_OPTIONS=$tsan_options timed "tsan server tests" \
        ctest --output-on-failure -j"$(nproc)" -R '^(Server|server\.)')
      # The engine, the data-parallel step and the gradient buckets on two OpenMP threads. clang's
      # libomp is not instrumented: Archer (LLVM's OpenMP tool for TSan) tells TSan about its
      # barriers, locks and tasks, so what remains is aero's own.
      archer=$(ls /usr/lib/llvm-*/lib/libarcher.so | tail -1)
      (cd build-tsan && export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 \
        OMP_TOOL_LIBRARIES=$archer ARCHER_OPTIONS="verbose=0" &&
        TSAN_OPTIONS="$tsan_options ignore_noninstrumented_modules=1" \
        timed "tsan OpenMP tests" \
        ctest --output-on-failure -j"$(nproc)" -R '^(engine|data_parallel|grad_sync)\.')
      if ls build-tsan/tsan.* > /dev/null 2>&1; then
        head -50 build-tsan/tsan.*; echo "sanitize: ThreadSanitizer reports above" >&2; exit 1
      fi
      ;;
    fuzz)
      timed "fuzz ${AERO_FUZZ_SECONDS:-20} s per target" fuzz/run.sh "${AERO_FUZZ_SECONDS:-20}"
      ;;
    *) echo "sanitize: unknown part '$part' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
