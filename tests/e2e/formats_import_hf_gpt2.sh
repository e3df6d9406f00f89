#!/usr/bin/env bash
# `aero import hf-gpt2` on the command line: the run directory works with info, generate (the
# copied GPT-2 tokenizer) and export back to GGUF (gpt2 vocabulary with merges); errors name the
# file (ctest's regex checks the reports).   formats_import_hf_gpt2.sh AERO PYTHON HF_GPT2_DIR
set -euo pipefail
A=$(realpath "$1"); PY=$2; HF=$3; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_formats.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
"$A" import hf-gpt2 --in "$HF" --out run
"$A" info -m run > info.txt; head -3 info.txt
"$A" generate -m run -p 'Tiếng Việt' --max-new 5 --temperature 0 > gen.txt 2>&1
echo generate-ok
"$A" export gguf -m run -o run.gguf
P run.gguf --ckpt run/ckpt-0
set +e
"$A" import hf-gpt2 --in "$HF" --out run; echo rc=$?
mkdir bad; cp "$HF"/* bad/; sed -i 's/gelu_new/gelu/' bad/config.json
"$A" import hf-gpt2 --in bad --out run2; echo rc=$?
"$A" import hf-gpt2 --in nope --out run3; echo rc=$?
