#!/usr/bin/env bash
# Trains the tiny chat model the server tests share (a ctest fixture): a char-level GPT on
# "User: ... / Assistant: ..." lines, a few hundred steps, so replies are short text in seconds.
#   make_model.sh AERO OUT_DIR [STEPS]
# Env N_EMBD, N_LAYER, N_HEAD, FFN, BATCH change the size (bench/serve_load.sh trains a larger one).
set -euo pipefail
A=$1; out=$2; steps=${3:-300}
rm -rf "$out"; mkdir -p "$out"; cd "$out"
words=(fox dog cat bird tree river stone cloud rain sun moon star)
for i in $(seq 1 400); do
  w=${words[$((i % 12))]}; v=${words[$((i * 7 % 12))]}
  echo "You are a helpful assistant."
  echo "User: tell me about the $w number $i"
  echo "Assistant: the $w is near the $v and it jumps over the lazy $v $((i % 9)) times."
  echo
done > raw.txt
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$($A data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 256, "n_layer": ${N_LAYER:-2}, "n_head": ${N_HEAD:-2},
           "n_embd": ${N_EMBD:-32}, "ffn_hidden": ${FFN:-64}},
 "train": {"batch_size": ${BATCH:-8}, "max_steps": $steps, "warmup_steps": 20, "checkpoint_every": $steps,
           "eval_every": 1000, "eval_batches": 1, "test_batches": 1, "log_every": 100,
           "keep_last": 1, "threads": ${THREADS:-1}, "out_dir": "run", "lr": 3e-3},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "shards/test.bin",
          "tokenizer": "$out/chars.json"}}
JSON
$A train -c c.json > train.log 2>&1
echo "model ready: $out/run"
