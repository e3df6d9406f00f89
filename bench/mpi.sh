#!/usr/bin/env bash
# Data-parallel scaling over processes: `aero train` tokens/s of 2 ranks x 1 thread against 1
# process x 1 thread with the same global batch, on this machine (shared memory between the
# ranks) and over TCP between two network namespaces joined by a veth pair (as two machines;
# needs root). Prints the speed-up, the efficiency (speed-up / 2) and the share of the step the
# ranks waited for the gradient all-reduce after backward. Rounds alternate the three runs, so
# a burst of other work on the machine hits all of them; each run's rate is the median of its
# steps after the first.
#   bench/mpi.sh [ROUNDS] [STEPS] [CONFIG]   (default: 2 rounds, 6 steps, configs/gpt2-124m.json)
#   BATCH=2 BLOCK=1024: the global batch (rows x context); each rank trains BATCH/2 rows.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "${AERO_BUILD_DIR:-build}/aero")
rounds=${1:-2} steps=${2:-6} config=$(realpath "${3:-configs/gpt2-124m.json}")
batch=${BATCH:-2} block=${BLOCK:-1024}
source tests/e2e/lib_check.sh; source tests/e2e/lib_mpi.sh
mpi_setup 1
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
        --set train.batch_size="$batch" --set train.grad_accum=1 --set train.max_steps="$steps"
        --set train.threads=1 --set model.block_size="$block" --set train.keep_last=1)
# rate RUN_DIR: median tokens/s and all-reduce share over the steps after the first.
rate() {
  /usr/bin/python3 - "$1/metrics.jsonl" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][1:]
tok = statistics.median(r["tokens_per_s"] for r in rows)
share = statistics.median(r.get("allreduce_share", 0) for r in rows)
wait = statistics.median(r.get("allreduce_wait_ms", 0) for r in rows)
print(f"{tok:.1f} {share:.4f} {wait:.1f}")
PY
}
one=() two=() tcp=()
for ((r = 0; r < rounds; r++)); do
  rm -rf "$d/one" "$d/two" "$d/tcp"
  OMP_NUM_THREADS=1 "$A" train -c "$config" "${common[@]}" --set train.out_dir="$d/one" > "$d/one.log" 2>&1 ||
    { cat "$d/one.log"; fail "1 process"; }
  one+=("$(rate "$d/one")"); rm -rf "$d/one"
  mpi_run 2 "$A" train -c "$config" "${common[@]}" --set train.out_dir="$d/two" > "$d/two.log" 2>&1 ||
    { cat "$d/two.log"; fail "2 ranks"; }
  two+=("$(rate "$d/two")"); rm -rf "$d/two"
  if [[ $netns == 1 ]]; then
    # shellcheck disable=SC2046
    ip netns exec "$NS_A" mpirun $(netns_mpirun_flags) -x OMP_NUM_THREADS=1 \
      "$A" train -c "$config" "${common[@]}" --set train.out_dir="$d/tcp" > "$d/tcp.log" 2>&1 ||
      { cat "$d/tcp.log"; fail "2 ranks over TCP"; }
    tcp+=("$(rate "$d/tcp")"); rm -rf "$d/tcp"
  fi
  echo "round $((r + 1)): 1 process ${one[-1]%% *} tok/s; 2 ranks ${two[-1]%% *}; 2 ranks over TCP ${tcp[-1]:-"-"}" | cut -c1-200
done
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { printf '%s\n' "${@:2}" | awk -v c="$1" '{print $c}' | median; }
base=$(col 1 "${one[@]}")
echo "$(basename "$config" .json), global batch $batch x $block tokens, 1 thread per process, $rounds rounds x $steps steps (machine shared with other work)"
printf '%-22s %9s %8s %10s %14s %14s\n' run "tok/s" speed-up efficiency "all-reduce %" "wait ms/step"
printf '%-22s %9.1f %8s %10s %14s %14s\n' "1 process" "$base" 1.00x - - -
for name in two tcp; do
  declare -n runs=$name
  [[ ${#runs[@]} -gt 0 ]] || continue
  t=$(col 1 "${runs[@]}") s=$(col 2 "${runs[@]}") w=$(col 3 "${runs[@]}")
  label="2 ranks (shared mem)"; [[ $name == tcp ]] && label="2 ranks (netns TCP)"
  awk -v l="$label" -v t="$t" -v b="$base" -v s="$s" -v w="$w" \
    'BEGIN { printf "%-22s %9.1f %7.2fx %9.1f%% %13.1f%% %14.1f\n", l, t, t / b, 50 * t / b, 100 * s, w }'
done
