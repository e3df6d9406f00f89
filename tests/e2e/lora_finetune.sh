#!/usr/bin/env bash
# LoRA fine-tuning end to end: a base GPT, `aero finetune --lora` on top of it (checkpoints hold
# only the adapters and name the base; the base is not touched; the loss falls; a resumed
# fine-tune ends bit-identical to an uninterrupted one), then the adapter out to PEFT's format and
# back in over the same base, evaluating the same.
#   lora_finetune.sh AERO PYTHON
set -euo pipefail
A=$(realpath "$1"); PY=$2; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cp -r "$here/../data/v1-run/shards" "$here/../data/v1-run/chars.json" "$d/"; cd "$d"
digest() { "$PY" "$here/st_digest.py" "$1"; }
loss() { "$A" eval -m "$1" -d shards/test.bin | sed 's/^loss \([0-9.]*\).*/\1/'; }
cat > c.json <<JSON
{"model": {"vocab_size": 37, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32,
           "ffn_hidden": 64},
 "train": {"batch_size": 8, "max_steps": 25, "eval_every": 0, "log_every": 5, "keep_last": 1,
           "threads": 2, "out_dir": "base", "lr": 1e-2},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "", "tokenizer": "chars.json"}}
JSON
"$A" train -c c.json > base.log 2>&1 || { cat base.log; exit 1; }
base_digest=$(digest base/ckpt-25/model.safetensors)
ft() {  # OUT STEPS [extra args]
  local out=$1 steps=$2; shift 2
  "$A" finetune --base base --lora r=4,alpha=8,dropout=0.1,targets=attn_q,attn_v,ffn_up \
    --out "$out" --set train.max_steps=20 --set train.lr=1e-2 --set train.eval_every=0 \
    --set train.checkpoint_every=10 --set train.threads=2 --set train.batch_size=8 \
    --set train.schedule=constant "$@" \
    > "$out.log" 2>&1 || { cat "$out.log"; exit 1; }
}
ft ft 20
has "LoRA attached" "LoRA: 6 modules, 1792 trainable parameters" < ft.log
# The checkpoint holds the 12 adapter matrices only, and names the base.
n=$("$PY" -c "import json,struct,sys; f=open(sys.argv[1],'rb'); h=json.loads(f.read(struct.unpack('<Q',f.read(8))[0])); print(sum(1 for k in h if k!='__metadata__'), h['__metadata__'].get('base',''))" ft/ckpt-20/model.safetensors)
expect "adapter checkpoint" "$n" "12 $d/base/ckpt-25"
expect "base untouched" "$(digest base/ckpt-25/model.safetensors)" "$base_digest"
b=$(loss base); f=$(loss ft)
awk -v b="$b" -v f="$f" 'BEGIN { exit !(f < b) }' || fail "fine-tuned loss $f is not below the base's $b"
echo "ok loss: base $b, fine-tuned $f"
# Stopped at step 10 and resumed to 20 (a constant learning rate, so the shorter first run
# follows the same schedule): the same adapters as the straight run, bit for bit.
ft half 10 --set train.max_steps=10
"$A" finetune --base base --lora r=4,alpha=8,dropout=0.1,targets=attn_q,attn_v,ffn_up --out half \
  --resume --set train.max_steps=20 --set train.lr=1e-2 --set train.eval_every=0 \
  --set train.checkpoint_every=10 --set train.threads=2 --set train.batch_size=8 \
  --set train.schedule=constant > resume.log 2>&1 \
  || { cat resume.log; exit 1; }
expect "resumed = straight" "$(digest half/ckpt-20/model.safetensors)" \
  "$(digest ft/ckpt-20/model.safetensors)"
# Generation merges the adapters at load.
"$A" generate -m ft -p "the fox" --temperature 0 --max-new 8 > gen.txt 2> /dev/null
has "generation" "^the fox" < gen.txt
# Out to PEFT and back in over the base: the same model.
"$A" export peft -m ft -o peft > /dev/null
has "PEFT config" '"peft_type": "LORA"' < peft/adapter_config.json
# --adapter over the base named on the command line (the aero run or its PEFT export): the same
# tokens as the run itself; a directory without an adapter is refused by name.
gen() { "$A" generate -m "$@" -p "the fox" --temperature 0 --max-new 8 2> /dev/null; }
expect "generate --adapter RUN" "$(gen base --adapter ft)" "$(cat gen.txt)"
expect "generate --adapter PEFT" "$(gen base --adapter peft)" "$(cat gen.txt)"
# Kept apart from the weights (added to each product, as the server runs several): the same.
expect "generate --adapter --unmerged" "$(gen base --adapter ft --unmerged)" "$(cat gen.txt)"
expect "generate --adapter PEFT --unmerged" "$(gen base --adapter peft --unmerged)" "$(cat gen.txt)"
expect_error "not an adapter" "base/ckpt-25 holds no LoRA adapter" \
  "$A" generate -m base --adapter base -p "the fox"
mkdir empty
expect_error "no adapter at all" "empty is neither a PEFT adapter directory" \
  "$A" generate -m base --adapter empty -p "the fox"
expect_error "no such adapter" "\[adapter\] nowhere: no such directory" \
  "$A" generate -m base --adapter nowhere -p "the fox"
"$A" import peft --base base --adapter peft --out back > /dev/null
expect "PEFT round trip" "$(loss back)" "$f"
# train.precision = bf16: on a CPU with bf16 units the frozen base is stored in bf16; the loss
# still falls, the base file is untouched and a resumed run still ends bit-identical.
ft bf 20 --set train.precision=bf16
if grep -q "precision bf16: linear layers" bf.log; then
  has "bf16 base" "the frozen base stored in bf16" < bf.log
fi
fb=$(loss bf)
awk -v b="$b" -v f="$fb" 'BEGIN { exit !(f < b) }' || fail "bf16 fine-tuned loss $fb is not below $b"
echo "ok bf16 loss: base $b, fine-tuned $fb (fp32 base: $f)"
ft bfhalf 10 --set train.max_steps=10 --set train.precision=bf16
ft bfhalf 20 --resume --set train.precision=bf16
expect "bf16 resumed = straight" "$(digest bfhalf/ckpt-20/model.safetensors)" \
  "$(digest bf/ckpt-20/model.safetensors)"
expect "base untouched (bf16)" "$(digest base/ckpt-25/model.safetensors)" "$base_digest"
echo "lora finetune: all checks passed"
