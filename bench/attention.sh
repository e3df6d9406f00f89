#!/usr/bin/env bash
# aero's fused attention against PyTorch's manual attention (nanoGPT), forward + backward,
# B 4, NH 12, T 256, HS 64, causal, fp32, 2 threads, medians of N runs.
# Usage: bench/attention.sh [build dir] [runs]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
runs="${2:-30}"
# Both run in the same environment: threads that sleep when idle (the machine is shared) and
# OpenBLAS's AVX-512 kernel (Debian's torch links OpenBLAS 0.3.21, which does not know Zen 5).
export OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE
aero_ms=$("$build/bench/attention_bench" "$runs" 2 | awk '/^aero_ms/ {print $2}')
torch_ms=$(/usr/bin/python3 "$here/attention_torch.py" --runs "$runs" --threads 2 |
  awk '/^torch_ms/ {print $2}')
echo "aero  ${aero_ms} ms"
echo "torch ${torch_ms} ms"
awk -v a="$aero_ms" -v t="$torch_ms" 'BEGIN {printf "aero is %.2fx faster than torch\n", t / a}'
