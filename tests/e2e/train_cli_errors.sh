#!/usr/bin/env bash
# The errors a user can cause in training, each one line and exit 1: unknown key (in --set and in
# the file), config mismatch on resume, an existing run without --resume, a truncated
# checkpoint (eval and resume), a missing shard.   train_cli_errors.sh AERO
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 20
expect_error "unknown key in --set" "train.lrr=1: unknown key 'lrr' in train" "$A" train -c c.json --set train.lrr=1
sed 's/"max_steps"/"max_stepz"/' c.json > bad.json
expect_error "unknown key in the file" "bad.json: unknown key 'max_stepz' in train" "$A" train -c bad.json
"$A" train -c c.json > train.log 2>&1 || { cat train.log; fail "training failed"; }
expect_error "resume with another shape" "model.n_embd is 16 but the config asks for 32" \
  "$A" train -c c.json --resume --set model.n_embd=32
"$A" eval -m runA -d shards/val.bin | has "eval" perplexity
expect_error "train into an existing run" "^aero: error: " "$A" train -c c.json
truncate -s -100 runA/ckpt-20/model.safetensors
expect_error "eval of a truncated checkpoint" '\[checkpoint\] runA/ckpt-20/model.safetensors: ' \
  "$A" eval -m runA -d shards/val.bin
expect_error "resume from a truncated checkpoint" '\[checkpoint\] runA/ckpt-20/model.safetensors: ' \
  "$A" train -c c.json --resume
expect_error "missing shard" '\[train\] data.train: cannot open shard nope.bin' \
  "$A" train -c c.json --set data.train=nope.bin --set train.out_dir=runN
echo train-errors-ok
