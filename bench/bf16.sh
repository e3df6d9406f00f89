#!/usr/bin/env bash
# bf16 mixed-precision training throughput, side by side in one run: aero fp32, aero bf16
# (train.precision = bf16), PyTorch fp32 and PyTorch bf16 autocast, one full training step each
# (bench/train_bench.cpp, bench/train_torch.py), 2 threads, the same presets and batch. Alternates
# ROUNDS rounds of the four per preset and compares the medians over rounds; prints the ratios
# and peak RSS. PyTorch runs in its own process: Debian's PyTorch 1.13 dies with SIGILL in
# oneDNN's bf16 code on AMX CPUs, which is reported as "crashed (SIGILL)".
#   bench/bf16.sh [ROUNDS] [PRESET...]     (default: 3 rounds; gpt2-124m)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
rounds=${1:-3}
shift || true
presets=(${@:-gpt2-124m})
median() { sort -g | awk 'NF {a[++n] = $1} END {if (n) print a[int((n + 1) / 2)]; else print "nan"}'; }
field() { awk -v k="$1" '/^RESULT/ {for (i = 2; i < NF; i++) if ($i == k) print $(i + 1)}'; }
# run NAME CMD...: prints the command's RESULT lines; a crash prints "CRASH <signal name>".
run() {
  local out rc
  out=$("${@:2}" 2>&1); rc=$?
  if ((rc > 128)); then echo "CRASH $(kill -l $((rc - 128)))"; return; fi
  ((rc == 0)) || { echo "$1 failed (exit $rc): $out" >&2; echo "CRASH exit$rc"; return; }
  echo "$out"
}
"$BUILD/aero" doctor --no-measure | grep -E '^(cpu|features|bf16):'
summary=()
for p in "${presets[@]}"; do
  declare -A tok=() rss=() crash=()
  for ((r = 0; r < rounds; r++)); do
    for side in aero-fp32 aero-bf16 torch-fp32 torch-bf16; do
      prec=${side#*-}
      if [[ $side == aero-* ]]; then
        out=$(run "$side" "$BUILD/bench/train_bench" "$p" "" "" 0 "$prec")
        key=aero_tok_s
      else
        out=$(run "$side" env OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE \
          /usr/bin/python3 bench/train_torch.py "$p" "" "" "$prec")
        key=torch_tok_s
      fi
      if [[ $out == CRASH* ]]; then
        crash[$side]="crashed (${out#CRASH })"
        continue
      fi
      [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
      tok[$side]+="$(echo "$out" | field "$key") " rss[$side]+="$(echo "$out" | field rss_mb) "
    done
  done
  declare -A med=()
  for side in aero-fp32 aero-bf16 torch-fp32 torch-bf16; do
    med[$side]=$(printf '%s\n' ${tok[$side]:-} | median)
    m=$(printf '%s\n' ${rss[$side]:-} | median)
    echo "$p $side rounds: ${tok[$side]:-none} tok/s ${crash[$side]:-}"
    summary+=("$(printf '%-10s %-11s %9s tok/s  peak RSS %6s MB  %s' "$p" "$side" \
      "${med[$side]}" "$m" "${crash[$side]:-}")")
  done
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else printf "n/a" }'; }
  summary+=("$(printf '%-10s aero bf16 / aero fp32 %s (target 1.6x), / torch bf16 %s (target 1.3x), / torch fp32 %s; torch bf16 / torch fp32 %s' \
    "$p" "$(ratio "${med[aero-bf16]}" "${med[aero-fp32]}")" \
    "$(ratio "${med[aero-bf16]}" "${med[torch-bf16]}")" \
    "$(ratio "${med[aero-bf16]}" "${med[torch-fp32]}")" \
    "$(ratio "${med[torch-bf16]}" "${med[torch-fp32]}")")")
  unset tok rss crash med
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summary[@]}"
