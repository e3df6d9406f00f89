#!/usr/bin/env bash
# Trains a tiny char-level GPT in OUT_DIR/run with the given aero (an installed one in the
# package tests): a few hundred short lines, 60 steps, seconds on one thread.
#   tiny_model.sh AERO OUT_DIR
set -euo pipefail
A=$1; out=$2
mkdir -p "$out"; cd "$out"
words=(fox dog cat bird tree river stone cloud rain sun moon star)
for i in $(seq 1 300); do
  echo "the ${words[$((i % 12))]} jumps over the lazy ${words[$((i * 7 % 12))]} $((i % 9)) times."
  echo  # a blank line ends a document: the split is by document
done > raw.txt
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$($A data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 16,
           "ffn_hidden": 32},
 "train": {"batch_size": 8, "max_steps": 60, "warmup_steps": 5, "checkpoint_every": 60,
           "eval_every": 30, "eval_batches": 1, "test_batches": 1, "log_every": 30,
           "keep_last": 1, "threads": 1, "out_dir": "run", "lr": 3e-3},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "shards/test.bin",
          "tokenizer": "$PWD/chars.json"}}
JSON
$A train -c c.json > train.log 2>&1
echo "model ready: $out/run"
