#!/usr/bin/env bash
# A GPT block (d_model 768, 12 heads, B 4, T 256) forward + backward: aero vs PyTorch's nanoGPT
# block in one run. Alternates ROUNDS rounds of each (each the median of ITERS steps) and
# compares the medians over rounds, so a burst of other work on the machine hits both.
#   bench/block.sh [ROUNDS] [B T C NH ITERS]      (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
rounds=${1:-3}
shift || true
args=(${@:-4 256 768 12 10})
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
aero=() torch=()
for ((r = 0; r < rounds; r++)); do
  out=$("$BUILD/bench/block_bench" "${args[@]}")
  [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
  aero+=("$(echo "$out" | awk '/^RESULT/ {print $3}')")
  # PyTorch at its best here: a kernel OpenBLAS knows, and OpenMP threads that do not spin.
  out=$(OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/block_torch.py "${args[@]}")
  [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
  torch+=("$(echo "$out" | awk '/^RESULT/ {print $3}')")
done
a=$(printf '%s\n' "${aero[@]}" | median)
t=$(printf '%s\n' "${torch[@]}" | median)
echo "rounds: aero ${aero[*]} ms; torch ${torch[*]} ms"
awk -v a="$a" -v t="$t" 'BEGIN { printf "block fwd+bwd: aero %.2f ms, torch %.2f ms, aero is %.2fx faster\n", a, t, t / a }'
