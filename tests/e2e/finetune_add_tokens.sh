#!/usr/bin/env bash
# Seed 000's added tokens on a small T5: a base trained from scratch on pairs (its tokenizer has
# N tokens, the model N + 12 rows, as mT5's 250,100 / 250,112), then `aero finetune --lora ...
# --add-tokens "<TIKTOK>,<FACEBOOK>,<YOUTUBE>,<COMMENT>"` on comments tagged with them:
# the tokens get ids N..N+3 in the spare rows and are never split; the loss falls; the adapter
# checkpoint holds A, B and the 4 token rows only and names the base, which stays untouched;
# `aero eval` loads it over the base; `aero export peft` writes the rows as PEFT's
# trainable_tokens_delta and `aero import peft` reads them back to the same loss. A base without
# spare rows grows its tables instead.
#   finetune_add_tokens.sh AERO PYTHON
set -euo pipefail
A=$(realpath "$1"); PY=$2; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cd "$d"
"$PY" - <<'PYEOF'
import collections, csv, glob, random, re
text = ""
for p in sorted(glob.glob("/usr/share/common-licenses/*"))[:6]:
    text += open(p, errors="ignore").read()
cnt = collections.Counter(w for w in re.findall(r"[a-z]+", text.lower()) if 2 <= len(w) <= 8)
words = [w for w, _ in cnt.most_common(40)]
rng = random.Random(5)
def phrase():
    return " ".join(rng.choice(words) for _ in range(rng.randint(2, 5)))
