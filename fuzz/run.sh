#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/<reader>_fuzz.cpp, ASan + UBSan) for a bounded time each.
#   fuzz/run.sh [SECONDS] [TARGET...]     default 60 s, every target; TARGET is a reader name
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report; the reproducer stays in
# build-asan/fuzz/artifacts/<reader>/ (replay it: build-asan/tests/fuzz_replay_<reader> FILE).
# Inputs that reached new coverage accumulate in build-asan/fuzz/corpus/<reader>/, seeded from
# fuzz/corpus/<reader>/ and fuzz/regressions/<reader>/. Targets run AERO_FUZZ_JOBS at a time
# (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
out=${AERO_ASAN_BUILD_DIR:-build-asan}
command -v clang++ > /dev/null || { echo "fuzz: needs clang (apt-get install clang libomp-dev)" >&2; exit 1; }
all=$(ls fuzz/*_fuzz.cpp | sed 's|fuzz/||; s|_fuzz\.cpp$||')
targets=${*:-$all}
for t in $targets; do
  [[ -f fuzz/${t}_fuzz.cpp ]] || { echo "fuzz: no target '$t' (known: $(echo $all))" >&2; exit 2; }
done

# The same build as scripts/sanitize.sh: every library under ASan + UBSan with libFuzzer's
# coverage, -O1 -g.
if [[ ! -f $out/build.ninja ]]; then
  echo "fuzz: configuring $out (clang, ASan + UBSan + libFuzzer)" >&2
  CXX=clang++ cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" -DAERO_FUZZ=ON > /dev/null
fi
# AERO_FUZZ_BUILD=0: the binaries are already built (another build runs in the same directory).
if [[ ${AERO_FUZZ_BUILD:-1} != 0 ]]; then
  cmake --build "$out" --target $(for t in $targets; do echo "${t}_fuzz fuzz_replay_$t"; done) \
    -- --quiet
fi

# Memory: inputs are at most 16 KiB; no single allocation may exceed 64 MiB and the process
# 1 GiB, so a reader that allocates a declared size before checking it fails here (a 16 KiB
# gzip or bzip2 stream may legitimately decompress to some MiB).
flags=(-max_len=16384 -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 -print_final_stats=1)
json_readers=" config config_set ckpt_state ckpt_weights char_tokenizer jsonl request ws safetensors peft_config peft_adapter hf_t5_config "
run_one() {
  local t=$1 dir=$out/fuzz
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/logs"
  cp -n fuzz/corpus/"$t"/* "$dir/corpus/$t/" 2> /dev/null || true
  cp -n fuzz/regressions/"$t"/* "$dir/corpus/$t/" 2> /dev/null || true
  local dict=()
  if [[ -f fuzz/dict/$t.dict ]]; then
    cat fuzz/dict/"$t".dict > "$dir/$t.dict"
    [[ $json_readers == *" $t "* ]] && cat fuzz/dict/json.dict >> "$dir/$t.dict"
    dict=(-dict="$dir/$t.dict")
  fi
  local rc=0 start="$dir/artifacts/$t/.start"
  touch "$start"  # reproducers of earlier runs stay, but only new ones fail this run
  "$out/tests/${t}_fuzz" "${flags[@]}" "${dict[@]}" -max_total_time="$secs" \
    -artifact_prefix="$dir/artifacts/$t/" "$dir/corpus/$t" > "$dir/logs/$t.log" 2>&1 || rc=$?
  local runs cov ft
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/logs/$t.log")
  cov=$(grep -oE 'cov: [0-9]+' "$dir/logs/$t.log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$dir/logs/$t.log" | tail -1 | cut -d' ' -f2)
  local found
  found=$(find "$dir/artifacts/$t" -type f -newer "$start" ! -name .start | tr '\n' ' ')
  if [[ $rc -ne 0 || -n $found ]]; then
    printf 'fuzz: %-15s FAILED (exit %d): %s; log %s\n' "$t" "$rc" "$found" "$dir/logs/$t.log"
    grep -m3 -E '==[0-9]+==ERROR|runtime error|SUMMARY|uncaught|ERROR: libFuzzer' "$dir/logs/$t.log" || true
    echo "$t" >> "$out/fuzz/failed"
    return 1
  fi
  printf 'fuzz: %-15s ok  %4s s  %10s runs  cov %5s  ft %6s\n' "$t" "$secs" "${runs:-?}" "${cov:-?}" "${ft:-?}"
}

jobs_max=${AERO_FUZZ_JOBS:-$(nproc)}
mkdir -p "$out/fuzz" && rm -f "$out/fuzz/failed"
for t in $targets; do
  while [[ $(jobs -rp | wc -l) -ge $jobs_max ]]; do wait -n || true; done
  run_one "$t" &
done
wait
[[ ! -s $out/fuzz/failed ]] || { echo "fuzz: FAILED: $(tr '\n' ' ' < "$out/fuzz/failed")" >&2; exit 1; }
echo "fuzz: every target ran $secs s without a crash"
