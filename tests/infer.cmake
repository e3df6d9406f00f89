# Inference end to end on the command line: a tiny char-level model trained for a few hundred
# steps on the GPL-3 text every Debian system has, then generate --batch-file, quantize (with the
# perplexity check) and chat from a pipe.

set(AERO_INFER_SETUP "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
cp /usr/share/common-licenses/GPL-3 raw.txt  # base-files: English prose, paragraphs as documents
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$($A data inspect shards/train.bin | sed -n 's/.*vocab \\([0-9]*\\),.*/\\1/p')
cat > c.json <<JSON
{\"model\": {\"vocab_size\": $V, \"block_size\": 64, \"n_layer\": 1, \"n_head\": 2, \"n_embd\": 32,
           \"ffn_hidden\": 64, \"pos\": \"rope\", \"norm\": \"rmsnorm\", \"act\": \"swiglu\"},
 \"train\": {\"batch_size\": 16, \"max_steps\": 300, \"lr\": 0.01, \"warmup_steps\": 10,
           \"checkpoint_every\": 300, \"eval_every\": 300, \"eval_batches\": 2, \"test_batches\": 2,
           \"log_every\": 100, \"threads\": 1, \"out_dir\": \"run\"},
 \"data\": {\"train\": \"shards/train.bin\", \"val\": \"shards/val.bin\", \"test\": \"shards/test.bin\",
          \"tokenizer\": \"chars.json\"}}
JSON
$A train -c c.json > train.log 2>&1
")

# --batch-file: one JSON line per prompt in input order, and greedy batched text equals the text
# of the same prompt generated alone.
add_test(NAME infer.cli_generate_batch_file
         COMMAND bash -c "${AERO_INFER_SETUP}
printf 'line 12: the\\nline 3\\n\\nline 250: the quick brown\\n' > prompts.txt
$A generate -m run --batch-file prompts.txt --max-new 24 --temperature 0 --threads 2 > out.jsonl
cat out.jsonl
test $(wc -l < out.jsonl) = 4
$A generate -m run -p 'line 250: the quick brown' --max-new 24 --temperature 0 > one.txt 2> one.err
${AERO_PYTHON} -c \"
import json
rows = [json.loads(l) for l in open('out.jsonl')]
assert [r['prompt'] for r in rows] == ['line 12: the', 'line 3', '', 'line 250: the quick brown'], rows
assert all(r['finish'] == 'length' and r['tokens'] == 24 for r in rows), rows
alone = open('one.txt').read()
assert alone == rows[3]['prompt'] + rows[3]['text'] + '\\\\n', (alone, rows[3])
print('batch-file-ok')
\"
$A generate -m run -p 'line 1' --max-new 200 --context stop --ignore-eos --temperature 0 2>&1 >/dev/null | grep -o 'finished by context'")
set_tests_properties(infer.cli_generate_batch_file PROPERTIES LABELS "cli;slow" TIMEOUT 300
  PASS_REGULAR_EXPRESSION "batch-file-ok\nfinished by context")

# quantize: sizes, the perplexity of q8 within 1% and bf16 within 0.2% of f32 on the validation
# split, the quantized file runs generate and chat (tests/e2e/chat_piped.sh: its output and
# prompts checked by content), and a format mismatch is one clear error.
add_test(NAME infer.cli_quantize_and_chat
         COMMAND bash -c "${AERO_INFER_SETUP}
$A quantize -m run --format q8 -o m.q8 --eval-data shards/val.bin | tee q8.log
$A quantize -m run --format bf16 -o m.bf16 --eval-data shards/val.bin | tee bf16.log
pct() { sed -n 's/.*(\\([-+][0-9.]*\\)%.*/\\1/p' $1; }
awk -v q=$(pct q8.log) -v b=$(pct bf16.log) 'BEGIN { if (q < 0) q = -q; if (b < 0) b = -b; if (q <= 1.0 && b <= 0.2) print \"ppl-within-bounds\"; else print \"ppl-off\", q, b }'
grep -q 'weights f32 .* -> q8 .*(2[0-9].[0-9]%)' q8.log && echo size-q8-ok
$A generate -m m.q8 -p 'line 7' --max-new 8 --temperature 0 > /dev/null 2>&1 && echo q8-generate-ok
bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/chat_piped.sh $A m.bf16 ${AERO_PYTHON}
echo 'the license' | $A chat -m run --temperature 0 > /dev/null && echo chat-default-max-new-ok
set +e
$A generate -m m.q8 --format bf16 -p x; echo rc=$?")
set_tests_properties(infer.cli_quantize_and_chat PROPERTIES LABELS "cli;slow" TIMEOUT 300
  PASS_REGULAR_EXPRESSION "ppl-within-bounds\nsize-q8-ok\nq8-generate-ok\n.*chat-piped-ok\nchat-default-max-new-ok\n.*m.q8 holds q8 weights.*rc=1")
