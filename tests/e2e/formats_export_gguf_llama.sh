#!/usr/bin/env bash
# `aero export gguf` of a llama-shaped model (RoPE theta 500, RMSNorm, SwiGLU, untied head; Q and
# K permuted for llama.cpp's RoPE) as f32, q8_0 and bf16, each run by gguf_read.py against the
# checkpoint. ctest's regex checks the reports.   formats_export_gguf_llama.sh AERO PYTHON
set -euo pipefail
A=$(realpath "$1"); PY=$2; here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_formats.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
formats_setup
config '"pos": "rope", "rope_theta": 500, "norm": "rmsnorm", "act": "swiglu", "norm_eps": 1e-6' l
"$A" export gguf 2>>w.txt -m l -o l.gguf --name tiny-llama
P l.gguf --ckpt l/ckpt-20
"$A" export gguf 2>>w.txt -m l -o l8.gguf --type q8_0
P l8.gguf --ckpt l/ckpt-20 --ids 3,9,27,1,1,40,2
"$A" export gguf 2>>w.txt -m l -o lb.gguf --type bf16
P lb.gguf --ckpt l/ckpt-20
