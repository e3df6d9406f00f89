#!/usr/bin/env bash
# mpirun -np 2 aero train (one thread each) ends with the same weights, optimizer state, losses
# and validation losses, bit for bit, as one process training the same 2 parts of every batch
# (train.data_parallel = 2), dropout on, with and without activation checkpointing. Rank 0
# alone writes the run directory.
#   dist_two_ranks_match_one_process.sh AERO HAVE_MPI
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"; source "$here/lib_mpi.sh"
mpi_setup "$2"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 60
"$A" train -c c.json --set train.out_dir=one --set train.data_parallel=2 > one.log 2>&1 ||
  { cat one.log; fail "the one-process run failed"; }
mpi_run 2 "$A" train -c c.json --set train.out_dir=two > two.log 2>&1 ||
  { cat two.log; fail "the 2-rank run failed"; }
has "the run says it trains over 2 ranks" '\[dist\] 2 ranks .*: each trains 1 of the 2 parts' < two.log
has "the all-reduce's share is reported" '\[dist\] 2 ranks: the steps waited for gradient sums' < two.log
expect "configs printed once" "$(grep -c '^model: ' two.log)" 1
expect "final line printed once" "$(grep -c '^steps 60' two.log)" 1
for f in model.safetensors optimizer.safetensors; do
  expect "$f at step 60" "$(sha256sum < two/ckpt-60/$f)" "$(sha256sum < one/ckpt-60/$f)"
done
# Losses, grad norms and evaluations: the same numbers (timings and rank fields aside).
strip() { sed -E 's/,"(tokens_per_s|elapsed_s|peak_mem_mb|peak_act_mb|ranks|allreduce_wait_ms|allreduce_share)":[^,}]*//g' "$1"; }
expect "metrics lines" "$(strip two/metrics.jsonl | md5sum)" "$(strip one/metrics.jsonl | md5sum)"
has "2-rank metrics carry the all-reduce wait" '"allreduce_share":' < two/metrics.jsonl
# With activation checkpointing the blocks' gradients appear on recompute tapes; the sums must
# still wait for them.
mpi_run 2 "$A" train -c c.json --set train.out_dir=ck --set train.checkpoint_activations=blocks \
  > ck.log 2>&1 || { cat ck.log; fail "the 2-rank run with checkpointed blocks failed"; }
expect "model.safetensors with checkpointed blocks" "$(sha256sum < ck/ckpt-60/model.safetensors)" \
  "$(sha256sum < one/ckpt-60/model.safetensors)"
echo "two ranks = one process"
