#!/usr/bin/env bash
# `aero generate` and `aero chat` on a T5: a small T5 trained from scratch to reverse random strings of
# the letters of Debian text, then some greedy answers to held-out strings must be their
# reversals (a short run: chance gives none); --batch-file (continuous batching of decoder steps) must give each line what
# --prompt gives it alone; --stream prints what the whole answer is; `aero chat` answers the
# newest message alone (the encoder input, infer/chat.h) with what `aero generate` gives it.
#   t5_generate.sh AERO OUT_DIR PYTHON
set -euo pipefail
AERO=$1 OUT=$2 PY=$3
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import csv, random, re, sys, glob
out = sys.argv[1]
text = ""
for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:6]:
    text += open(p, errors="ignore").read()
letters = "".join(sorted(set(re.findall(r"[a-z]", text.lower()))))
rng = random.Random(11)
def word():
    return "".join(rng.choice(letters) for _ in range(rng.randint(3, 6)))
held = sorted({word() for _ in range(40)})
seen = set(held)
with open(f"{out}/train.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["src", "tgt"])
    for _ in range(20000):
        s = word()
        if s not in seen:
            w.writerow((s, s[::-1]))
with open(f"{out}/val.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["src", "tgt"])
    w.writerows((s, s[::-1]) for s in held)
open(f"{out}/held.txt", "w").write("\n".join(held) + "\n")
PYEOF
"$AERO" tokenizer train --type char -i "$OUT/train.csv" --columns src tgt -o "$OUT/chars.json" >/dev/null
"$AERO" train --config "$(dirname "$0")/../../configs/t5-tiny.json" \
  --set model.vocab_size=40 --set model.d_model=64 --set model.d_kv=16 --set model.d_ff=128 \
  --set model.dropout_rate=0 --set model.eos_token_id=3 \
  --set train.max_steps=1200 --set train.eval_every=1200 --set train.eval_batches=4 \
  --set train.warmup_steps=20 --set train.lr=3e-3 --set train.log_every=100 \
  --set train.batch_size=32 --set train.out_dir="$OUT/run" \
  --set data.train="$OUT/train.csv" --set data.val="$OUT/val.csv" --set data.test= \
  --set data.tokenizer="$OUT/chars.json" --set data.input_column=src \
  --set data.target_column=tgt > "$OUT/train.log" 2>&1 || { cat "$OUT/train.log"; exit 1; }
M="$OUT/run"
"$AERO" generate -m "$M" --batch-file "$OUT/held.txt" --temperature 0 --max-new 16 --max-batch 7 \
  > "$OUT/batch.jsonl"
i=0
while read -r w; do
  "$AERO" generate -m "$M" -p "$w" --temperature 0 --max-new 16 > "$OUT/one.$i.txt" 2>/dev/null
  i=$((i + 1))
done < "$OUT/held.txt"
"$AERO" generate -m "$M" -p "$(head -1 "$OUT/held.txt")" --temperature 0 --max-new 16 --stream \
  > "$OUT/stream.txt" 2>/dev/null
printf '%s\n%s\n/quit\n' "$(sed -n 2p "$OUT/held.txt")" "$(sed -n 3p "$OUT/held.txt")" |
  "$AERO" chat -m "$M" --temperature 0 --max-new 16 --prompt-log "$OUT/chat.jsonl" > "$OUT/chat.txt"
# Beam search: each line of a batch (its beams batched with the others) = that line alone.
"$AERO" generate -m "$M" --batch-file "$OUT/held.txt" --beams 4 --no-repeat-ngram 3 --max-new 16 \
  --max-batch 5 > "$OUT/beam.jsonl"
for i in 0 5; do
  "$AERO" generate -m "$M" -p "$(sed -n "$((i + 1))p" "$OUT/held.txt")" --beams 4 \
    --no-repeat-ngram 3 --max-new 16 > "$OUT/beam1.$i.txt" 2>/dev/null
done
# aero quantize does not write a T5 (one clear error naming what works instead).
if "$AERO" quantize -m "$M" --format q8 -o "$OUT/q8.st" > "$OUT/quantize.log" 2>&1; then
  echo "expected an error from aero quantize"; exit 1
fi
grep -q "encoder-decoder: a quantized file does not hold one yet" "$OUT/quantize.log" ||
  { cat "$OUT/quantize.log"; exit 1; }
# Sampling with a seed repeats.
s1=$("$AERO" generate -m "$M" -p "window" --temperature 1 --seed 5 --max-new 16 2>/dev/null)
s2=$("$AERO" generate -m "$M" -p "window" --temperature 1 --seed 5 --max-new 16 2>/dev/null)
[[ "$s1" == "$s2" ]] || { echo "same seed, different samples: '$s1' '$s2'"; exit 1; }
for f in bf16 q8; do  # the decoder's matrices in bf16 / q8
  "$AERO" generate -m "$M" --batch-file "$OUT/held.txt" --temperature 0 --max-new 16 \
    --format $f > "$OUT/$f.jsonl"
done
cd "$OUT"
"$PY" - <<'PYEOF'
import json
held = open("held.txt").read().split()
batch = [json.loads(l) for l in open("batch.jsonl")]
assert [b["prompt"] for b in batch] == held, batch
for i, b in enumerate(batch):
    one = open(f"one.{i}.txt").read()
    assert one == b["text"] + "\n", (i, one, b)  # the answer alone, not prompt + answer
right = sum(b["text"] == w[::-1] for b, w in zip(batch, held))
print(f"held-out words reversed exactly: {right} of {len(held)}; e.g.",
      [(b["prompt"], b["text"]) for b in batch[:4]])
assert right >= 4, "the trained T5 reverses almost no held-out strings"  # chance: none
assert all(b["finish"] == "eos" for b in batch if b["text"] == b["prompt"][::-1])
assert open("stream.txt").read() == batch[0]["text"] + "\n"
chat = open("chat.txt").read().split("\n")
assert chat[:2] == [batch[1]["text"], batch[2]["text"]], (chat, batch[1:3])
beam = [json.loads(l) for l in open("beam.jsonl")]
for i in (0, 5):
    assert open(f"beam1.{i}.txt").read() == beam[i]["text"] + "\n", (i, beam[i])
right_beam = sum(b["text"] == w[::-1] for b, w in zip(beam, held))
print(f"with 4 beams: {right_beam} of {len(held)}")
for f in ("bf16", "q8"):  # rounding may change a few greedy answers, not most
    q = [json.loads(l) for l in open(f"{f}.jsonl")]
    same = sum(a["text"] == b["text"] for a, b in zip(q, batch))
    print(f"{f}: {same} of {len(held)} answers as f32's")
    assert same >= len(held) * 3 // 4, f
log = [json.loads(l) for l in open("chat.jsonl")]
assert [e["prompt"] for e in log] == held[1:3], log  # the newest message alone
PYEOF
echo "t5-generate-ok"
