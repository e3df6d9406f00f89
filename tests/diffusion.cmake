# Masked diffusion (LLaDA, issue 15): the PyTorch reference truth for the parity tests
# (tests/parity/test_llada_parity.cpp), and the command line end to end: a llada model with a mask
# token added to a char tokenizer, trained with train.objective=diffusion, killed and resumed bit
# for bit, evaluated (the Monte-Carlo bound), sampled, and the errors a user can cause.

add_test(NAME parity.reference.llada
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/llada_ref.py
                 ${CMAKE_CURRENT_BINARY_DIR}/parity_data)
set_tests_properties(parity.reference.llada PROPERTIES FIXTURES_SETUP aero_parity_ref
                     LABELS parity)

# Corpus -> split -> char tokenizer + <|mask|> -> shards -> c.json (vocab and mask id from them).
set(AERO_DIFFUSION_SETUP "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
for i in $(seq 1 300); do echo \"line $i: the quick brown fox jumps over the lazy dog $((i * 7 % 13)) times\"; echo; done > raw.txt
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A tokenizer train --type char -i split/train.txt -o chars.json > /dev/null
M=$($A tokenizer add-tokens -m chars.json '<|mask|>' | sed -n 's/^<|mask|>\\t//p')
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
V=$($A data inspect shards/train.bin | sed -n 's/.*vocab \\([0-9]*\\),.*/\\1/p')
cat > c.json <<JSON
{\"model\": {\"arch\": \"llada\", \"vocab_size\": $V, \"mask_id\": $M, \"block_size\": 32,
           \"n_layer\": 1, \"n_head\": 2, \"n_embd\": 32, \"ffn_hidden\": 64, \"dropout_resid\": 0.1},
 \"train\": {\"objective\": \"diffusion\", \"random_length\": 0.1, \"batch_size\": 8,
           \"max_steps\": MAX_STEPS, \"lr\": 3e-3, \"warmup_steps\": 10, \"checkpoint_every\": 20,
           \"eval_every\": 100, \"eval_batches\": 2, \"test_batches\": 4, \"log_every\": 20,
           \"keep_last\": 2, \"threads\": 1, \"data_parallel\": 2, \"out_dir\": \"runA\"},
 \"data\": {\"train\": \"shards/train.bin\", \"val\": \"shards/val.bin\", \"test\": \"shards/test.bin\",
          \"tokenizer\": \"chars.json\"}}
JSON
")

# kill -9 after the first checkpoint, then --resume: the same weights, bit for bit (masks, t and
# crops are a function of (seed, step, micro, row)).
string(REPLACE MAX_STEPS 200 AERO_DIFFUSION_SETUP_RESUME "${AERO_DIFFUSION_SETUP}")
add_test(NAME diffusion.cli_kill_and_resume_is_bit_exact
         COMMAND bash -c "${AERO_DIFFUSION_SETUP_RESUME}
$A train -c c.json > a.log 2>&1
want=$(sha256sum < runA/ckpt-200/model.safetensors)
$A train -c c.json --set train.out_dir=runB > b.log 2>&1 & pid=$!
while [ ! -e runB/latest ]; do sleep 0.02; done
kill -9 $pid; rc=0; wait $pid || rc=$?
echo killed rc=$rc at $(cat runB/latest)
test $rc = 137; test $(cat runB/latest) != ckpt-200
$A train -c c.json --set train.out_dir=runB --resume > c.log 2>&1
grep 'resumed from' c.log
got=$(sha256sum < runB/ckpt-200/model.safetensors)
echo \"$want\"; echo \"$got\"; test \"$want\" = \"$got\"
echo resume-bit-exact")
set_tests_properties(diffusion.cli_kill_and_resume_is_bit_exact PROPERTIES LABELS cli TIMEOUT 120
  PASS_REGULAR_EXPRESSION "resume-bit-exact")

# Learning: the Monte-Carlo bound of a trained model is far below the untrained one's (about
# ln V); info, eval --mc, generate --sampler diffusion (with --visual; without flags the model's
# sample_* settings, steps per token kept for another --gen-length), and the errors.
string(REPLACE MAX_STEPS 400 AERO_DIFFUSION_SETUP_LEARN "${AERO_DIFFUSION_SETUP}")
add_test(NAME diffusion.cli_learns_evaluates_samples
         COMMAND bash -c "${AERO_DIFFUSION_SETUP_LEARN}
$A info -c c.json | grep -E 'llada|bidirectional|mask token'
$A train -c c.json --set train.max_steps=1 --set train.out_dir=run0 --set model.sample_gen_length=8 --set model.sample_steps=4 --set model.sample_block_length=4 --set model.sample_cache=dual > z.log 2>&1
$A train -c c.json > a.log 2>&1
b0=$($A eval -m run0 -d shards/val.bin --mc 4 | tee /dev/stderr | sed -n 's/^loss bound \\([0-9.]*\\).*/\\1/p')
b1=$($A eval -m runA -d shards/val.bin --mc 4 | tee /dev/stderr | sed -n 's/^loss bound \\([0-9.]*\\).*/\\1/p')
echo \"bound untrained $b0, trained $b1\"; test -n \"$b0\"; test -n \"$b1\"
awk -v a=$b0 -v b=$b1 'BEGIN { if (b < 0.6 * a) print \"learned\" }'
$A generate -m run0 -p 'line 1' --temperature 0 --ignore-eos
$A generate -m run0 -p 'line 1' --temperature 0 --ignore-eos --gen-length 16
$A generate -m runA -p 'line 1' --sampler diffusion --gen-length 16 --block-length 8 --steps 8 --temperature 0 --visual
$A generate -m runA -p 'line 1' --sampler diffusion --gen-length 16 --steps 16 --temperature 0.8 --seed 4 --remasking margin --cfg-scale 1 --threshold 0.9
printf 'line 1\\nline 22: the\\nx\\n' > b.txt
G='--sampler diffusion --gen-length 16 --block-length 8 --steps 8 --temperature 0.8 --cache dual --threshold 0.5'
$A generate -m runA --batch-file b.txt $G --seed 5 | tee b.jsonl
$A generate -m runA -p 'line 22: the' $G --seed 6 > one.txt
ONE=\"$(cat one.txt)\" node -e 'const l = require(\"fs\").readFileSync(\"b.jsonl\", \"utf8\").trim().split(\"\\n\").map(JSON.parse);
const one = process.env.ONE.slice(\"line 22: the\".length);
if (l.length === 3 && l[1].text.trimEnd() === one.trimEnd()) console.log(\"batch-equals-single\")'
set +e
$A generate -m runA -p x --sampler diffusion --gen-length 10 --block-length 4; echo rc=$?
$A generate -m runA -p x --sampler diffusion --gen-length 16 --block-length 4 --steps 2; echo rc=$?
$A train -c c.json --set model.mask_id=-1 --set train.out_dir=runE; echo rc=$?
$A train -c c.json --set train.objective=all --set train.out_dir=runE; echo rc=$?")
set_tests_properties(diffusion.cli_learns_evaluates_samples PROPERTIES LABELS cli TIMEOUT 240
  PASS_REGULAR_EXPRESSION "llada: .*bidirectional attention, mask token [0-9]+.*learned.*8 tokens, 4 forward passes.*16 tokens, 8 forward passes.*forward passes.*forward passes.*batch-equals-single.*gen_length 10 is not divisible by block_length 4.*rc=1.*steps 2 is fewer than the 4 blocks.*rc=1.*model.mask_id is not set.*rc=1.*use train.objective=diffusion.*rc=1")

# A llada model served: aero chat from a pipe and aero serve's OpenAI endpoint (JSON and SSE)
# answer through the diffusion generator (make_generator picks it by the model's family); the
# stream sends each block as it is finalised; /ws with "steps" sends the answer after each step.
string(REPLACE MAX_STEPS 60 AERO_DIFFUSION_SETUP_SERVE "${AERO_DIFFUSION_SETUP}")
add_test(NAME diffusion.cli_chat_and_serve
         COMMAND bash -c "${AERO_DIFFUSION_SETUP_SERVE}
$A train -c c.json > a.log 2>&1
printf 'hello\\n' | $A chat -m runA --max-new 8 --temperature 0 && echo chat-ok
: > s.log
$A serve -m runA --port 0 --threads 1 --sessions s.db --system-prompt '' > s.log 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null; rm -rf $d' EXIT
for i in $(seq 1 200); do port=$(sed -n 's/.*listening on http:\\/\\/127.0.0.1:\\([0-9]*\\).*/\\1/p' s.log); test -n \"$port\" && break; sleep 0.05; done
U=http://127.0.0.1:$port
for i in $(seq 1 200); do test $(curl -s -o /dev/null -w '%{http_code}' $U/health) = 200 && break; sleep 0.05; done
curl -s $U/v1/completions -d '{\"prompt\":\"line 1\",\"max_tokens\":8,\"temperature\":0}' | tee r.json
grep -q '\"object\":\"text_completion\"' r.json && echo completion-ok
curl -sN $U/v1/completions -d '{\"prompt\":\"line 2\",\"max_tokens\":16,\"stream\":true}' > sse.txt
cat sse.txt; tail -n 2 sse.txt | head -n 1 | grep -qF 'data: [DONE]' && echo sse-ok
node --experimental-websocket --no-warnings ${CMAKE_CURRENT_SOURCE_DIR}/server/ws_steps.js $U
C='-s -w \\n%{http_code}\\n'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"max_tokens\":8,\"diffusion\":{\"remasking\":\"lowest\"}}'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"max_tokens\":8,\"diffusion\":{\"block_length\":4,\"steps\":3}}'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"diffusion\":{\"gen_length\":6,\"block_length\":4}}'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"diffusion\":{\"gen_length\":40}}'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"diffusion\":{\"gen_length\":8,\"cache\":\"dual\"}}'
curl $C $U/v1/completions -d '{\"prompt\":\"x\",\"diffusion\":{\"cache\":\"all\"}}'")
set_tests_properties(diffusion.cli_chat_and_serve PROPERTIES LABELS cli TIMEOUT 120
  PASS_REGULAR_EXPRESSION "chat-ok.*completion-ok.*sse-ok.*ws-steps-ok.*diffusion.remasking must be one of[^\n]*\"param\":\"diffusion.remasking\"[^\n]*\n400.*diffusion.steps 3 must be a multiple of the 2 blocks[^\n]*\"param\":\"diffusion.steps\"[^\n]*\n400.*gen_length 6 is not divisible[^\n]*\"param\":\"diffusion.gen_length\"[^\n]*\n400.*diffusion.gen_length must be below the model's context of 32 tokens, got 40[^\n]*\"param\":\"diffusion.gen_length\"[^\n]*\n400.*text_completion[^\n]*\n200.*diffusion.cache must be one of none, prefix, dual[^\n]*\"param\":\"diffusion.cache\"[^\n]*\n400")

# SFT: prompt -> answer pairs (data.mode = pairs) on a llada model; learns, resumes bit for bit.
add_test(NAME e2e.diffusion_sft
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/diffusion_sft.sh $<TARGET_FILE:aero>
                 ${CMAKE_CURRENT_BINARY_DIR}/diffusion_sft ${AERO_PYTHON})
set_tests_properties(e2e.diffusion_sft PROPERTIES LABELS "cli;e2e;diffusion" TIMEOUT 300)
