#!/usr/bin/env bash
# Masked-diffusion SFT (LLaDA's supervised fine-tuning) from the command line: a llada model
# trained with data.mode = pairs on prompt -> answer rows the test writes (a phrase -> its
# characters reversed). Prompts are never masked, answers are padded with EOS; the validation
# bound must fall well below where it starts, a run resumed from a checkpoint must end with the
# same weights, and the sampler must answer a prompt.
# Usage: diffusion_sft.sh AERO OUT_DIR PYTHON
set -euo pipefail
AERO=$1 OUT=$2 PY=$3
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import csv, random, re, sys, glob
out = sys.argv[1]
text = ""
for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:6]:
    text += open(p, errors="ignore").read()
words = [w for w in re.findall(r"[a-z]+", text.lower()) if 2 <= len(w) <= 7]
rng = random.Random(11)
def rows(n):
    return [(w, w[::-1]) for w in (rng.choice(words) for _ in range(n))]
for name, n in (("train", 1500), ("val", 120)):
    with open(f"{out}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "answer"])
        w.writerows(rows(n))
PYEOF
"$AERO" tokenizer train --type char -i "$OUT/train.csv" --columns prompt answer -o "$OUT/chars.json" >/dev/null
M=$("$AERO" tokenizer add-tokens -m "$OUT/chars.json" '<|mask|>' | sed -n 's/^<|mask|>\t//p')
V=$((M + 1))
train() {
"$AERO" train --config "$(dirname "$0")/../../configs/diffusion-tiny.json" --set model.vocab_size=$V --set model.mask_id=$M \
  --set model.block_size=24 --set model.n_layer=2 --set model.n_head=2 --set model.n_embd=64 \
  --set model.ffn_hidden=128 --set model.pos=rope \
  --set train.objective=diffusion --set train.max_steps=900 --set train.eval_every=300 \
  --set train.eval_batches=8 --set train.warmup_steps=20 --set train.lr=3e-3 \
  --set train.log_every=20 --set train.batch_size=16 --set train.threads=2 \
  --set train.out_dir="$OUT/run" --set data.mode=pairs --set data.max_input=12 \
  --set data.max_target=12 --set data.train="$OUT/train.csv" --set data.val="$OUT/val.csv" \
  --set data.test= --set data.tokenizer="$OUT/chars.json" --set data.input_column=prompt \
  --set data.target_column=answer "$@"
}
train 2>&1 | tee "$OUT/train.log" | grep -v "^step" || true
"$PY" - "$OUT/run/metrics.jsonl" $V <<'PYEOF'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
vals = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
print("val bound by step: %s (a uniform guess: %.3f)" % (vals, math.log(int(sys.argv[2]))))
assert len(vals) == 3 and vals[2][1] < vals[1][1] < vals[0][1], "the validation bound did not fall"
assert vals[-1][1] < 0.4 * math.log(int(sys.argv[2])), "the answers were not learned"
PYEOF
# Exact resume: a run continued from the step-600 checkpoint ends with the same weights.
mkdir -p "$OUT/runB" && cp -r "$OUT/run/ckpt-600" "$OUT/runB/" && echo ckpt-600 > "$OUT/runB/latest"
train --set train.out_dir="$OUT/runB" --resume > "$OUT/resume.log" 2>&1
grep -q "resumed from" "$OUT/resume.log" || { echo "no resume"; cat "$OUT/resume.log"; exit 1; }
a=$(sha256sum < "$OUT/run/ckpt-900/model.safetensors") b=$(sha256sum < "$OUT/runB/ckpt-900/model.safetensors")
[[ "$a" == "$b" ]] || { echo "resumed weights differ"; exit 1; }
echo "resumed from step 600: same weights at step 900"
# An SFT model answers after its prompt (no EOS between them, as it was trained).
"$AERO" generate -m "$OUT/run" -p "license" --sampler diffusion --gen-length 12 \
  --block-length 12 --steps 12 --temperature 0 > "$OUT/answer.txt"
echo "license -> $(cat "$OUT/answer.txt")"
[[ -s "$OUT/answer.txt" ]] || { echo "empty answer"; exit 1; }
# Prompt and answer must fit the context: a clear error naming both fields.
if train --set train.out_dir="$OUT/runC" --set data.max_input=20 > "$OUT/err.log" 2>&1; then
  echo "a prompt + answer longer than the context was accepted"; exit 1
fi
grep -q "data.max_input (20) + data.max_target (12) must fit model.block_size (24)" "$OUT/err.log" \
  || { cat "$OUT/err.log"; exit 1; }
