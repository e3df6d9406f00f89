#!/usr/bin/env bash
# A GPT block (d_model 768, 12 heads, B 4, T 256) forward + backward: aero vs PyTorch, one run.
#   bench/block.sh [B T C NH iters]      (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
args=("${@:-4 256 768 12 10}")
a=$("$BUILD/bench/block_bench" ${args[@]} | tee /dev/stderr | awk '/^RESULT/{print $3}')
# PyTorch at its best here: a kernel OpenBLAS knows, and OpenMP threads that do not spin.
t=$(OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/block_torch.py ${args[@]} \
    | tee /dev/stderr | awk '/^RESULT/{print $3}')
awk -v a="$a" -v t="$t" 'BEGIN { printf "block fwd+bwd: aero %.2f ms, torch %.2f ms, aero is %.2fx faster\n", a, t, t / a }'
