#!/usr/bin/env bash
# The diffusion sampler on a model trained here: a llada the size of char-small
# (configs/diffusion-char-small.json) and, as the judge, a char-small GPT, each trained for the
# same wall-clock budget on the KJV Bible, or with CORPUS=quickstart on aero quickstart's
# Vietnamese corpus (char tokenizer + <|mask|>). Then diffusion_bench
# runs the reference algorithm and aero's fast options side by side (tokens/s, ratio, quality)
# and aero eval prints the llada's bound beside the GPT's perplexity on the same validation split.
# Both use rotary positions, as LLaDA does: with learned ones the llada stalls at the unigram
# bound at context 256 (3.05 nats/token after 10 minutes; rotary: 2.26 after 3).
# The sampler runs LLaDA's default settings (answers of 128 tokens in blocks of 32, one step per
# token, then 64 and 32 steps), so both models get a context of CONTEXT (default 256) tokens.
# Usage: [CONTEXT=256] [MODELS=dir] bench/diffusion.sh [build dir] [minutes of training per model
#        (default 3)] [extra diffusion_bench arguments, e.g. --temperature 0.8 or --batched]
# MODELS: keep the data and both models in dir, and reuse them when they are already there (the
# minutes are then ignored), to run the sampler again with other settings.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../build}" && pwd)"
minutes="${2:-3}"
context="${CONTEXT:-256}"
shift 2 || shift $# || true
A="$build/aero"
if [[ -n ${MODELS:-} ]]; then
  mkdir -p "$MODELS"; d=$(cd "$MODELS" && pwd)
else
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fi
cd "$d"
if [[ ! -f gpt/latest ]]; then
  rm -rf llada gpt
  if [[ ${CORPUS:-kjv} == quickstart ]]; then  # aero quickstart's corpus (seconds of training)
    "$A" quickstart --dir qs --minutes 0.1 --no-chat > qs.log 2>&1 || { cat qs.log; exit 1; }
    cp qs/corpus.txt text.txt
  else
    bible 'Gen1:1-Rev22:21' > text.txt
  fi
  "$A" data split -i text.txt -o split --seed 1 > /dev/null
  "$A" tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
  M=$("$A" tokenizer add-tokens -m chars.json '<|mask|>' | sed -n 's/^<|mask|>\t//p')
  "$A" data prepare -i split -t chars.json -o shards > /dev/null
  V=$("$A" data inspect shards/train.bin | sed -n 's/.*vocab \([0-9]*\),.*/\1/p')
  common=(--set train.max_steps=100000 --set train.max_minutes=$minutes --set train.eval_every=0
          --set train.test_batches=20 --set model.vocab_size=$V --set train.threads=2
          --set model.block_size=$context --set model.pos=rope
          --set data.train=shards/train.bin --set data.val=shards/val.bin
          --set data.test=shards/test.bin --set data.tokenizer=chars.json)
  AERO_THREADS=2 "$A" train -c "$here/../configs/diffusion-char-small.json" "${common[@]}" \
    --set model.mask_id=$M --set train.out_dir=llada > llada.log 2>&1
  AERO_THREADS=2 "$A" train -c "$here/../configs/char-small.json" "${common[@]}" \
    --set train.out_dir=gpt > gpt.log 2>&1
fi
echo "models in $d: llada $(grep -o 'step [0-9]*' llada.log | tail -1), gpt $(grep -o 'step [0-9]*' gpt.log | tail -1)"
"$A" eval -m llada -d shards/val.bin --batches 40 --mc 4
"$A" eval -m gpt -d shards/val.bin --batches 40
sed -n '1,400p' split/test.txt | awk 'length($0) > 30' > prompts.txt
AERO_THREADS=2 "$build/bench/diffusion_bench" --model llada --judge gpt --prompts prompts.txt \
  --n 8 --gen 128 --block 32 --steps 128,64,32 --threshold 0.9 "$@"
