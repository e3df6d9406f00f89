#!/usr/bin/env bash
# Training throughput, aero vs PyTorch, one full step (forward, cross_entropy, backward, AdamW,
# zero_grad), fp32, 2 threads, same presets and batch on both sides. Alternates ROUNDS rounds of
# each per preset (each the median of its steps) and compares the medians over rounds, so a
# burst of other work on the machine hits both.
#   bench/train.sh [ROUNDS] [PRESET...]     (default: 3 rounds; seed-tiny char-small gpt2-124m)
#   AERO_WAIT_POLICY=ACTIVE|PASSIVE   overrides aero's own choice (a short spin, as the CLI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
rounds=${1:-3}
shift || true
presets=(${@:-seed-tiny char-small gpt2-124m})
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
field() { awk -v k="$1" '/^RESULT/ {for (i = 2; i < NF; i++) if ($i == k) print $(i + 1)}'; }
summary=()
for p in "${presets[@]}"; do
  at=() am=() ar=() tt=() tr=()
  for ((r = 0; r < rounds; r++)); do
    # aero runs as its CLI does (GOMP_SPINCOUNT=10000, see tune_openmp_runtime in
    # src/core/threads.h) unless AERO_WAIT_POLICY names a policy.
    aero_env=()
    [[ -n ${AERO_WAIT_POLICY:-} ]] && aero_env=(OMP_WAIT_POLICY="$AERO_WAIT_POLICY")
    out=$(env "${aero_env[@]}" "$BUILD/bench/train_bench" "$p")
    [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
    at+=("$(echo "$out" | field aero_tok_s)") am+=("$(echo "$out" | field mfu)")
    ar+=("$(echo "$out" | field rss_mb)")
    # PyTorch at its best: a kernel OpenBLAS knows, and OpenMP threads that do not spin.
    out=$(OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/train_torch.py "$p")
    [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
    tt+=("$(echo "$out" | field torch_tok_s)") tr+=("$(echo "$out" | field rss_mb)")
  done
  echo "$p rounds: aero ${at[*]} tok/s; torch ${tt[*]} tok/s"
  summary+=("$(awk -v p="$p" -v a="$(printf '%s\n' "${at[@]}" | median)" \
    -v t="$(printf '%s\n' "${tt[@]}" | median)" -v m="$(printf '%s\n' "${am[@]}" | median)" \
    -v ra="$(printf '%s\n' "${ar[@]}" | median)" -v rt="$(printf '%s\n' "${tr[@]}" | median)" \
    'BEGIN { printf "%-11s %9.0f %9.0f %6.2fx %6.1f%% %8.0f %8.0f", p, a, t, a / t, 100 * m, ra, rt }')")
done
echo "preset      aero tok/s torch tok/s ratio   MFU  aero MB torch MB"
printf '%s\n' "${summary[@]}"
