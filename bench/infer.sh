#!/usr/bin/env bash
# The inference engine on a GPT-2-124M-shaped model with random weights, 2 threads: prefill
# tokens/s at prompts of 64 and 512, decode tokens/s over 128 new tokens (batch 1) for f32,
# bf16 and q8, batched decode with 8 sequences against 1, decode against the memory-bandwidth
# ceiling — and llama.cpp on the same weights (exported to GGUF f32 / q8_0) in the same run,
# when scripts/llama-cpp.sh has installed it (otherwise the issue's numbers for it).
# Usage: bench/infer.sh [build dir] [extra infer_bench arguments]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
shift || true
export AERO_NODE_LLAMA_CPP=${AERO_NODE_LLAMA_CPP:-$HOME/.cache/aero/node-llama-cpp}
llama=()
if [[ -x "$AERO_NODE_LLAMA_CPP/bin/node" && -d "$AERO_NODE_LLAMA_CPP/node_modules/node-llama-cpp" ]]; then
  llama=(--llama-cpp "$here/llama_cpp_bench.mjs")
fi
AERO_THREADS=2 "$build/bench/infer_bench" --decode 128 --repeat 3 "${llama[@]}" "$@"
