#!/usr/bin/env bash
# T5 generation, aero beside PyTorch with a KV cache (bench/t5_torch.py), in the same run, on
# random weights of a small T5 (configs/t5-tiny.json) and of the mt5-base shape
# (configs/mt5-base.json): encoder tokens/s, greedy decoder tokens/s at batch 1 and 8, beam
# search (4 beams) output tokens/s, and aero / PyTorch for each. Same thread count both sides;
# on a machine shared with other work, 1 thread gives the steadier numbers.
# Usage: bench/t5.sh [build dir] [threads (default 2)] [decoder steps (default 32)]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
threads="${2:-2}"
steps="${3:-32}"
# FORMATS (default "f32 bf16 q8"): aero's decoder weights, each beside PyTorch's f32; CFGS
# (default "t5-tiny mt5-base"): the configs.
formats="${FORMATS:-f32 bf16 q8}"
for cfg in ${CFGS:-t5-tiny mt5-base}; do
  c="$here/../configs/$cfg.json"
  repeat=3
  [[ $cfg == mt5-base ]] && repeat=1
  p=$(/usr/bin/python3 "$here/t5_torch.py" "$c" --new "$steps" --repeat $repeat --threads "$threads")
  a=""
  for f in $formats; do
    a+=$(AERO_THREADS=$threads "$build/bench/t5_bench" "$c" --new "$steps" --repeat $repeat \
      --format $f)$'\n'
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
PY
done
