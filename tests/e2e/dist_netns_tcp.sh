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
d=$(mktemp -d); cd "$d"
# Names unique to this run; the subnet from the process id, so parallel runs do not clash.
na=aero-a-$$ nb=aero-b-$$ net=10.$((200 + $$ % 50)).$(($$ / 50 % 250)) va=va$$ vb=vb$$
cleanup() { ip netns del "$na" 2> /dev/null || true; ip netns del "$nb" 2> /dev/null || true; rm -rf "$d"; }
trap cleanup EXIT
ip netns add "$na"; ip netns add "$nb"
ip link add "$va" netns "$na" type veth peer name "$vb" netns "$nb"
ip -n "$na" addr add "$net.1/24" dev "$va"; ip -n "$nb" addr add "$net.2/24" dev "$vb"
for ns in "$na" "$nb"; do ip -n "$ns" link set lo up; done
ip -n "$na" link set "$va" up; ip -n "$nb" link set "$vb" up
printf '%s slots=1\n%s slots=1\n' "$net.1" "$net.2" > hosts
# The "remote shell": mpirun calls AGENT HOST COMMAND...; run COMMAND in HOST's namespace.
cat > agent.sh <<SH
#!/bin/sh
host=\$1; shift
case \$host in
  $net.1) ns=$na ;;
  $net.2) ns=$nb ;;
  *) echo "agent.sh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns sh -c "\$*"
SH
chmod +x agent.sh
train_setup 40
"$A" train -c c.json --set train.out_dir=one --set train.data_parallel=2 > one.log 2>&1 ||
  { cat one.log; fail "the one-process run failed"; }
bytes() { ip netns exec "$nb" cat /sys/class/net/$vb/statistics/rx_bytes; }
rx0=$(bytes)
ip netns exec "$na" mpirun -np 2 --hostfile hosts --bind-to none -x OMP_NUM_THREADS=1 \
  -x AERO_DIST_BUCKET_MB \
  --mca plm_rsh_agent "$d/agent.sh" --mca btl tcp,self \
  --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
  "$A" train -c "$d/c.json" --set train.out_dir="$d/two" > two.log 2>&1 ||
  { cat two.log; fail "the 2-rank run over the veth link failed"; }
rx=$(( $(bytes) - rx0 ))
has "2 ranks" '\[dist\] 2 ranks' < two.log
expect "weights at step 40 (2 namespaces over TCP vs one process)" \
  "$(sha256sum < two/ckpt-40/model.safetensors)" "$(sha256sum < one/ckpt-40/model.safetensors)"
# Each step sends rank 1 half of the gradients and the other half's sums: at least the model's
# gradient bytes per step, 40 steps.
grad_bytes=$(( $(stat -c %s one/ckpt-40/model.safetensors) ))
echo "veth ${vb}: $rx bytes received by rank 1's namespace (${grad_bytes} bytes of weights x 40 steps = $((grad_bytes * 40)))"
(( rx > grad_bytes * 40 / 2 )) || fail "only $rx bytes crossed the veth link"
echo "two namespaces over TCP = one process"
