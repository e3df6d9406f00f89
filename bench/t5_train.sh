#!/usr/bin/env bash
# T5 training throughput, aero vs PyTorch (bench/t5_train_torch.py, HF T5 semantics in fp32):
# one full seq2seq step (forward, cross-entropy over labels != -100, backward, AdamW, zero_grad),
# fp32, dropout at the config's rate, the same threads, config, batch and lengths on both sides
# (source 256, target 64: the seed's max_input / max_target). Tokens counted: B * (S + T)
# positions per step. Alternates ROUNDS rounds of each per config (each the median of its steps)
# and compares the medians over rounds, so a burst of other work on the machine hits both.
#   bench/t5_train.sh [ROUNDS] [CONFIG[:B]...]   (default: 1 round; t5-tiny:16 mt5-base:4)
#   THREADS=N (default 2), STEPS=N (default: 20 small, 3 mt5-base), S=256, T=64
#   AERO_WAIT_POLICY=ACTIVE|PASSIVE   overrides aero's own choice (a short spin, as the CLI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
rounds=${1:-1}
shift || true
configs=(${@:-t5-tiny:16 mt5-base:4})
threads=${THREADS:-2}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
field() { awk -v k="$1" '/^RESULT/ {for (i = 2; i < NF; i++) if ($i == k) print $(i + 1)}'; }
# The peer is checked first against the float64 reference the parity tests use.
/usr/bin/python3 bench/t5_train_torch.py --check
summary=()
for cb in "${configs[@]}"; do
  name=${cb%%:*}
  B=${cb#*:}
  [[ $B == "$cb" ]] && B=0
  cfg=configs/$name.json
  at=() ar=() tt=() tr=()
  for ((r = 0; r < rounds; r++)); do
    aero_env=(AERO_THREADS="$threads")
    [[ -n ${AERO_WAIT_POLICY:-} ]] && aero_env+=(OMP_WAIT_POLICY="$AERO_WAIT_POLICY")
    out=$(env "${aero_env[@]}" "$BUILD/bench/t5_train_bench" "$cfg" "$B" "${STEPS:-0}" "" 0 \
      "${S:-256}" "${T:-64}")
    [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
    at+=("$(echo "$out" | field aero_tok_s)") ar+=("$(echo "$out" | field rss_mb)")
    # PyTorch at its best: a kernel OpenBLAS knows, and OpenMP threads that do not spin.
    out=$(OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 \
      bench/t5_train_torch.py "$cfg" "$B" "${STEPS:-0}" "" "${S:-256}" "${T:-64}" "$threads")
    [[ $r -eq 0 ]] && echo "$out" | grep -v '^RESULT'
    tt+=("$(echo "$out" | field torch_tok_s)") tr+=("$(echo "$out" | field rss_mb)")
  done
  echo "$name rounds: aero ${at[*]} tok/s; torch ${tt[*]} tok/s"
  summary+=("$(awk -v p="$name" -v a="$(printf '%s\n' "${at[@]}" | median)" \
    -v t="$(printf '%s\n' "${tt[@]}" | median)" \
    -v ra="$(printf '%s\n' "${ar[@]}" | median)" -v rt="$(printf '%s\n' "${tr[@]}" | median)" \
    'BEGIN { printf "%-10s %10.0f %11.0f %6.2fx %8.0f %8.0f", p, a, t, a / t, ra, rt }')")
done
echo "config     aero tok/s torch tok/s  ratio  aero MB torch MB   (S+T tokens, $threads threads)"
printf '%s\n' "${summary[@]}"
