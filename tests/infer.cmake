# Inference end to end on the command line (tests/e2e/infer_*.sh, setup in lib_infer.sh): a tiny
# char-level model trained for a few hundred steps on the GPL-3 text every Debian system has,
# then generate --batch-file, quantize (with the perplexity check) and chat from a pipe.

# --batch-file: one JSON line per prompt in input order, and greedy batched text equals the text
# of the same prompt generated alone.
add_test(NAME infer.cli_generate_batch_file
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/infer_cli_generate_batch_file.sh
                 $<TARGET_FILE:aero> ${AERO_PYTHON})
set_tests_properties(infer.cli_generate_batch_file PROPERTIES LABELS "cli;slow" TIMEOUT 300)

# quantize: sizes, the perplexity of q8 within 1% and bf16 within 0.2% of f32 on the validation
# split, the quantized file runs generate and chat (tests/e2e/chat_piped.sh: its output and
# prompts checked by content), and a format mismatch is one clear error.
add_test(NAME infer.cli_quantize_and_chat
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/infer_cli_quantize_and_chat.sh
                 $<TARGET_FILE:aero> ${AERO_PYTHON})
set_tests_properties(infer.cli_quantize_and_chat PROPERTIES LABELS "cli;slow" TIMEOUT 300)
