# Formats on the command line: `aero export gguf` for both llama.cpp architectures and every
# --type, checked by an independent Python GGUF reader (tests/reference/gguf_read.py) that also
# runs the exported file the way llama.cpp's graph does and compares the logits with the
# checkpoint run aero's way.

# Shared setup: a char corpus, its tokenizer and shards; `config OPTIONS OUT [TOKENIZER SHARDS]`
# trains a tiny GPT with OPTIONS spliced into "model" for 20 steps into run directory OUT.
set(AERO_FORMATS_SETUP "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
P=\"${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/gguf_read.py\"
for i in $(seq 1 200); do echo \"line $i: the quick brown fox jumps over the lazy dog $((i * 7 % 13)) times\"; echo; done > raw.txt
$A tokenizer train --type char -i raw.txt -o chars.json > /dev/null
$A data split -i raw.txt -o split --seed 3 > /dev/null
$A data prepare -i split -t chars.json -o shards --threads 1 > /dev/null
config() {
tok=chars.json; sh=shards; if [ $# -gt 2 ]; then tok=$3; sh=$4; fi
V=$($A data inspect $sh/train.bin | sed -n 's/.*vocab \\([0-9]*\\),.*/\\1/p')
cat > c.json <<JSON
{\"model\": {\"vocab_size\": $V, \"block_size\": 16, \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 32,
           \"ffn_hidden\": 64, $1},
 \"train\": {\"batch_size\": 4, \"max_steps\": 20, \"eval_every\": 0, \"test_batches\": 1,
           \"log_every\": 20, \"threads\": 1, \"out_dir\": \"$2\"},
 \"data\": {\"train\": \"$sh/train.bin\", \"val\": \"$sh/val.bin\", \"test\": \"$sh/test.bin\",
          \"tokenizer\": \"$tok\"}}
JSON
$A train -c c.json > $2.log 2>&1
}
")

# gpt2: learned positions, LayerNorm, GELU, no biases (exported as zeros), tied head.
add_test(NAME formats.cli_export_gguf_gpt2
         COMMAND bash -c "${AERO_FORMATS_SETUP}
config '\"pos\": \"learned\", \"norm\": \"layernorm\", \"act\": \"gelu\", \"bias\": false, \"tie_head\": true' g
$A export gguf 2>>w.txt -m g -o g.gguf
$P g.gguf --ckpt g/ckpt-20
$A export gguf 2>>w.txt -m g -o g8.gguf --type q8_0
$P g8.gguf --ckpt g/ckpt-20
$A export gguf 2>>w.txt -m g -o g16.gguf --type f16
$P g16.gguf --ckpt g/ckpt-20
sort -u w.txt")
set_tests_properties(formats.cli_export_gguf_gpt2 PROPERTIES LABELS cli TIMEOUT 120
  PASS_REGULAR_EXPRESSION "wrote g.gguf: gpt2, 28 tensors \\(f32\\), vocabulary 43
g.gguf: GGUF v3, arch gpt2, [0-9]+ keys, 28 tensors \\(f32 28\\), data at [0-9]+, alignment 32, vocab 43 \\(llama\\)
logits over 10 tokens: .*
gguf-ok
wrote g8.gguf: gpt2, 28 tensors \\(9 q8_0, the rest f32\\).*
gguf-ok
wrote g16.gguf: gpt2, 28 tensors \\(9 f16, the rest f32\\).*
g16.gguf: .*\\(f16 9, f32 19\\).*
logits over 10 tokens: .*
gguf-ok
aero: warning: the vocabulary has no byte tokens: llama.cpp aborts on text with a character outside it \\(SentencePiece")

# llama: RoPE (theta 500), RMSNorm, SwiGLU, untied head; Q and K permuted for llama.cpp's RoPE.
add_test(NAME formats.cli_export_gguf_llama
         COMMAND bash -c "${AERO_FORMATS_SETUP}
config '\"pos\": \"rope\", \"rope_theta\": 500, \"norm\": \"rmsnorm\", \"act\": \"swiglu\", \"norm_eps\": 1e-6' l
$A export gguf 2>>w.txt -m l -o l.gguf --name tiny-llama
$P l.gguf --ckpt l/ckpt-20
$A export gguf 2>>w.txt -m l -o l8.gguf --type q8_0
$P l8.gguf --ckpt l/ckpt-20 --ids 3,9,27,1,1,40,2
$A export gguf 2>>w.txt -m l -o lb.gguf --type bf16
$P lb.gguf --ckpt l/ckpt-20")
set_tests_properties(formats.cli_export_gguf_llama PROPERTIES LABELS cli TIMEOUT 120
  PASS_REGULAR_EXPRESSION "wrote l.gguf: llama, 21 tensors \\(f32\\).*
l.gguf: GGUF v3, arch llama, .*, vocab 43 \\(llama\\)
logits over 10 tokens: .*
gguf-ok
wrote l8.gguf: llama, 21 tensors \\(16 q8_0, the rest f32\\).*
logits over 7 tokens: .*
gguf-ok
wrote lb.gguf: llama, 21 tensors \\(16 bf16, the rest f32\\).*
lb.gguf: .*\\(bf16 16, f32 5\\).*
logits over 10 tokens: .*
gguf-ok")

# A SentencePiece tokenizer goes in as tokenizer.ggml.model "llama" with its own pieces and
# scores; options llama.cpp has no architecture for are refused, naming them.
add_test(NAME formats.cli_export_gguf_sentencepiece_and_errors
         COMMAND bash -c "${AERO_FORMATS_SETUP}
$A tokenizer train --type bpe -i raw.txt -o spm.model --vocab-size 100 --no-byte-fallback > /dev/null
$A data prepare -i split -t spm.model -o spm_shards --threads 1 > /dev/null
config '\"pos\": \"learned\", \"act\": \"gelu\"' g spm.model spm_shards
$A export gguf -m g -o s.gguf
$P s.gguf
$A info --gguf s.gguf | grep -E 'GGUF v3|architecture|tokenizer.ggml.tokens|blk.0.attn_qkv.weight'
set +e
cd split; $A export gguf -m ../g -o x.gguf; echo rc=$?; cd ..
config '\"pos\": \"learned\", \"pre_ln\": false' p
$A export gguf -m p -o p.gguf; echo rc=$?
test ! -e p.gguf && echo no-file
$A export gguf -m g -o x.gguf --tokenizer nope.model; echo rc=$?")
set_tests_properties(formats.cli_export_gguf_sentencepiece_and_errors PROPERTIES LABELS cli
  TIMEOUT 120 PASS_REGULAR_EXPRESSION
  "wrote s.gguf: gpt2, 29 tensors \\(f32\\), vocabulary 100
s.gguf: .*vocab 100 \\(llama\\)
gguf-ok
s.gguf: GGUF v3, alignment 32, data at byte 4448, 23 keys, 29 tensors
  general.architecture: str gpt2
  tokenizer.ggml.tokens: \\[str x 100\\] \\[<pad>, <unk>, <s>, </s>, .*, ...\\]
  blk.0.attn_qkv.weight +f32 +\\(96, 32\\) +at [0-9]+
aero: error: \\[export\\] the checkpoint's tokenizer \\(data.tokenizer\\) spm.model does not exist from here. give it with --tokenizer
rc=1
aero: error: \\[export\\] llama.cpp cannot represent this model: as gpt2 it would need pre_ln=false \\(needs true\\). as llama it would need pos=learned \\(needs rope\\), norm=layernorm \\(needs rmsnorm\\), act=gelu \\(needs swiglu\\), pre_ln=false \\(needs true\\)
rc=1
no-file
aero: error: \\[tokenizer\\] no such file: nope.model
rc=1")

# The tiny Hugging Face GPT-2 of tests/parity/test_import_hf.cpp, part of the parity fixture.
add_test(NAME parity.reference.hf_gpt2
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/hf_gpt2_ref.py
                 ${CMAKE_CURRENT_BINARY_DIR}/parity_data)
set_tests_properties(parity.reference.hf_gpt2 PROPERTIES FIXTURES_SETUP aero_parity_ref
                     LABELS parity TIMEOUT 120)

# Import on the command line: the run directory works with info, generate (the copied GPT-2
# tokenizer), export back to GGUF (gpt2 vocabulary with merges); errors name the file.
add_test(NAME formats.cli_import_hf_gpt2
         COMMAND bash -c "set -eu; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cd $d; A=$<TARGET_FILE:aero>
HF=${CMAKE_CURRENT_BINARY_DIR}/parity_data/hf_gpt2
$A import hf-gpt2 --in $HF --out run
$A info -m run | head -3
$A generate -m run -p 'Tiếng Việt' --max-new 5 --temperature 0 > gen.txt 2>&1
echo generate-ok
$A export gguf -m run -o run.gguf
${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/gguf_read.py run.gguf --ckpt run/ckpt-0
set +e
$A import hf-gpt2 --in $HF --out run; echo rc=$?
mkdir bad; cp $HF/* bad/; sed -i 's/gelu_new/gelu/' bad/config.json
$A import hf-gpt2 --in bad --out run2; echo rc=$?
$A import hf-gpt2 --in nope --out run3; echo rc=$?")
set_tests_properties(formats.cli_import_hf_gpt2 PROPERTIES LABELS cli TIMEOUT 120
  FIXTURES_REQUIRED aero_parity_ref PASS_REGULAR_EXPRESSION
  "wrote run/ckpt-0: gpt: 2 layers, 4 heads of 8, n_embd 32, ffn 128 \\(gelu\\), context 24, vocab 537. [0-9]+ parameters
tokenizer: /.*/run/tokenizer/vocab.json
checkpoint run/ckpt-0: step 0, 0 tokens seen
gpt: 2 layers, 4 heads of 8, n_embd 32, ffn 128 \\(gelu\\), context 24, vocab 537
.*generate-ok
wrote run.gguf: gpt2, 28 tensors \\(f32\\), vocabulary 537
run.gguf: GGUF v3, arch gpt2, .*vocab 537 \\(gpt2\\)
logits over 10 tokens: .*
gguf-ok
aero: error: \\[import\\] run already holds a run. choose another --out
rc=1
aero: error: \\[import\\] bad/config.json: activation_function 'gelu' is not supported.*
rc=1
aero: error: \\[import\\] nope: no such directory
rc=1")

# llama.cpp itself (node-llama-cpp's prebuilt library; scripts/llama-cpp.sh installs it, and
# without it the test is skipped): on every kind of export it must tokenize as aero does and give
# the checkpoint's next-token logits (up to a constant) within the type's rounding.
set(AERO_NODE_LLAMA_CPP "$ENV{HOME}/.cache/aero/node-llama-cpp" CACHE PATH
    "node-llama-cpp installed by scripts/llama-cpp.sh (the formats.llama_cpp test)")
add_test(NAME formats.llama_cpp_runs_the_exports
         COMMAND bash -c "L=\"$AERO_NODE_LLAMA_CPP\"; [ -n \"$L\" ] || L=${AERO_NODE_LLAMA_CPP}
if [ ! -x $L/bin/node ] || [ ! -f $L/node_modules/node-llama-cpp/package.json ]; then
  echo \"llama.cpp is not installed (scripts/llama-cpp.sh): skipped\"; exit 77; fi
${AERO_FORMATS_SETUP}
check() { # GGUF CKPT TOKENIZER TEXT
  ids=$($A tokenizer encode -m $3 -t \"$4\" | tr ' ' ,)
  $P $1 --ckpt $2 --llama-cpp $L --text \"$4\" --ids $ids > check.txt
  grep -E '^llama.cpp' check.txt; grep -q gguf-ok check.txt && echo \"llama.cpp agrees on $1\"
}
config '\"pos\": \"rope\", \"rope_theta\": 500, \"norm\": \"rmsnorm\", \"act\": \"swiglu\"' l
config '\"pos\": \"learned\", \"norm\": \"layernorm\", \"act\": \"gelu\", \"tie_head\": true' g
for t in f32 q8_0 bf16; do
  $A export gguf -m l -o l-$t.gguf --type $t 2> /dev/null; check l-$t.gguf l/ckpt-20 chars.json 'the qu'
  $A export gguf -m g -o g-$t.gguf --type $t 2> /dev/null; check g-$t.gguf g/ckpt-20 chars.json 'lazy d'
done
$A tokenizer train --type bpe -i raw.txt -o spm.model --vocab-size 320 > /dev/null
$A data prepare -i split -t spm.model -o spm_shards --threads 1 > /dev/null
config '\"pos\": \"rope\", \"norm\": \"rmsnorm\", \"act\": \"swiglu\"' s spm.model spm_shards
$A export gguf -m s -o s.gguf
check s.gguf s/ckpt-20 spm.model 'brown fox, Việt'
$A import hf-gpt2 --in ${CMAKE_CURRENT_BINARY_DIR}/parity_data/hf_gpt2 --out hf > /dev/null
$A export gguf -m hf -o hf.gguf --type f16
check hf.gguf hf/ckpt-0 hf/tokenizer 'Tiếng Việt là ngôn ngữ'
check hf.gguf hf/ckpt-0 hf/tokenizer \"I'm here, you're there!\"")
set_tests_properties(formats.llama_cpp_runs_the_exports PROPERTIES LABELS cli TIMEOUT 300
  SKIP_RETURN_CODE 77 FIXTURES_REQUIRED aero_parity_ref PASS_REGULAR_EXPRESSION
  "agrees on l-f32.gguf.*agrees on g-f32.gguf.*agrees on l-q8_0.gguf.*agrees on g-q8_0.gguf.*\
agrees on l-bf16.gguf.*agrees on g-bf16.gguf.*agrees on s.gguf.*agrees on hf.gguf.*agrees on hf.gguf")
