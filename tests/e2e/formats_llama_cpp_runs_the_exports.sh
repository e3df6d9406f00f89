#!/usr/bin/env bash
# llama.cpp itself (node-llama-cpp, installed by scripts/llama-cpp.sh) runs every kind of export:
# it must tokenize as aero does and give the checkpoint's next-token logits (up to a constant)
# within the type's rounding. Without llama.cpp: skipped (77), but a failure under CI=true.
#   formats_llama_cpp_runs_the_exports.sh AERO PYTHON NODE_LLAMA_CPP_DIR HF_GPT2_DIR
set -euo pipefail
A=$(realpath "$1"); PY=$2; L=${AERO_NODE_LLAMA_CPP:-$3}; HF=$4; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_formats.sh"
if [[ ! -x $L/bin/node || ! -f $L/node_modules/node-llama-cpp/package.json ]]; then
  if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
    fail "llama.cpp is not installed in $L (scripts/llama-cpp.sh): CI must run this test"
  fi
  echo "llama.cpp is not installed in $L (scripts/llama-cpp.sh): skipped"; exit 77
fi
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
formats_setup
check() {  # GGUF CKPT TOKENIZER TEXT
  local ids; ids=$("$A" tokenizer encode -m "$3" -t "$4" | tr ' ' ,)
  P "$1" --ckpt "$2" --llama-cpp "$L" --text "$4" --ids "$ids" > check.txt || { cat check.txt; fail "gguf_read.py on $1"; }
  grep -E '^llama.cpp' check.txt
  grep -q gguf-ok check.txt || { cat check.txt; fail "llama.cpp disagrees on $1"; }
  echo "llama.cpp agrees on $1"
}
config '"pos": "rope", "rope_theta": 500, "norm": "rmsnorm", "act": "swiglu"' l
config '"pos": "learned", "norm": "layernorm", "act": "gelu", "tie_head": true' g
for t in f32 q8_0 bf16; do
  "$A" export gguf -m l -o l-$t.gguf --type $t 2> /dev/null; check l-$t.gguf l/ckpt-20 chars.json 'the qu'
  "$A" export gguf -m g -o g-$t.gguf --type $t 2> /dev/null; check g-$t.gguf g/ckpt-20 chars.json 'lazy d'
done
"$A" tokenizer train --type bpe -i raw.txt -o spm.model --vocab-size 320 > /dev/null
"$A" data prepare -i split -t spm.model -o spm_shards --threads 1 > /dev/null
config '"pos": "rope", "norm": "rmsnorm", "act": "swiglu"' s spm.model spm_shards
"$A" export gguf -m s -o s.gguf
check s.gguf s/ckpt-20 spm.model 'brown fox, Việt'
"$A" import hf-gpt2 --in "$HF" --out hf > /dev/null
"$A" export gguf -m hf -o hf.gguf --type f16
check hf.gguf hf/ckpt-0 hf/tokenizer 'Tiếng Việt là ngôn ngữ'
check hf.gguf hf/ckpt-0 hf/tokenizer "I'm here, you're there!"
echo llama-cpp-ok
