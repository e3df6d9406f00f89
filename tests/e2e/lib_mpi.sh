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
  # Root in containers; no cross-memory attach between ranks (ptrace is often denied there)
  # unless the caller chose a mechanism (e.g. cma for bench/mpi.sh where ptrace is allowed).
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
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
# Two "machines" on this one: network namespaces NS_A and NS_B joined by a veth pair, addresses
# $NET.1 and $NET.2, a hostfile $DIR/hosts (one slot each) and an rsh agent $DIR/agent.sh that
# runs mpirun's remote command in the namespace of its host (what ssh would do on a real
# machine). Needs root; netns_cleanup removes them (the veth goes with its namespaces).
#   netns_setup DIR    then: ip netns exec "$NS_A" mpirun $(netns_mpirun_flags) ...
netns_setup() {
  local dir=$1
  NS_A=aero-a-$$ NS_B=aero-b-$$ NET=10.$((200 + $$ % 50)).$(($$ / 50 % 250)) VETH_B=vb$$
  ip netns add "$NS_A"; ip netns add "$NS_B"
  ip link add va$$ netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B"
  ip -n "$NS_A" addr add "$NET.1/24" dev va$$; ip -n "$NS_B" addr add "$NET.2/24" dev "$VETH_B"
  ip -n "$NS_A" link set lo up; ip -n "$NS_B" link set lo up
  ip -n "$NS_A" link set va$$ up; ip -n "$NS_B" link set "$VETH_B" up
  printf '%s slots=1\n%s slots=1\n' "$NET.1" "$NET.2" > "$dir/hosts"
  cat > "$dir/agent.sh" <<SH
#!/bin/sh
# mpirun calls: agent.sh HOST COMMAND...
host=\$1; shift
case \$host in
  $NET.1) ns=$NS_A ;;
  $NET.2) ns=$NS_B ;;
  *) echo "agent.sh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns sh -c "\$*"
SH
  chmod +x "$dir/agent.sh"
  NETNS_DIR=$dir
}
netns_cleanup() {
  [[ -n ${NS_A:-} ]] && ip netns del "$NS_A" 2> /dev/null
  [[ -n ${NS_B:-} ]] && ip netns del "$NS_B" 2> /dev/null
  return 0
}
# mpirun's flags for the pair: the hostfile, the agent, MPI and its own wiring over TCP on the
# veth's subnet only.
netns_mpirun_flags() {
  echo "-np 2 --hostfile $NETNS_DIR/hosts --bind-to none --mca plm_rsh_agent $NETNS_DIR/agent.sh" \
    "--mca btl tcp,self --mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24"
}
# Bytes rank 1's namespace has received on the veth.
netns_rx_bytes() { ip netns exec "$NS_B" cat "/sys/class/net/$VETH_B/statistics/rx_bytes"; }
