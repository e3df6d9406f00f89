#!/usr/bin/env bash
# T5 generation, aero beside PyTorch with a KV cache (bench/t5_torch.py), in the same run, on
# random weights of a small T5 (configs/t5-tiny.json) and of the mt5-base shape
# (configs/mt5-base.json): encoder tokens/s, greedy decoder tokens/s at batch 1 and 8, beam
# search (4 beams) output tokens/s, and aero / PyTorch for each; then greedy batch 1 as a share
# of its memory-bandwidth ceiling (the weights one decoder step reads over the read bandwidth
# measured in the same run, per format) and each side's peak resident memory. Same thread count
# both sides; on a machine shared with other work, 1 thread gives the steadier numbers.
# Usage: bench/t5.sh [build dir] [threads (default 2)] [decoder steps (default 32)]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
threads="${2:-2}"
steps="${3:-32}"
# FORMATS (default "f32 bf16 q8"): aero's decoder weights, each beside PyTorch's f32; CFGS
# (default "t5-tiny mt5-base"): the configs; CLOCK=cpu times both sides by their CPU time per
# thread (a machine shared with other work; aero then runs with OMP_WAIT_POLICY=passive, as
# PyTorch always does here).
formats="${FORMATS:-f32 bf16 q8}"
for cfg in ${CFGS:-t5-tiny mt5-base}; do
  c="$here/../configs/$cfg.json"
  repeat=3
  [[ $cfg == mt5-base ]] && repeat=1
  p=$(OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$here/t5_torch.py" \
    "$c" --new "$steps" --repeat $repeat --threads "$threads" --clock "${CLOCK:-wall}")
  a=""
  wait=()
  [[ ${CLOCK:-wall} == cpu ]] && wait=(OMP_WAIT_POLICY=PASSIVE)
  for f in $formats; do
    a+=$(env "${wait[@]}" AERO_THREADS=$threads "$build/bench/t5_bench" "$c" --new "$steps" \
      --repeat $repeat --format $f --clock "${CLOCK:-wall}")$'\n'
  done
  A="$a" P="$p" CFG=$cfg /usr/bin/python3 - <<'PY'
import json, os
p = json.loads(os.environ["P"])
rows = [json.loads(l) for l in os.environ["A"].splitlines() if l.strip()]
print(f"{os.environ['CFG']} ({rows[0]['params'] / 1e6:.1f}M parameters, {rows[0]['threads']} "
      f"threads, torch {p['torch']} f32 with a KV cache)")
head = "".join(f"{'aero ' + a['format']:>11} {'ratio':>6}" for a in rows)
print(f"  {'':16} {'pytorch':>9}{head}")
for k, name in (("encoder_tok_s", "encoder tok/s"), ("greedy_b1_tok_s", "greedy b1 tok/s"),
                ("greedy_b8_tok_s", "greedy b8 tok/s"), ("beam4_tok_s", "beam 4 tok/s")):
    cells = "".join(f"{a[k]:11.1f} {a[k] / p[k]:5.2f}x" for a in rows)
    print(f"  {name:16} {p[k]:9.1f}{cells}")
cells = "".join(f"{100 * a['b1_of_ceiling']:10.0f}% {'':6}" for a in rows)
print(f"  {'b1 / ceiling':16} {'':9}{cells}")
cells = "".join(f"{a['peak_rss_mb']:11.0f} {a['peak_rss_mb'] / p['peak_rss_mb']:5.2f}x" for a in rows)
print(f"  {'peak RSS MB':16} {p['peak_rss_mb']:9.0f}{cells}")
for a in rows:
    print(f"  {a['format']}: {a['step_weight_bytes'] / 1e6:.1f} MB of weights per decoder step, "
          f"read bandwidth {a['read_gbs']:.1f} GB/s, ceiling {a['ceiling_tok_s']:.1f} tok/s")
PY
done
