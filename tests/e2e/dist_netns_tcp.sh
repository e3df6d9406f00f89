#!/usr/bin/env bash
# Two "machines" on this one: network namespaces joined by a veth pair (10.x addresses), each
# running one rank; mpirun starts in the first and launches the remote rank through a small
# rsh agent that enters the other namespace (`ip netns exec`, no ssh), and the ranks talk MPI
# over TCP only (btl tcp,self on the veth's subnet). The weights after K steps are those of one
# process training the same 2 parts, bit for bit, and the gradients crossed the veth link.
#   dist_netns_tcp.sh AERO HAVE_MPI
set -euo pipefail
A=$(realpath "$1"); here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_train.sh"; source "$here/lib_mpi.sh"
mpi_setup "$2"
if [[ $(id -u) != 0 ]]; then echo "network namespaces need root: skipped"; exit 77; fi
command -v ip > /dev/null || fail "ip (iproute2) is not installed"
if ! err=$(ip netns add aero-probe-$$ 2>&1); then
  echo "cannot create network namespaces here ($err): skipped"; exit 77
fi
ip netns del aero-probe-$$
d=$(mktemp -d); cd "$d"
trap 'netns_cleanup; rm -rf "$d"' EXIT
netns_setup "$d"
train_setup 40
"$A" train -c c.json --set train.out_dir=one --set train.data_parallel=2 > one.log 2>&1 ||
  { cat one.log; fail "the one-process run failed"; }
rx0=$(netns_rx_bytes)
# shellcheck disable=SC2046
ip netns exec "$NS_A" mpirun $(netns_mpirun_flags) -x OMP_NUM_THREADS=1 -x AERO_DIST_BUCKET_MB \
  "$A" train -c "$d/c.json" --set train.out_dir="$d/two" > two.log 2>&1 ||
  { cat two.log; fail "the 2-rank run over the veth link failed"; }
rx=$(( $(netns_rx_bytes) - rx0 ))
has "2 ranks" '\[dist\] 2 ranks' < two.log
expect "weights at step 40 (2 namespaces over TCP vs one process)" \
  "$(sha256sum < two/ckpt-40/model.safetensors)" "$(sha256sum < one/ckpt-40/model.safetensors)"
# Each step rank 1 receives half of the gradients from rank 0 and the sums of the other half: at
# least the model's gradient bytes per step, 40 steps.
weights=$(stat -c %s one/ckpt-40/model.safetensors)
echo "veth $VETH_B: $rx bytes received by rank 1's namespace ($weights bytes of weights x 40 steps = $((weights * 40)))"
(( rx > weights * 40 / 2 )) || fail "only $rx bytes crossed the veth link"
echo "two namespaces over TCP = one process"
