#!/usr/bin/env bash
# data.mode = examples: one short document per row, padded to buckets. The model learns (test
# loss below ln V / 3), the loss does not depend on batching and padding, and a run killed with
# SIGKILL and resumed ends with the same weights, bit for bit.   train_cli_examples_mode.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_check.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
for i in $(seq 1 600); do echo "fox $((i % 7)) $(yes jumps | head -n $((i % 4 + 1)) | tr '\n' ' ')over"; echo; done > raw.txt
"$A" data split -i raw.txt -o split --seed 3 > /dev/null
"$A" tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
"$A" data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$("$A" data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
cat > c.json <<JSON
{"model": {"vocab_size": $V, "block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 32,
           "ffn_hidden": 64, "dropout_resid": 0.1},
 "train": {"batch_size": 16, "max_steps": 300, "lr": 3e-3, "warmup_steps": 10,
           "checkpoint_every": 50, "eval_every": 100, "eval_batches": 4, "log_every": 50,
           "keep_last": 2, "threads": 1, "out_dir": "runA"},
 "data": {"mode": "examples", "buckets": [16, 32], "train": "shards/train.bin",
          "val": "shards/val.bin", "test": "shards/test.bin", "tokenizer": "chars.json"}}
JSON
"$A" train -c c.json > a.log 2>&1 || { cat a.log; fail "training failed"; }
grep -o 'test_loss [0-9.]*' a.log || fail "a.log has no test_loss"
awk -v v=$V '/test_loss/ { l = $2 } END { if (l < log(v) / 3) print "learned", l, "<", log(v) / 3;
  else { print "FAIL test loss", l, "is not below ln V / 3 =", log(v) / 3; exit 1 } }' a.log
one=$("$A" eval -m runA -d shards/test.bin --examples --batch-size 1 | cut -d' ' -f1-2)
padded=$("$A" eval -m runA -d shards/test.bin --examples --batch-size 7 --buckets 16 32 | cut -d' ' -f1-2)
expect "loss with batch 7, padded to buckets (batch 1: $one)" "$padded" "$one"
want=$(sha256sum < runA/ckpt-300/model.safetensors)
"$A" train -c c.json --set train.out_dir=runB > b.log 2>&1 & pid=$!
while [[ ! -e runB/latest ]]; do sleep 0.02; done
kill -9 $pid; rc=0; wait $pid || rc=$?
echo "killed rc=$rc at $(cat runB/latest)"
[[ $(cat runB/latest) != ckpt-300 ]] || fail "the run finished before it was killed"
"$A" train -c c.json --set train.out_dir=runB --resume > c.log 2>&1 || { cat c.log; fail "resume failed"; }
expect "weights after resume" "$(sha256sum < runB/ckpt-300/model.safetensors)" "$want"
echo resume-bit-exact