# Base task: a phrase -> its words reversed. Fine-tune task: a tagged comment -> a reply that
# depends on the platform tag.
with open("base.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["input_text", "target_text"])
    for _ in range(1500):
        p = phrase(); w.writerow([p, " ".join(p.split()[::-1])])
reply = {"<TIKTOK>": "thanks for the video", "<FACEBOOK>": "thanks for the post",
         "<YOUTUBE>": "thanks for watching"}
for name, n in (("ft", 800), ("ft_val", 60)):
    with open(f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["input_text", "target_text"])
        for _ in range(n):
            tag = rng.choice(sorted(reply))
            w.writerow([f"{tag} <COMMENT> {phrase()}", reply[tag]])
PYEOF
"$A" tokenizer train --type bpe --vocab-size 120 --no-byte-fallback -i base.csv ft.csv \
  --columns input_text target_text -o base.model > tok.log
N=$(sed -n 's/.*: \([0-9]*\) ids.*/\1/p' tok.log)
[[ -n "$N" ]] || fail "tokenizer size not found in $(cat tok.log)"
base() {  # OUT ROWS
  "$A" train --config "$here/../../configs/t5-tiny.json" --set model.vocab_size="$2" \
    --set model.d_model=32 --set model.d_kv=8 --set model.d_ff=64 --set model.dropout_rate=0 \
    --set model.eos_token_id=3 --set train.max_steps=60 --set train.eval_every=0 \
    --set train.batch_size=16 --set train.lr=3e-3 --set train.keep_last=1 --set train.out_dir="$1" \
    --set data.train=base.csv --set data.val=base.csv --set data.test= \
    --set data.tokenizer=base.model > "$1.log" 2>&1 || { cat "$1.log"; exit 1; }
}
base base $((N + 12))
base_sha=$(sha256sum < base/ckpt-60/model.safetensors)
ft() {  # BASE OUT STEPS [extra args]
  local b=$1 o=$2 n=$3; shift 3
  "$A" finetune --base "$b" --out "$o" \
    --lora r=4,alpha=8,dropout=0.1,targets=q,k,v,o,wi_0,wi_1,wo \
    --add-tokens "<TIKTOK>,<FACEBOOK>,<YOUTUBE>,<COMMENT>" \
    --set train.max_steps="$n" --set train.lr=1e-2 --set train.warmup_steps=5 \
    --set train.checkpoint_every=60 \
    --set train.eval_every=0 --set train.batch_size=16 --set train.log_every=10 \
    --set data.train=ft.csv --set data.val=ft_val.csv --set data.test= "$@" \
    > "$o.log" 2>&1 || { cat "$o.log"; exit 1; }
}
ft base ft 120
has "ids in the spare rows" \
  "tokens <TIKTOK> = $N, <FACEBOOK> = $((N + 1)), <YOUTUBE> = $((N + 2)), <COMMENT> = $((N + 3)) \(4 new; spare rows of $((N + 12))\)" \
  < ft.log
has "mean init" "4 token rows start at the mean of rows \[0, $N\)" < ft.log
has "trainable rows" "trainable token rows: 4 tokens, 256 parameters" < ft.log
# Never split: each tag is one id in the run's tokenizer.
ids=$(printf '<YOUTUBE><COMMENT> hi\n' | "$A" tokenizer encode --model ft/tokenizer.model)
[[ "$ids" == "$((N + 2)) $((N + 3)) "* ]] || fail "tags split: '$ids'"
echo "ok never split: $ids"
"$PY" - ft/metrics.jsonl <<'PYEOF'
import json, sys
l = [json.loads(x)["loss"] for x in open(sys.argv[1]) if '"loss"' in x]
print("ok fine-tune loss %.3f -> %.3f" % (l[0], l[-1]))
assert l[-1] < 0.5 * l[0], l
PYEOF
# The adapter checkpoint: A and B of 7 x 2 layers x ... modules plus the two token-row tables,
# naming the base; a small fraction of the base's size.
"$PY" - ft/ckpt-120/model.safetensors base/ckpt-60/model.safetensors "$d/base/ckpt-60" <<'PYEOF'
import json, os, struct, sys
def header(p):
    f = open(p, "rb"); return json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
h = header(sys.argv[1])
names = [k for k in h if k != "__metadata__"]
assert all(".lora_" in k or ".token_rows." in k for k in names), names
assert h["shared.token_rows.weight"]["shape"] == [4, 32], h["shared.token_rows.weight"]
assert h["lm_head.token_rows.weight"]["shape"] == [4, 32]
assert h["__metadata__"]["base"] == sys.argv[3], h["__metadata__"]
a, b = os.path.getsize(sys.argv[1]), os.path.getsize(sys.argv[2])
print("ok adapter: %d tensors, %d bytes (base %d bytes)" % (len(names), a, b))
assert a < b / 3, (a, b)
PYEOF
expect "base untouched" "$(sha256sum < base/ckpt-60/model.safetensors)" "$base_sha"
# Evaluated over the base: the replies are learned (they depend on the tag alone).
"$A" eval -m ft -d ft_val.csv --json --max-new 16 > ft_eval.json
"$PY" -c "import json; j=json.load(open('ft_eval.json')); print('ok eval: loss %.3f BLEU %.1f' % (j['loss'], j['bleu']['score'])); assert j['loss'] < 1.0 and j['bleu']['score'] > 50, j"
# The same answers with the decoder in q8 and bf16 (as generate / serve run it), each beside f32's
# through the same rows: f32's scores equal the tape's above, and the change is reported.
for f in q8 bf16; do
  "$A" eval -m ft -d ft_val.csv --json --max-new 16 --format $f > ft_$f.json
  "$PY" - ft_eval.json ft_$f.json <<'PYEOF'
import json, sys
ref, j = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
f32 = j["f32"]
print("ok eval --format %s: BLEU %.2f vs f32 %.2f, %d of %d answers as f32's"
      % (j["weights"], j["bleu"]["score"], f32["bleu"], f32["same_predictions"], j["rows"]))
assert abs(f32["bleu"] - ref["bleu"]["score"]) < 1e-9, (f32, ref["bleu"])
assert j["bleu"]["score"] > 50 and f32["same_predictions"] >= j["rows"] - 3, j
PYEOF
done
# PEFT's format: the rows as trainable_tokens_delta, the ids in trainable_token_indices; read
# back over the base, the same loss.
"$A" export peft -m ft -o peft > export.log
has "export" "\+ 4 token rows \(256 parameters\)" < export.log
"$PY" - peft <<'PYEOF'
import json, struct, sys
c = json.load(open(sys.argv[1] + "/adapter_config.json"))
f = open(sys.argv[1] + "/adapter_model.safetensors", "rb")
h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
assert set(c["trainable_token_indices"]) == {"shared", "lm_head"}, c
assert c["modules_to_save"] is None
k = "base_model.model.shared.token_adapter.trainable_tokens_delta"
assert h[k]["shape"] == [4, 32], h.get(k)
assert "base_model.model.lm_head.token_adapter.trainable_tokens_delta" in h
print("ok peft: trainable_token_indices", c["trainable_token_indices"]["shared"])
PYEOF
# --adapter: the fine-tune over a base named on the command line, from its aero run and from the
# PEFT directory, generates what the run itself generates (the reply its tag asks for), and
# `aero serve --adapter` answers with it.
gen() { "$A" generate -m "$@" -p "<FACEBOOK> <COMMENT> the license" --temperature 0 \
  --max-new 12 2> gen.err || { cat gen.err; exit 1; }; }
want=$(gen ft)
expect "learned reply" "$want" "thanks for the post"
expect "generate --adapter RUN" "$(gen base --adapter ft)" "$want"
expect "generate --adapter PEFT" "$(gen base --adapter peft --tokenizer ft/tokenizer.model)" "$want"
# serve_up ARGS...: `aero serve ARGS` on a free port, ready; sets srv and url.
serve_up() {
  "$A" serve "$@" --port 0 --threads 1 --sessions "$d/s.db" > serve.log 2>&1 &
  srv=$!
  trap 'kill -9 $srv 2> /dev/null; rm -rf "$d"' EXIT
  url=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' serve.log)
    [[ -n $port ]] && [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health") == 200 ]] &&
      { url=http://127.0.0.1:$port; return; }
    kill -0 $srv 2> /dev/null || fail "aero serve $* exited: $(cat serve.log)"
    sleep 0.1
  done
  fail "aero serve $* did not come up: $(cat serve.log)"
}
# served MODEL: the greedy reply of the served MODEL ("" for none) to the tagged prompt.
served() {
  curl -s "$url/v1/completions" -H 'Content-Type: application/json' -d "{\"model\":\"$1\",
    \"prompt\":\"<FACEBOOK> <COMMENT> the license\",\"max_tokens\":12,\"temperature\":0}" > served.json
  "$PY" -c "import json; print(json.load(open('served.json'))['choices'][0]['text'])" ||
    fail "no reply from model '$1': $(cat served.json)"
}
serve_up -m base --adapter peft --tokenizer ft/tokenizer.model
has "served model id" '"id":"peft"' < <(curl -s "$url/v1/models")
expect "served reply" "$(served "")" "$want"
kill -TERM $srv && wait $srv
"$A" import peft --base base --adapter peft -o imported > import.log
loss() { "$A" eval -m "$1" -d ft_val.csv --no-generate --tokenizer ft/tokenizer.model | cut -d' ' -f2; }
expect "PEFT round trip loss" "$(loss imported)" "$(loss ft)"
eval_adapter=$("$A" eval -m base --adapter peft -d ft_val.csv --no-generate \
  --tokenizer ft/tokenizer.model | cut -d' ' -f2)
expect "eval --adapter PEFT loss" "$eval_adapter" "$(loss ft)"
# Exact resume: a fine-tune continued from its step-60 checkpoint ends with the same adapter
# and token rows as the uninterrupted one (their moments are in the checkpoint).
mkdir resumed && cp -r ft/ckpt-60 resumed/ && echo ckpt-60 > resumed/latest
"$A" finetune --base base --out resumed --resume \
  --lora r=4,alpha=8,dropout=0.1,targets=q,k,v,o,wi_0,wi_1,wo \
  --add-tokens "<TIKTOK>,<FACEBOOK>,<YOUTUBE>,<COMMENT>" \
  --set train.max_steps=120 --set train.lr=1e-2 --set train.warmup_steps=5 \
  --set train.eval_every=0 --set train.batch_size=16 --set train.log_every=10 \
  --set data.train=ft.csv --set data.val=ft_val.csv --set data.test= > resumed.log 2>&1 ||
  { cat resumed.log; exit 1; }
has "resumed" "resumed from" < resumed.log
expect "resumed adapter" "$(sha256sum < resumed/ckpt-120/model.safetensors)" \
  "$(sha256sum < ft/ckpt-120/model.safetensors)"
# BLEU and ROUGE at every evaluation (train.eval_generate rows of the validation CSV answered
# greedily), the best checkpoint picked by BLEU: the metrics hold val_bleu / val_rouge* at each
# evaluation, and the "best" pointer names the step with the highest BLEU.
ft base scored 40 --set train.eval_every=10 --set train.eval_generate=24 \
  --set train.best_metric=bleu --set train.keep_last=1
"$PY" - scored <<'PYEOF'
import json, sys
run = sys.argv[1]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl") if '"val_bleu"' in l]
assert [r["step"] for r in rows] == [10, 20, 30, 40], rows
assert all(0 <= r["val_rougeL"] <= 1 and 0 <= r["val_bleu"] <= 100 for r in rows), rows
assert rows[-1]["val_bleu"] > 50 and rows[-1]["val_bleu"] > rows[0]["val_bleu"], rows
best = max(rows, key=lambda r: (r["val_bleu"], -r["step"]))["step"]
got = open(run + "/best").read().strip()
assert got == "ckpt-%d" % best, (got, best, rows)
print("ok BLEU during training:", [round(r["val_bleu"], 1) for r in rows], "best", got)
PYEOF
has "scores printed" "val_bleu [0-9.]+  val_rouge1 " < scored.log
expect_error "best_metric without eval_generate" "best_metric bleu is computed from generated answers" \
  "$A" finetune --base base --out nope --set train.best_metric=bleu --set train.eval_every=10
# Epochs instead of steps (800 rows in batches of 16: 50 steps an epoch) and warmup as a ratio.
ft base epochs 1 --set train.epochs=0.4 --set train.warmup_ratio=0.25
has "epochs set max_steps" "0.4 epochs of 50 steps: max_steps 20" < epochs.log
expect "warmup ratio" "$("$PY" -c "import json; t=json.load(open('epochs/ckpt-20/config.json'))['train']; print(t['max_steps'], t['warmup_steps'])")" "20 5"
# Several adapters over one copy of the base, kept apart from it and chosen by a request's
# "model": each answers as its merged run does and the base as the base does, in the same
# server; /v1/models lists the three; an unknown model is a 404 naming them. `generate
# --unmerged` (the adapter added to each product) answers as the merge does.
expect "generate --unmerged" "$(gen base --adapter ft --unmerged)" "$want"
want_scored=$(gen scored) want_base=$(gen base)
serve_up -m base --adapter tags=ft --adapter scored
has "served models" '"id":"base".*"id":"tags".*"id":"scored"' < <(curl -s "$url/v1/models")
expect "served adapter tags" "$(served tags)" "$want"
expect "served adapter scored" "$(served scored)" "$want_scored"
expect "served base" "$(served base)" "$want_base"
expect "served without a model" "$(served "")" "$want_base"
code=$(curl -s -o unknown.json -w '%{http_code}' "$url/v1/completions" \
  -H 'Content-Type: application/json' -d '{"model":"nope","prompt":"x","max_tokens":2}')
expect "unknown model status" "$code" 404
has "unknown model names the served ones" "this server has: base, tags, scored" < unknown.json
kill -TERM $srv && wait $srv
# No spare rows: the tables grow from N to N + 4 and the base's N rows load into them.
base tight "$N"
ft tight ft_tight 20
has "grown tables" "\(4 new; tables grown from $N to $((N + 4)) rows\)" < ft_tight.log
"$A" eval -m ft_tight -d ft_val.csv --no-generate > tight_eval.log || { cat tight_eval.log; exit 1; }
# Grown tables are no longer the base's: such an adapter cannot share it.
expect_error "unmerged adapter with grown tables" "adds tokens past the base's $N rows" \
  "$A" generate -m tight --adapter ft_tight --unmerged -p "<TIKTOK> x" --max-new 2
echo "finetune add tokens: all checks passed"
