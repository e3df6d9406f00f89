#!/usr/bin/env bash
# `aero export gguf` of a gpt2-shaped model (learned positions, LayerNorm, GELU, no biases
# exported as zeros, tied head) as f32, q8_0 and f16, each read back and run by gguf_read.py
# against the checkpoint. ctest's regex checks the reports.   formats_export_gguf_gpt2.sh AERO PYTHON
set -euo pipefail
A=$(realpath "$1"); PY=$2; here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_formats.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
formats_setup
config '"pos": "learned", "norm": "layernorm", "act": "gelu", "bias": false, "tie_head": true' g
"$A" export gguf 2>>w.txt -m g -o g.gguf
P g.gguf --ckpt g/ckpt-20
"$A" export gguf 2>>w.txt -m g -o g8.gguf --type q8_0
P g8.gguf --ckpt g/ckpt-20
"$A" export gguf 2>>w.txt -m g -o g16.gguf --type f16
P g16.gguf --ckpt g/ckpt-20
sort -u w.txt
