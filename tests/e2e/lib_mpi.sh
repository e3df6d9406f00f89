# shellcheck shell=bash
# Shared by the dist_*.sh scripts (sourced; needs A and lib_check.sh): Open MPI's environment for
# root and containers, and the skip rule: without mpirun or an MPI build of aero the test is
# skipped (77), but under CI=true it fails.
#   mpi_setup HAVE_MPI      (HAVE_MPI: 1 when CMake built aero with MPI)
mpi_setup() {
  local why=""
  command -v mpirun > /dev/null || why="mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)"
  [[ -z $why && $1 != 1 ]] && why="this aero was built without MPI (install libopenmpi-dev and reconfigure)"
  if [[ -n $why ]]; then
    [[ ${CI:-} == true || ${CI:-} == 1 ]] && fail "$why: CI must run this test"
    echo "$why: skipped"; exit 77
  fi
  # Root in containers; no cross-memory attach between ranks (ptrace is often denied there).
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  # Several small buckets, so the test model's gradients travel in more than one.
  export AERO_DIST_BUCKET_MB=${AERO_DIST_BUCKET_MB:-0.004}
}
# mpirun with the flags every test uses: N ranks on this machine, never bound to cores (ctest -j
# runs other tests beside them), one thread each.
mpi_run() {  # N ARGS...
  local n=$1; shift
  mpirun -np "$n" --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "$@"
}
# Process id of rank R of the run started by PID (mpirun, or a shell running it): the
# descendant whose environment says OMPI_COMM_WORLD_RANK=R.
rank_pid() {  # PID R
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"; return 0
    fi
    rank_pid "$p" "$2" && return 0
  done
  return 1
}
# Waits until FILE exists while PID (the run) lives; fails with LOG when the run ends first or
# after 60 s.
wait_for_file() {  # FILE PID LOG
  local t0=$SECONDS
  while [[ ! -e $1 ]]; do
    kill -0 "$2" 2> /dev/null || { cat "$3"; fail "the run ended before $1 appeared"; }
    (( SECONDS - t0 < 60 )) || { cat "$3"; fail "no $1 after 60 s"; }
    sleep 0.05
  done
}
