#!/usr/bin/env bash
# Data-parallel scaling over processes: `aero train` tokens/s of 2 ranks x 1 thread against 1
# process x 1 thread with the same global batch, on this machine (shared memory between the
# ranks) and over TCP between two network namespaces joined by a veth pair (as two machines;
# needs root). Prints the speed-up, the efficiency (speed-up / 2) and the share of the step the
# ranks waited for the gradient all-reduce after backward. Rounds alternate the three runs, so
# a burst of other work on the machine hits all of them; each run's rate is the median of its
# steps after the first. On a machine shared with other work the wall clock says more about the
# neighbours than about aero, so the CPU time per step is measured too (every rank under
# /usr/bin/time, a 1-step run subtracted from a STEPS-step one): the CPU efficiency is one
# process's CPU time per step over the ranks' together (1.0: splitting the batch over ranks
# costs nothing), the speed-up 2 ranks would reach on two otherwise idle cores.
#   bench/mpi.sh [ROUNDS] [STEPS] [CONFIG]   (default: 2 rounds, 6 steps, configs/gpt2-124m.json)
#   BATCH=2 BLOCK=1024: the global batch (rows x context); each rank trains BATCH/2 rows.
#   ACCUM=1: micro-batches per optimizer step (train.grad_accum; the gradients are summed
#   across ranks once per step, after the last), so the global batch is ACCUM x BATCH rows.
#   KINDS="two tcp": which 2-rank runs beside the 1-process one (shared memory, netns TCP).
#   OMPI_MCA_btl_vader_single_copy_mechanism=cma: ranks on this machine read each other's
#   buffers directly (needs ptrace between them; default none, as containers often deny it).
#   ZERO=false: the ranks all-reduce the gradients and each runs the whole optimizer (train.zero;
#   default true: ZeRO-1, each rank updates its share of the parameters).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "${AERO_BUILD_DIR:-build}/aero")
rounds=${1:-2} steps=${2:-6} config=$(realpath "${3:-configs/gpt2-124m.json}")
batch=${BATCH:-2} block=${BLOCK:-1024} accum=${ACCUM:-1}
source tests/e2e/lib_check.sh; source tests/e2e/lib_mpi.sh
user_bucket_mb=${AERO_DIST_BUCKET_MB:-}
mpi_setup 1
# The tests' tiny buckets (mpi_setup) are not what a user runs: the default (25 MB) unless given.
if [[ -n $user_bucket_mb ]]; then export AERO_DIST_BUCKET_MB=$user_bucket_mb; else unset AERO_DIST_BUCKET_MB; fi
d=$(mktemp -d /tmp/aero-mpi-bench.XXXXXX)
trap 'netns_cleanup; rm -rf "$d"' EXIT
netns=0
if [[ $(id -u) == 0 ]] && command -v ip > /dev/null; then netns_setup "$d"; netns=1; fi
vocab=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['model']['vocab_size'])" "$config")
# Random tokens: the rate does not depend on what is learned.
/usr/bin/python3 - "$d/train.bin" "$vocab" << 'PY'
import struct, sys, random
path, vocab = sys.argv[1], int(sys.argv[2])
n, width = 2_000_000, 2 if vocab <= 65536 else 4
random.seed(1)
with open(path, "wb") as f:
    f.write(b"AEROTOK\0" + struct.pack("<IIIIQ", 1, width, vocab, 0, n))
    f.write(struct.pack("<%d%s" % (n, "H" if width == 2 else "I"), *(random.randrange(vocab) for _ in range(n))))
PY
common=(--set data.train="$d/train.bin" --set data.val= --set data.test= --set data.tokenizer=
        --set train.eval_every=0 --set train.checkpoint_every=0 --set train.log_every=1
        --set train.batch_size="$batch" --set train.grad_accum="$accum" --set train.threads=1
        --set model.block_size="$block" --set train.keep_last=1 --set train.zero="${ZERO:-true}")
