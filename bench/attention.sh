#!/usr/bin/env bash
# aero's fused attention against PyTorch's manual attention (nanoGPT), forward + backward,
# B 4, NH 12, T 256, HS 64, causal, fp32, 2 threads.
# Usage: bench/attention.sh [build dir] [runs] [rounds]
# Each round times both (median of `runs` each), alternating so that a burst of load on a
# shared machine hits both; the reported times are the medians over rounds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
runs="${2:-30}"
rounds="${3:-5}"
# PyTorch at its best: OpenBLAS's AVX-512 kernel (Debian's torch links OpenBLAS 0.3.21, which
# does not know Zen 5) and OpenMP threads that sleep when idle. aero runs as its CLI does.
export OPENBLAS_CORETYPE=SkylakeX
aero=() torch=()
for ((r = 0; r < rounds; r++)); do
  aero+=("$("$build/bench/attention_bench" "$runs" 2 2>/dev/null | awk '/^aero_ms/ {print $2}')")
  torch+=("$(OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$here/attention_torch.py" --runs "$runs" --threads 2 |
    awk '/^torch_ms/ {print $2}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
aero_ms=$(median "${aero[@]}")
torch_ms=$(median "${torch[@]}")
echo "aero  ${aero_ms} ms  (rounds: ${aero[*]})"
echo "torch ${torch_ms} ms  (rounds: ${torch[*]})"
awk -v a="$aero_ms" -v t="$torch_ms" 'BEGIN {printf "aero is %.2fx faster than torch\n", t / a}'
