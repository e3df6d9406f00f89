# shellcheck shell=bash
# Shared setup for the infer_* scripts (sourced; needs A): a tiny char-level llama-style model
# trained for 300 steps on the GPL-3 text every Debian system has (base-files), into run/.
#   infer_setup      (in the current directory)
infer_setup() {
  local V
  cp /usr/share/common-licenses/GPL-3 raw.txt  # English prose, paragraphs as documents
  "$A" data split -i raw.txt -o split --seed 3 > /dev/null
  "$A" tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
  "$A" data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
  V=$("$A" data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
  cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 64, "n_layer": 1, "n_head": 2, "n_embd": 32,
           "ffn_hidden": 64, "pos": "rope", "norm": "rmsnorm", "act": "swiglu"},
 "train": {"batch_size": 16, "max_steps": 300, "lr": 0.01, "warmup_steps": 10,
           "checkpoint_every": 300, "eval_every": 300, "eval_batches": 2, "test_batches": 2,
           "log_every": 100, "threads": 1, "out_dir": "run"},
 "data": {"train": "shards/train.bin", "val": "shards/val.bin", "test": "shards/test.bin",
          "tokenizer": "chars.json"}}
JSON
  "$A" train -c c.json > train.log 2>&1 || { cat train.log; fail "training the tiny model failed"; }
}
