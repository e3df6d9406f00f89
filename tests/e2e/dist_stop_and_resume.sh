#!/usr/bin/env bash
# A 2-rank run stops when one rank alone is signalled: SIGTERM to rank 1 stops both ranks at the
# same step, rank 0 writes the checkpoint, mpirun exits 0; resumed with 2 ranks, the run ends
# with the weights of the uninterrupted run, bit for bit (the dropout RNG is one stream that
# every rank draws all parts' seeds from, saved by rank 0). Ranks that would resume from
# different checkpoints are refused; train.max_minutes stops every rank at one step.
#   dist_stop_and_resume.sh AERO HAVE_MPI
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"; source "$here/lib_mpi.sh"
mpi_setup "$2"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 600
mpi_run 2 "$A" train -c c.json --set train.out_dir=runA > a.log 2>&1 ||
  { cat a.log; fail "the uninterrupted run failed"; }
want=$(sha256sum < runA/ckpt-600/model.safetensors)
mpi_run 2 "$A" train -c c.json --set train.out_dir=runB > b.log 2>&1 & mpi=$!
wait_for_file runB/latest $mpi b.log
r1=$(rank_pid $mpi 1) || fail "no rank 1 under mpirun $mpi"
kill -TERM "$r1"; rc=0; wait $mpi || rc=$?
expect "exit status of the run stopped by SIGTERM to rank 1" $rc 0
has "rank 0 stopped too" '^interrupted at step [0-9]+; resume with --resume' < b.log
stopped=$(sed -n 's/^interrupted at step \([0-9]*\);.*/\1/p' b.log)
[[ $stopped -lt 600 ]] || fail "the run finished before it was stopped"
expect "checkpoint of the stop" "$(cat runB/latest)" "ckpt-$stopped"
mpi_run 2 "$A" train -c c.json --set train.out_dir=runB --resume > c.log 2>&1 ||
  { cat c.log; fail "resume with 2 ranks failed"; }
has "resumed" "resumed from .*ckpt-$stopped at step $stopped" < c.log
expect "weights after the 2-rank resume" "$(sha256sum < runB/ckpt-600/model.safetensors)" "$want"
# A rank that does not hold the same checkpoint is refused before any step.
rm -rf runB/ckpt-600; echo ckpt-580 > runB/latest
cat > pick.sh <<SH
#!/bin/sh
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && exec "$A" train -c c.json --set train.out_dir=runA --resume
exec "$A" train -c c.json --set train.out_dir=runB --resume
SH
chmod +x pick.sh
rc=0; mpi_run 2 ./pick.sh > e.log 2>&1 || rc=$?
[[ $rc != 0 ]] || { cat e.log; fail "ranks resumed from different checkpoints and trained"; }
has "different checkpoints are named" 'rank 1 starts at step 600 but rank 0 at step 580' < e.log
# train.max_minutes: the ranks' clocks agree to stop at one step; rank 0 checkpoints it.
rc=0; mpi_run 2 "$A" train -c c.json --set train.out_dir=runT --set train.max_steps=10000000 \
  --set train.max_minutes=0.03 > t.log 2>&1 || rc=$?
expect "exit status of the time-limited run" $rc 0
has "time limit" '^time limit of 0.03 minutes reached at step [0-9]+' < t.log
expect "lines saying so" "$(grep -c '^time limit' t.log)" 1
at=$(sed -n 's/^time limit of .* at step \([0-9]*\)$/\1/p' t.log)
expect "checkpoint at the time limit" "$(cat runT/latest)" "ckpt-$at"
echo "stop and resume over 2 ranks"
