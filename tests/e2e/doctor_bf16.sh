#!/usr/bin/env bash
# aero doctor names the bf16 kernel that train.precision = bf16 uses, from cpuid: amx where the
# CPU has AMX-BF16 (and the kernel grants it), else avx512-bf16, else none; AERO_BF16_KERNEL
# caps it; with measurements it prints the bf16 rate next to sgemm's. It also names the engine's
# kernels per weight format, and a training run on avx512-bf16 says whether fp32 is faster.
#   doctor_bf16.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"
kernel() { "$A" doctor --json --no-measure | sed -n '/"bf16"/,/}/s/.*"kernel": "\([^"]*\)".*/\1/p'; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
want=none
[[ $flags != *avx512_bf16* ]] || want=avx512-bf16
[[ $flags != *amx_bf16* ]] || want=amx
expect "bf16 kernel" "$(kernel)" "$want"
if [[ $want == amx ]]; then
  expect "bf16 kernel capped at avx512" "$(AERO_BF16_KERNEL=avx512 kernel)" avx512-bf16
fi
if [[ $want != none ]]; then
  expect "bf16 kernel capped at portable" "$(AERO_BF16_KERNEL=portable kernel)" portable
  "$A" doctor | has "bf16 rate next to sgemm" "^bf16: .*GFLOP/s = [0-9.]+x sgemm \(kernel $want"
fi
if [[ $flags == *avx512_bf16* ]]; then  # the avx512-bf16 kernel's rate against its instruction's
  out=$(AERO_BF16_KERNEL=avx512 "$A" doctor)
  has "vdpbf16ps peak" "^bf16 dot: +[0-9]+ GFLOP/s .*vdpbf16ps peak" <<< "$out"
  has "avx512-bf16 rate against it" "^bf16: .*[0-9]+% of the vdpbf16ps peak\)" <<< "$out"
  # Training on that kernel says so where vdpbf16ps gives fewer FLOPs than the FMA (Intel CPUs
  # without AMX), and only there.
  ratio=$(sed -n 's/^bf16 dot: .*peak, \([0-9.]*\)x the FMA.*/\1/p' <<< "$out")
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
  (cd "$d" && source "$here/lib_train.sh" && train_setup 2 &&
    AERO_BF16_KERNEL=avx512 "$A" train -c c.json --set train.precision=bf16 > train.log 2>&1) ||
    { cat "$d/train.log"; fail "a bf16 run on the avx512-bf16 kernel failed"; }
  line=$(grep '\[train\] precision bf16' "$d/train.log") || fail "train.log names no precision"
  echo "$line (doctor: vdpbf16ps ${ratio}x the FMA)"
  if awk -v r="$ratio" 'BEGIN {exit !(r < 1)}'; then
    has "fp32 faster on this CPU" "on avx512-bf16; this CPU's vdpbf16ps gives 0\.[0-9]+x the FLOPs of its fp32 FMA, so train.precision=fp32 multiplies faster here$" <<< "$line"
  else
    expect "bf16 line where vdpbf16ps is fast" "$line" "[train] precision bf16: linear layers multiply bf16 with fp32 sums on avx512-bf16"
  fi
fi
# The engine's kernels per weight format: q8 prefill on AMX int8 tiles where the CPU has them and
# Linux grants them, capped by AERO_QKERNEL.
q8() { "$A" doctor --no-measure | sed -n 's/^engine: .*q8: //p'; }
if [[ $flags == *amx_int8* && $("$A" doctor --no-measure | grep '^amx:') == *"granted by"* ]]; then
  expect "q8 prefill on amx" "$(q8)" "avx512-vnni, amx for n >= 32"
  expect "q8 capped at avx512" "$(AERO_QKERNEL=avx512 q8)" "avx512-vnni"
fi
expect "q8 capped at portable" "$(AERO_QKERNEL=portable q8)" "portable"
echo "doctor bf16: all checks passed"
