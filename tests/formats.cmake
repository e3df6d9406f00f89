# Formats on the command line: `aero export gguf` for both llama.cpp architectures and every
# --type, checked by an independent Python GGUF reader (tests/reference/gguf_read.py) that also
# runs the exported file the way llama.cpp's graph does and compares the logits with the
# checkpoint run aero's way.

# The scripts are tests/e2e/formats_*.sh; their shared setup (a char corpus, its tokenizer and
# shards, and `config OPTIONS OUT` training a tiny GPT) is tests/e2e/lib_formats.sh.
set(AERO_FORMATS_E2E ${CMAKE_CURRENT_SOURCE_DIR}/e2e)

# gpt2: learned positions, LayerNorm, GELU, no biases (exported as zeros), tied head.
add_test(NAME formats.cli_export_gguf_gpt2
         COMMAND bash ${AERO_FORMATS_E2E}/formats_export_gguf_gpt2.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON})
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
         COMMAND bash ${AERO_FORMATS_E2E}/formats_export_gguf_llama.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON})
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
         COMMAND bash ${AERO_FORMATS_E2E}/formats_export_gguf_sentencepiece_and_errors.sh
                 $<TARGET_FILE:aero> ${AERO_PYTHON})
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
         COMMAND bash ${AERO_FORMATS_E2E}/formats_import_hf_gpt2.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON} ${CMAKE_CURRENT_BINARY_DIR}/parity_data/hf_gpt2)
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

# llama.cpp itself (node-llama-cpp's prebuilt library; scripts/llama-cpp.sh installs it): on
# every kind of export it must tokenize as aero does and give the checkpoint's next-token logits
# (up to a constant) within the type's rounding. Without it the test is skipped, except under
# CI=true, where it fails.
set(AERO_NODE_LLAMA_CPP "$ENV{HOME}/.cache/aero/node-llama-cpp" CACHE PATH
    "node-llama-cpp installed by scripts/llama-cpp.sh (the formats.llama_cpp test)")
add_test(NAME formats.llama_cpp_runs_the_exports
         COMMAND bash ${AERO_FORMATS_E2E}/formats_llama_cpp_runs_the_exports.sh
                 $<TARGET_FILE:aero> ${AERO_PYTHON} ${AERO_NODE_LLAMA_CPP}
                 ${CMAKE_CURRENT_BINARY_DIR}/parity_data/hf_gpt2)
set_tests_properties(formats.llama_cpp_runs_the_exports PROPERTIES LABELS cli TIMEOUT 300
  SKIP_RETURN_CODE 77 FIXTURES_REQUIRED aero_parity_ref)
