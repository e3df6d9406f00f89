#!/usr/bin/env bash
# A rank that dies mid-run (SIGKILL) ends the run within seconds: mpirun exits non-zero and says
# which rank died; a rank that hangs (SIGSTOP) makes the other abort after AERO_DIST_TIMEOUT
# with an error that names the wait. Nobody waits forever.
#   dist_rank_dies.sh AERO HAVE_MPI
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"; source "$here/lib_mpi.sh"
mpi_setup "$2"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
train_setup 1000000
# wait_exit PID SECONDS: rc = the exit status; fails when PID still runs after SECONDS.
wait_exit() {
  local t0=$SECONDS
  while kill -0 "$1" 2> /dev/null; do
    (( SECONDS - t0 <= $2 )) || { kill -9 "$1"; fail "still running $2 s after the rank was stopped"; }
    sleep 0.1
  done
  rc=0; wait "$1" || rc=$?
}
for how in KILL STOP; do
  mpi_run 2 -x AERO_DIST_TIMEOUT=5 "$A" train -c c.json --set train.out_dir=run-$how > $how.log 2>&1 & mpi=$!
  wait_for_file run-$how/latest $mpi $how.log
  r1=$(rank_pid $mpi 1) || fail "no rank 1 under mpirun $mpi"
  t0=$SECONDS; kill -$how "$r1"
  wait_exit $mpi 30
  echo "SIG$how to rank 1: mpirun exited $rc after $((SECONDS - t0)) s"
  [[ $rc != 0 ]] || { cat $how.log; fail "mpirun exited 0 after SIG$how to rank 1"; }
  if [[ $how == KILL ]]; then
    has "mpirun names the dead rank" 'rank 1 .*exited on signal 9' < $how.log
  else
    has "rank 0 names the wait" '\[dist\] rank 0 of 2 .*no answer from the other ranks for [0-9]+ s while' < $how.log
  fi
  pgrep -f "train.out_dir=run-$how" > /dev/null && fail "a rank of the SIG$how run is still alive"
done
echo "no rank waits forever"
