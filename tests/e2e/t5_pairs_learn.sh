#!/usr/bin/env bash
# A small T5 trained from scratch with `aero train` on pairs the test writes from Debian text
# (a phrase -> its characters reversed), through data.mode = pairs and the seq2seq objective:
# validation loss must fall well below where it starts. Rows with an empty target are dropped
# and counted; a run resumed from a checkpoint ends bit-identical. Usage: t5_pairs_learn.sh AERO OUT_DIR PYTHON
set -euo pipefail
AERO=$1 OUT=$2 PY=$3
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import csv, random, re, sys, glob
out = sys.argv[1]
text = ""
for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:6]:
    text += open(p, errors="ignore").read()
words = [w for w in re.findall(r"[a-z]+", text.lower()) if 2 <= len(w) <= 8]
rng = random.Random(7)
def rows(n):
    r = []
    for _ in range(n):
        s = " ".join(rng.choice(words) for _ in range(rng.randint(1, 2)))
        r.append((s, s[::-1]))
    return r
for name, n in (("train", 1500), ("val", 120)):
    with open(f"{out}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["src", "tgt"])
        w.writerows(rows(n))
        if name == "train":
            w.writerows([("no target here", ""), ("", "no input")])
PYEOF
"$AERO" tokenizer train --type char -i "$OUT/train.csv" --columns src tgt -o "$OUT/chars.json" >/dev/null
train() {
"$AERO" train --config "$(dirname "$0")/../../configs/t5-tiny.json" \
  --set model.vocab_size=64 --set model.d_model=64 --set model.d_kv=16 --set model.d_ff=128 \
  --set model.dropout_rate=0 --set model.eos_token_id=3 \
  --set train.max_steps=300 --set train.eval_every=100 --set train.eval_batches=8 \
  --set train.warmup_steps=20 --set train.lr=3e-3 --set train.log_every=20 \
  --set train.batch_size=16 --set train.out_dir="$OUT/run" \
  --set data.train="$OUT/train.csv" --set data.val="$OUT/val.csv" --set data.test= \
  --set data.tokenizer="$OUT/chars.json" --set data.input_column=src \
  --set data.target_column=tgt "$@"
}
train 2>&1 | tee "$OUT/train.log" | grep -v "^step" || true
grep -q "2 rows dropped" "$OUT/train.log" || { echo "expected 2 dropped rows"; exit 1; }
"$PY" - "$OUT/run/metrics.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first_loss = next(r["loss"] for r in rows if "loss" in r)
vals = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
print("first train loss %.3f, val loss by step: %s" % (first_loss, vals))
assert len(vals) >= 2, vals
assert vals[-1][1] < vals[0][1] and vals[-1][1] < 0.5 * first_loss, "val loss did not fall"
PYEOF
# Exact resume: a run continued from the step-200 checkpoint ends with the same weights.
mkdir -p "$OUT/runB" && cp -r "$OUT/run/ckpt-200" "$OUT/runB/" && echo ckpt-200 > "$OUT/runB/latest"
train --set train.out_dir="$OUT/runB" --resume > "$OUT/resume.log" 2>&1
grep -q "resumed from" "$OUT/resume.log" || { echo "no resume"; cat "$OUT/resume.log"; exit 1; }
a=$(sha256sum < "$OUT/run/ckpt-300/model.safetensors") b=$(sha256sum < "$OUT/runB/ckpt-300/model.safetensors")
[[ "$a" == "$b" ]] || { echo "resumed weights differ"; exit 1; }
echo "resumed from step 200: same weights at step 300"
# Bad input: one clear error each, non-zero exit.
printf 'src,tgt\nabc,\ndef,\n' > "$OUT/empty.csv"
bad() {  # expected message part, then overrides
  local want=$1
  shift
  if train --set train.out_dir="$OUT/bad" --set train.max_steps=1 "$@" > "$OUT/bad.log" 2>&1; then
    echo "expected an error for $*"
    exit 1
  fi
  grep -q -- "$want" "$OUT/bad.log" || { echo "no '$want' in:"; cat "$OUT/bad.log"; exit 1; }
  grep "error" "$OUT/bad.log"
}
bad "feed_forward_proj: 'swish' is not one of: relu, gated-gelu" --set model.feed_forward_proj=swish
bad "no column 'reply'" --set data.target_column=reply
bad "no row has both 'src' and 'tgt'" --set data.train="$OUT/empty.csv"
bad "train.objective seq2seq needs an encoder-decoder" --set model.arch=gpt
echo "t5-pairs-learn-ok"
