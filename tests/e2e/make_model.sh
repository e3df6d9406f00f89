#!/usr/bin/env bash
# Trains the tiny chat model the e2e tests share (a ctest fixture): a char-level GPT whose
# vocabulary holds every Vietnamese letter, so a prompt decoded from its tokens shows exactly
# what the model received. Training is only long enough to make a checkpoint; the replies are
# not the point. The corpus has no '>', so a reply never looks like the chat's "> " prompt.
#   make_model.sh AERO OUT_DIR
set -euo pipefail
A=$1; out=$2
rm -rf "$out"; mkdir -p "$out"; cd "$out"
lower="aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
upper="AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬEÈÉẺẼẸÊỀẾỂỄỆIÌÍỈĨỊOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢUÙÚỦŨỤƯỪỨỬỮỰYỲÝỶỸỴĐ"
for i in $(seq 1 60); do
  echo "User: Xin chào, bạn là ai? $i"
  echo "Assistant: Tôi là trợ lý. Tiếng Việt có dấu: $lower $upper."
  echo "User: the quick brown fox jumps over the lazy dog, THE QUICK BROWN FOX 0123456789"
  echo "Assistant: line $i: (ok) [yes] {no} ; 'a' \"b\" - _ + = * / \\ | ! @ # \$ % ^ & ~ \`"
  echo
done > raw.txt
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A tokenizer train --type char -i raw.txt -o chars.json > /dev/null
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$($A data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 512, "n_layer": 1, "n_head": 2, "n_embd": 32,
           "ffn_hidden": 64},
 "train": {"batch_size": 2, "max_steps": 20, "warmup_steps": 2, "checkpoint_every": 20,
           "eval_every": 1000, "eval_batches": 1, "test_batches": 1, "log_every": 10,
           "keep_last": 1, "threads": 1, "out_dir": "run", "lr": 3e-3},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "shards/test.bin",
          "tokenizer": "$out/chars.json"}}
JSON
$A train -c c.json > train.log 2>&1 || { cat train.log; exit 1; }
echo "model ready: $out/run"
