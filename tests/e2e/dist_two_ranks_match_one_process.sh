#!/usr/bin/env bash
# mpirun -np 2 aero train (one thread each) ends with the same weights, optimizer state, losses
# and validation losses, bit for bit, as one process training the same 2 parts of every batch
# (train.data_parallel = 2), dropout on, with the optimizer sharded over the ranks (ZeRO-1, the
# default) or not, with and without activation checkpointing; 3 ranks as data_parallel = 3. A
# sharded run resumes without MPI and the other way round, with the same bits. Rank 0 alone
# writes the run directory.
#   dist_two_ranks_match_one_process.sh AERO HAVE_MPI
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"; source "$here/lib_mpi.sh"
mpi_setup "$2"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 60
# Every checkpoint kept: step 20's is resumed below.
"$A" train -c c.json --set train.out_dir=one --set train.data_parallel=2 --set train.keep_last=5 \
  > one.log 2>&1 ||
  { cat one.log; fail "the one-process run failed"; }
mpi_run 2 "$A" train -c c.json --set train.out_dir=two --set train.keep_last=5 > two.log 2>&1 ||
  { cat two.log; fail "the 2-rank run failed"; }
has "the run says it trains over 2 ranks" '\[dist\] 2 ranks .*: each trains 1 of the 2 parts' < two.log
has "the optimizer is sharded" '\[dist\] optimizer sharded \(ZeRO-1' < two.log
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
# Unsharded: every rank runs the whole optimizer on all-reduced gradients.
mpi_run 2 "$A" train -c c.json --set train.out_dir=full --set train.zero=false > full.log 2>&1 ||
  { cat full.log; fail "the unsharded 2-rank run failed"; }
expect "unsharded says nothing of sharding" "$(grep -c "optimizer sharded" full.log)" 0
for f in model.safetensors optimizer.safetensors; do
  expect "$f unsharded" "$(sha256sum < full/ckpt-60/$f)" "$(sha256sum < one/ckpt-60/$f)"
done
# 3 ranks: buckets cut in 3, the pieces' owners turning from bucket to bucket.
"$A" train -c c.json --set train.out_dir=one3 --set train.data_parallel=3 > one3.log 2>&1 ||
  { cat one3.log; fail "the one-process run with 3 parts failed"; }
mpi_run 3 "$A" train -c c.json --set train.out_dir=three > three.log 2>&1 ||
  { cat three.log; fail "the 3-rank run failed"; }
for f in model.safetensors optimizer.safetensors; do
  expect "$f of 3 ranks" "$(sha256sum < three/ckpt-60/$f)" "$(sha256sum < one3/ckpt-60/$f)"
done
# The sharded run's step-20 checkpoint holds the whole optimizer state: one process resumes it,
# and 2 sharded ranks resume one process's.
resume_from() {  # RUN_DIR NEW_DIR: NEW_DIR holds RUN_DIR's step-20 checkpoint as its latest
  mkdir "$2"; cp -r "$1/ckpt-20" "$2/"; echo ckpt-20 > "$2/latest"
}
resume_from two mix1
"$A" train -c c.json --set train.out_dir=mix1 --set train.data_parallel=2 --resume > mix1.log 2>&1 ||
  { cat mix1.log; fail "one process resuming the 2-rank checkpoint failed"; }
resume_from one mix2
mpi_run 2 "$A" train -c c.json --set train.out_dir=mix2 --resume > mix2.log 2>&1 ||
  { cat mix2.log; fail "2 ranks resuming one process's checkpoint failed"; }
for r in mix1 mix2; do
  for f in model.safetensors optimizer.safetensors; do
    expect "$f resumed in $r" "$(sha256sum < $r/ckpt-60/$f)" "$(sha256sum < one/ckpt-60/$f)"
  done
done
echo "two ranks = one process"
