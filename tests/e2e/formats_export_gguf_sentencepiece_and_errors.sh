#!/usr/bin/env bash
# A SentencePiece tokenizer goes into GGUF as tokenizer.ggml.model "llama" with its own pieces
# and scores; a tokenizer that cannot be found, options llama.cpp has no architecture for and a
# missing --tokenizer are refused, naming them (ctest's regex checks the messages).
#   formats_export_gguf_sentencepiece_and_errors.sh AERO PYTHON
set -euo pipefail
A=$(realpath "$1"); PY=$2; here=$(cd "$(dirname "$0")" && pwd); source "$here/lib_formats.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
formats_setup
"$A" tokenizer train --type bpe -i raw.txt -o spm.model --vocab-size 100 --no-byte-fallback > /dev/null
"$A" data prepare -i split -t spm.model -o spm_shards --threads 1 > /dev/null
config '"pos": "learned", "act": "gelu"' g spm.model spm_shards
"$A" export gguf -m g -o s.gguf
P s.gguf
"$A" info --gguf s.gguf | grep -E 'GGUF v3|architecture|tokenizer.ggml.tokens|blk.0.attn_qkv.weight'
set +e
cd split; "$A" export gguf -m ../g -o x.gguf; echo rc=$?; cd ..
config '"pos": "learned", "pre_ln": false' p
"$A" export gguf -m p -o p.gguf; echo rc=$?
[[ ! -e p.gguf ]] && echo no-file
"$A" export gguf -m g -o x.gguf --tokenizer nope.model; echo rc=$?
