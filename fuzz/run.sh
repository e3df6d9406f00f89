#!/usr/bin/env bash
# Fuzzes request parsing/validation (src/server/request.cpp) with libFuzzer + AddressSanitizer +
# UBSan for a bounded time (default 60 s). Separate from the test suite: needs clang.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v clang++ > /dev/null || { echo "fuzz: needs clang (apt-get install clang)" >&2; exit 1; }
out=build-fuzz; mkdir -p "$out" "$out/corpus"
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc fuzz/request_fuzz.cpp src/server/request.cpp src/core/error.cpp -o "$out/request_fuzz"
cp -n fuzz/corpus/* "$out/corpus/" 2> /dev/null || true
"$out/request_fuzz" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$out/corpus" 2>&1 | tee "$out/fuzz.log" | grep -E '^(#[0-9]+ +DONE|INFO: -max_total|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
if grep -qE '==[0-9]+==ERROR|deadly signal|Test unit written' "$out/fuzz.log"; then
  echo "fuzz: FAILED (see $out/fuzz.log and the crash-* file)"; exit 1
fi
echo "fuzz: no crashes in ${secs} s ($(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log") runs)"
