#!/usr/bin/env bash
# `aero eval` on a seq2seq model: a small T5 trained from scratch on pairs the test writes from
# Debian text (4-8 common words -> each word spelled backwards, order kept; a word-level BPE
# tokenizer), evaluated on held-out rows at an early and a later checkpoint: the loss falls and
# BLEU and ROUGE rise. The predictions file, the JSON scores, `--metrics-only` on the same
# texts, and one clear error per bad input are checked too.
# Usage: t5_eval_bleu.sh AERO OUT_DIR PYTHON
set -euo pipefail
AERO=$1 OUT=$2 PY=$3
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT"
"$PY" - <<'PYEOF'
import collections, csv, glob, random, re
text = ""
for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:6]:
    text += open(p, errors="ignore").read()
cnt = collections.Counter(w for w in re.findall(r"[a-z]+", text.lower()) if 2 <= len(w) <= 8)
words = [w for w, _ in cnt.most_common(40)]
rng = random.Random(11)
def rows(n):
    out = []
    for _ in range(n):
        ws = [rng.choice(words) for _ in range(rng.randint(4, 8))]
        out.append((" ".join(ws), " ".join(w[::-1] for w in ws)))
    return out
for name, n in (("train", 4000), ("val", 100)):
    with open(f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["src", "tgt"])
        w.writerows(rows(n))
PYEOF
"$AERO" tokenizer train --type bpe --vocab-size 300 --no-byte-fallback -i train.csv \
  --columns src tgt -o sp.model >/dev/null
"$AERO" train --config "$(dirname "$0")/../../configs/t5-tiny.json" \
  --set model.vocab_size=300 --set model.d_model=64 --set model.d_kv=16 --set model.d_ff=128 \
  --set model.dropout_rate=0 --set model.eos_token_id=3 \
  --set train.max_steps=800 --set train.eval_every=100 --set train.eval_batches=4 \
  --set train.keep_last=10 --set train.warmup_steps=30 --set train.lr=3e-3 \
  --set train.log_every=100 --set train.batch_size=32 --set train.out_dir=run \
  --set data.train=train.csv --set data.val=val.csv --set data.test= \
  --set data.tokenizer=sp.model --set data.input_column=src --set data.target_column=tgt \
  > train.log 2>&1 || { cat train.log; exit 1; }
"$AERO" eval --model run/ckpt-100 --data val.csv --batch-size 32 --json \
  --predictions early.jsonl > early.json
"$AERO" eval --model run/ckpt-800 --data val.csv --batch-size 32 --predictions late.tsv \
  --scores late.json | tee late.txt
"$PY" - <<'PYEOF'
import json
early, late = json.load(open("early.json")), json.load(open("late.json"))
for name, j in (("step 100", early), ("step 800", late)):
    print("%s: loss %.3f  BLEU %.2f  ROUGE-1 %.3f  ROUGE-L %.3f" % (
        name, j["loss"], j["bleu"]["score"], j["rouge"]["rouge1"]["f"], j["rouge"]["rougeL"]["f"]))
assert late["loss"] < early["loss"], "held-out loss did not fall"
assert late["bleu"]["score"] > 2 * early["bleu"]["score"] + 2, "held-out BLEU did not rise"
assert late["rouge"]["rouge1"]["f"] > early["rouge"]["rouge1"]["f"] + 0.1, "ROUGE-1 did not rise"
assert late["rows"] == early["rows"] == 100 and late["rouge"]["lines"] == 100
assert late["bleu"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
# The predictions files hold every held-out row, in file order, with its input and target.
import csv
val = list(csv.reader(open("val.csv")))[1:]
jl = [json.loads(l) for l in open("early.jsonl")]
tsv = [l.rstrip("\n").split("\t") for l in open("late.tsv")]
assert tsv[0] == ["input", "target", "prediction"], tsv[0]
assert [(r["input"], r["target"]) for r in jl] == [tuple(v) for v in val]
assert [tuple(r[:2]) for r in tsv[1:]] == [tuple(v) for v in val]
with open("hyp.txt", "w") as f:
    f.write("".join(r[2] + "\n" for r in tsv[1:]))
with open("ref.txt", "w") as f:
    f.write("".join(r[1] + "\n" for r in tsv[1:]))
PYEOF
grep -q "^BLEU = " late.txt && grep -q "predictions: late.tsv (100 rows)" late.txt
# Scoring the written predictions as text files gives the same numbers.
"$AERO" eval --metrics-only --hyp hyp.txt --ref ref.txt --json > text.json
"$PY" - <<'PYEOF'
import json
a, b = json.load(open("late.json")), json.load(open("text.json"))
assert abs(a["bleu"]["score"] - b["bleu"]["score"]) < 1e-9, (a["bleu"], b["bleu"])
assert abs(a["rouge"]["rougeL"]["f"] - b["rouge"]["rougeL"]["f"]) < 1e-12
print("metrics-only on the predictions: BLEU %.4f (same)" % b["bleu"]["score"])
PYEOF
# The two ROUGE tokenizers on Vietnamese: "cám ơn" and "cảm ơn" differ only to the Unicode one.
printf 'cảm ơn bạn\n' > vi_hyp.txt
printf 'cám ơn bạn\n' > vi_ref.txt
"$AERO" eval --metrics-only --hyp vi_hyp.txt --ref vi_ref.txt | grep -q "ROUGE-1 0.6667"
"$AERO" eval --metrics-only --hyp vi_hyp.txt --ref vi_ref.txt --rouge-tokenize ascii |
  grep -q "ROUGE-1 1.0000"
# Bad input: one clear error each, non-zero exit.
printf 'src,tgt\nabc,\ndef,\n' > empty_target.csv
printf 'a\nb\n' > two.txt
bad() {  # expected message part, then the eval arguments
  local want=$1
  shift
  if "$AERO" eval "$@" > bad.log 2>&1; then
    echo "expected an error for $*"
    exit 1
  fi
  grep -q -- "$want" bad.log || { echo "no '$want' in:"; cat bad.log; exit 1; }
  grep "error" bad.log
}
bad "no column 'reply'" --model run --data val.csv --target-column reply
bad "no row has both 'src' and 'tgt'" --model run --data empty_target.csv
bad "'words' is not one of: ascii, unicode" --model run --data val.csv --rouge-tokenize words
bad "two.txt has 2 lines but hyp.txt has 100" --metrics-only --hyp hyp.txt --ref two.txt
bad "needs --hyp FILE and --ref FILE" --metrics-only --hyp hyp.txt
echo "t5-eval-bleu-ok"
