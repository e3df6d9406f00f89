# shellcheck shell=bash
# Shared setup for the formats_* scripts (sourced; needs A and PY): a char corpus, its tokenizer
# and shards in the current directory; P runs tests/reference/gguf_read.py.
#   formats_setup
#   config OPTIONS OUT [TOKENIZER SHARDS]   trains a tiny GPT with OPTIONS spliced into "model"
#                                           for 20 steps into run directory OUT (log in OUT.log)
P() { "$PY" "$(dirname "${BASH_SOURCE[0]}")/../reference/gguf_read.py" "$@"; }
formats_setup() {
  local i
  for i in $(seq 1 200); do echo "line $i: the quick brown fox jumps over the lazy dog $((i * 7 % 13)) times"; echo; done > raw.txt
  "$A" tokenizer train --type char -i raw.txt -o chars.json > /dev/null
  "$A" data split -i raw.txt -o split --seed 3 > /dev/null
  "$A" data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
}
config() {
  local tok=chars.json sh=shards V
  if [[ $# -gt 2 ]]; then tok=$3; sh=$4; fi
  V=$("$A" data inspect "$sh/train.bin" | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
  cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32,
           "ffn_hidden": 64, $1},
 "train": {"batch_size": 4, "max_steps": 20, "eval_every": 0, "test_batches": 1,
           "log_every": 20, "threads": 1, "out_dir": "$2"},
 "data": {"train": "$sh/train.bin", "val": "$sh/val.bin", "test": "$sh/test.bin",
          "tokenizer": "$tok"}}
JSON
  "$A" train -c c.json > "$2.log" 2>&1
}