# Every process under /usr/bin/time: user + system seconds into $d/cpu.RANK.
cat > "$d/timed.sh" << SH
#!/bin/sh
exec /usr/bin/time -f "%U %S" -o "$d/cpu.\${OMPI_COMM_WORLD_RANK:-0}" "\$@"
SH
chmod +x "$d/timed.sh"
# train KIND STEPS: one run (one | two | tcp); sets cpu (seconds, all ranks) and stats (median
# tokens/s, all-reduce share and wait in ms over the steps after the first).
train() {
  local kind=$1 n=$2 out=$d/run
  rm -rf "$out" "$d"/cpu.*
  local args=(train -c "$config" "${common[@]}" --set train.max_steps="$n" --set train.out_dir="$out")
  case $kind in
    one) OMP_NUM_THREADS=1 "$d/timed.sh" "$A" "${args[@]}" > "$d/$kind.log" 2>&1 ;;
    two) mpi_run 2 "$d/timed.sh" "$A" "${args[@]}" > "$d/$kind.log" 2>&1 ;;
    # shellcheck disable=SC2046
    tcp) ip netns exec "$NS_A" mpirun $(netns_mpirun_flags) -x OMP_NUM_THREADS=1 \
           "$d/timed.sh" "$A" "${args[@]}" > "$d/$kind.log" 2>&1 ;;
  esac || { cat "$d/$kind.log"; fail "$kind, $n steps"; }
  cpu=$(cat "$d"/cpu.* | awk '{s += $1 + $2} END {print s}')
  stats=$(/usr/bin/python3 - "$out/metrics.jsonl" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][1:] or [{"tokens_per_s": 0}]
tok = statistics.median(r["tokens_per_s"] for r in rows)
share = statistics.median(r.get("allreduce_share", 0) for r in rows)
wait = statistics.median(r.get("allreduce_wait_ms", 0) for r in rows)
print(f"{tok:.1f} {share:.4f} {wait:.1f}")
PY
)
  rm -rf "$out"
}
kinds=(one two); [[ $netns == 1 ]] && kinds+=(tcp)
[[ -n ${KINDS:-} ]] && read -r -a kinds <<< "one $KINDS"  # e.g. KINDS=tcp: 1 process and tcp
declare -A res
for ((r = 0; r < rounds; r++)); do
  line="round $((r + 1)):"
  for k in "${kinds[@]}"; do
    train "$k" 1; c1=$cpu
    train "$k" "$steps"
    per=$(awk -v a="$cpu" -v b="$c1" -v n="$steps" 'BEGIN { printf "%.3f", (a - b) / (n - 1) }')
    res[$k]+="$stats $per"$'\n'
    line+=" $k ${stats%% *} tok/s, ${per} CPU s/step;"
  done
  echo "$line"
done
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { printf '%s' "${res[$1]}" | awk -v c="$2" 'NF {print $c}' | median; }
base=$(col one 1) base_cpu=$(col one 4)
echo "$(basename "$config" .json), global batch $accum x $batch x $block tokens, 1 thread per process, train.zero=${ZERO:-true}, $rounds round(s) x $steps steps (machine shared with other work)"
printf '%-22s %8s %8s %10s %12s %11s %9s %9s\n' run "tok/s" speed-up efficiency "all-reduce %" "wait ms" "CPU s" "CPU eff."
for k in "${kinds[@]}"; do
  label="1 process"; [[ $k == two ]] && label="2 ranks (shared mem)"; [[ $k == tcp ]] && label="2 ranks (netns TCP)"
  awk -v l="$label" -v t="$(col $k 1)" -v b="$base" -v s="$(col $k 2)" -v w="$(col $k 3)" \
      -v c="$(col $k 4)" -v bc="$base_cpu" -v k="$k" 'BEGIN {
    n = k == "one" ? 1 : 2
    printf "%-22s %8.1f %7.2fx %9.1f%% %11.1f%% %11.1f %9.2f %8.1f%%\n", l, t, t / b, 100 * t / b / n,
           100 * s, w, c, 100 * bc / c }'
done
