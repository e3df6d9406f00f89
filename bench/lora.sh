#!/usr/bin/env bash
# LoRA fine-tuning at the mt5-base shape (issue #14, seed 000's recipe), side by side in one run:
# aero with the frozen base in bf16 (train.precision = bf16) and activation checkpointing
# (train.checkpoint_activations = blocks), PyTorch with bf16 autocast (Trainer(bf16=True) on a
# CPU) and PyTorch fp32; aero-bf16 (no checkpointing) and aero-f32 (the base in f32) on request:
# without checkpointing aero keeps about 1.2 GB of activations per row of the batch. All on
# random weights of
# configs/mt5-base.json: LoRA r 16 / alpha 32 / dropout 0.1 on q k v o wi_0 wi_1 wo, batch 16,
# sources of 256 and targets of 64 tokens (random ids, no padding), seconds per micro-batch
# (forward + backward) and per optimizer step (8 micro-batches: MICRO are timed and multiplied,
# plus the clip + AdamW + zero_grad part), and each process's peak RSS. Every side runs in its own
# process; a crash (Debian's PyTorch 1.13 can die with SIGILL in oneDNN's bf16 code on AMX CPUs)
# is reported as such. Same threads both sides.
#   bench/lora.sh [THREADS (default 2)] [MICRO (default 2)]
#   SIDES="aero-bf16-ckpt torch-bf16 torch-fp32" (also aero-bf16, aero-f32)
#   CONFIG=configs/mt5-base.json
#   ARGS="--batch 16 --src 256 --tgt 64" (both sides)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${AERO_BUILD_DIR:-build}
threads=${1:-2}
micro=${2:-2}
config=${CONFIG:-configs/mt5-base.json}
sides=(${SIDES:-aero-bf16-ckpt torch-bf16 torch-fp32})
args=(${ARGS:-} --micro "$micro")
export OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE
"$BUILD/aero" doctor --no-measure | grep -E '^(cpu|bf16):'
results=""
for side in "${sides[@]}"; do
  case $side in
    aero-bf16) cmd=(env AERO_THREADS="$threads" "$BUILD/bench/lora_bench" "$config" "${args[@]}" --base bf16) ;;
    aero-f32) cmd=(env AERO_THREADS="$threads" "$BUILD/bench/lora_bench" "$config" "${args[@]}" --base f32) ;;
    aero-bf16-ckpt) cmd=(env AERO_THREADS="$threads" "$BUILD/bench/lora_bench" "$config" "${args[@]}" --base bf16 --checkpoint blocks) ;;
    torch-bf16) cmd=(/usr/bin/python3 bench/lora_torch.py "$config" "${args[@]}" --threads "$threads" --autocast bf16) ;;
    torch-fp32) cmd=(/usr/bin/python3 bench/lora_torch.py "$config" "${args[@]}" --threads "$threads" --autocast none) ;;
    *) echo "lora.sh: unknown side $side" >&2; exit 2 ;;
  esac
  out=$("${cmd[@]}" 2>/tmp/lora_bench.$$.err); rc=$?
  if ((rc > 128)); then
    out="{\"side\": \"$side\", \"crash\": \"$(kill -l $((rc - 128)))\"}"
  elif ((rc != 0)); then
    out="{\"side\": \"$side\", \"crash\": \"exit $rc\"}"
    tail -3 /tmp/lora_bench.$$.err >&2
  fi
  echo "$side: $out"
  results+="$side $out"$'\n'
done
rm -f /tmp/lora_bench.$$.err
R="$results" /usr/bin/python3 - <<'PY'
import json, os
rows = {}
for line in os.environ["R"].splitlines():
    name, _, js = line.partition(" ")
    rows[name] = json.loads(js)
ref = [n for n in ("torch-bf16", "torch-fp32") if n in rows and "crash" not in rows[n]]
print(f"{'side':16} {'s/micro':>8} {'s/step':>8} {'peak MB':>8}" +
      "".join(f" {'speed vs ' + r:>20} {'mem vs ' + r:>18}" for r in ref))
for n, r in rows.items():
    if "crash" in r:
        print(f"{n:16} crashed ({r['crash']})")
        continue
    cells = "".join(f" {rows[x]['step_s'] / r['step_s']:19.2f}x {r['peak_rss_mb'] / rows[x]['peak_rss_mb'] * 100:17.0f}%"
                    for x in ref)
    print(f"{n:16} {r['micro_s']:8.2f} {r['step_s']:8.1f} {r['peak_rss_mb']:8.0f}{cells}")
PY
