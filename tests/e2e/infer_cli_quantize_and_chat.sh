#!/usr/bin/env bash
# quantize: sizes, the perplexity of q8 within 1% and bf16 within 0.2% of f32 on the validation
# split; the quantized files run generate and chat (chat_piped.sh checks its output and prompts
# by content), and a format mismatch is one clear error.
#   infer_cli_quantize_and_chat.sh AERO [PYTHON]
set -euo pipefail
A=$(realpath "$1"); PY=${2:-/usr/bin/python3}; here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_check.sh"; source "$here/lib_infer.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
infer_setup
"$A" quantize -m run --format q8 -o m.q8 --eval-data shards/val.bin | tee q8.log
"$A" quantize -m run --format bf16 -o m.bf16 --eval-data shards/val.bin | tee bf16.log
pct() { sed -n 's/.*(\([-+][0-9.]*\)%.*/\1/p' "$1"; }
awk -v q="$(pct q8.log)" -v b="$(pct bf16.log)" 'BEGIN { if (q < 0) q = -q; if (b < 0) b = -b;
  if (q <= 1.0 && b <= 0.2) print "ppl-within-bounds"; else { print "FAIL perplexity off by", q "% (q8, want <= 1%),", b "% (bf16, want <= 0.2%)"; exit 1 } }'
has "q8 size" 'weights f32 .* -> q8 .*\(2[0-9].[0-9]%\)' < q8.log
"$A" generate -m m.q8 -p 'line 7' --max-new 8 --temperature 0 > /dev/null 2>&1 || fail "generate from m.q8 failed"
bash "$here/chat_piped.sh" "$A" m.bf16 "$PY"
echo 'the license' | "$A" chat -m run --temperature 0 > /dev/null || fail "chat with the default --max-new failed"
expect_error "format mismatch" 'm.q8 holds q8 weights' "$A" generate -m m.q8 --format bf16 -p x
echo quantize-and-chat-ok
