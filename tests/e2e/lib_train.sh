# shellcheck shell=bash
# Shared setup for the train_* scripts (sourced; needs A): a char-level corpus -> split -> char
# tokenizer -> shards, and c.json for a tiny GPT (vocab from the shards) into run directory runA.
#   train_setup MAX_STEPS      (in the current directory)
train_setup() {
  local i V
  for i in $(seq 1 300); do echo "line $i: the quick brown fox jumps over the lazy dog $((i * 7 % 13)) times"; echo; done > raw.txt
  "$A" data split -i raw.txt -o split --seed 3 > /dev/null
  "$A" tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
  "$A" data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
  V=$("$A" data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
  cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16,
           "ffn_hidden": 32, "dropout_resid": 0.1},
 "train": {"batch_size": 8, "max_steps": $1, "warmup_steps": 10, "checkpoint_every": 20,
           "eval_every": 100, "eval_batches": 2, "test_batches": 4, "log_every": 20,
           "keep_last": 2, "threads": 1, "out_dir": "runA"},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "shards/test.bin",
          "tokenizer": "chars.json"}}
JSON
}
