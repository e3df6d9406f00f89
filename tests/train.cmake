# Training end to end on the command line (tests/e2e/train_*.sh): a tiny char-level corpus, a
# tiny GPT, checkpoints, kill -9 and resume, and the errors a user can cause.
set(AERO_E2E_DIR ${CMAKE_CURRENT_SOURCE_DIR}/e2e)

# A run killed with SIGKILL after its first checkpoint and resumed ends with the same weights,
# bit for bit, as the uninterrupted run. A leftover temp directory (a save killed half way) is
# removed on the next start.
add_test(NAME train.cli_kill_and_resume_is_bit_exact
         COMMAND bash ${AERO_E2E_DIR}/train_cli_kill_and_resume.sh $<TARGET_FILE:aero>)
set_tests_properties(train.cli_kill_and_resume_is_bit_exact PROPERTIES LABELS cli TIMEOUT 120)
# The same in bf16 mixed precision (fp32 with a log line on CPUs without bf16 units).
add_test(NAME train.cli_kill_and_resume_is_bit_exact_bf16
         COMMAND bash ${AERO_E2E_DIR}/train_cli_kill_and_resume.sh $<TARGET_FILE:aero>
                 train.precision=bf16)
set_tests_properties(train.cli_kill_and_resume_is_bit_exact_bf16 PROPERTIES LABELS cli TIMEOUT 120)

# Errors: unknown key, config mismatch on resume, corrupt checkpoint; each one line, exit 1.
add_test(NAME train.cli_errors COMMAND bash ${AERO_E2E_DIR}/train_cli_errors.sh $<TARGET_FILE:aero>)
set_tests_properties(train.cli_errors PROPERTIES LABELS cli)

# seed 001's arithmetic from the ready config.
add_test(NAME train.cli_info_seed_tiny
         COMMAND $<TARGET_FILE:aero> info -c ${CMAKE_SOURCE_DIR}/configs/seed-tiny.json)
set_tests_properties(train.cli_info_seed_tiny PROPERTIES LABELS cli PASS_REGULAR_EXPRESSION
  "token embedding +640,000\nattention per layer +16,384.*\nffn per layer +32,768.*\nhead +640,000\nwithout norms and biases +1,427,456\nnorms +896\nbiases +0\ntotal +1,428,352")

# SIGTERM (or Ctrl-C): the step finishes, a checkpoint is written and aero exits 0.
add_test(NAME train.cli_sigterm_checkpoints_and_stops
         COMMAND bash ${AERO_E2E_DIR}/train_cli_sigterm.sh $<TARGET_FILE:aero>)
set_tests_properties(train.cli_sigterm_checkpoints_and_stops PROPERTIES LABELS cli TIMEOUT 60)

# data.mode = examples: one short document per row, padded to buckets. The model learns (test
# loss far below the uniform ln V), the loss does not depend on batching and padding, and a run
# killed with SIGKILL and resumed ends with the same weights, bit for bit.
add_test(NAME train.cli_examples_mode_learns_and_resumes_bit_exact
         COMMAND bash ${AERO_E2E_DIR}/train_cli_examples_mode.sh $<TARGET_FILE:aero>)
set_tests_properties(train.cli_examples_mode_learns_and_resumes_bit_exact PROPERTIES LABELS cli
  TIMEOUT 180)

# The KJV learning check: char-small trained by `aero train` and by a PyTorch trainer with the
# same architecture, hyperparameters, batches and schedule (tests/reference/train_ref.py) reach
# validation losses within 2% of each other on the same validation windows.
set(AERO_KJV_STEPS 600)
add_test(NAME train.kjv_char_small_matches_pytorch
         COMMAND bash ${AERO_E2E_DIR}/train_kjv_matches_pytorch.sh $<TARGET_FILE:aero>
                 ${AERO_KJV_STEPS})
set_tests_properties(train.kjv_char_small_matches_pytorch PROPERTIES LABELS "slow;parity"
  TIMEOUT 900)

# LoRA fine-tuning: adapter-only checkpoints over an untouched base, exact resume, PEFT out and in.
add_test(NAME train.lora_finetune
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/lora_finetune.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON})
set_tests_properties(train.lora_finetune PROPERTIES LABELS cli TIMEOUT 180
                     PASS_REGULAR_EXPRESSION "lora finetune: all checks passed")

# Seed 000's added tokens on a small T5 (finetune --lora --add-tokens): ids in the spare rows,
# never split, mean init, loss falls, an adapter of A, B and the token rows only, eval over the
# base, PEFT export / import with trainable_tokens_delta, and grown tables without spare rows.
add_test(NAME train.finetune_add_tokens
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/finetune_add_tokens.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON})
set_tests_properties(train.finetune_add_tokens PROPERTIES LABELS "cli;t5" TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "finetune add tokens: all checks passed")

# bf16 mixed precision learns as fp32 does: char-small and seed-tiny on the KJV, fp32 and bf16
# runs of the same steps from the same seed, validation losses within 1%.
add_test(NAME train.bf16_matches_fp32
         COMMAND bash ${AERO_E2E_DIR}/train_bf16_matches_fp32.sh $<TARGET_FILE:aero> 200)
set_tests_properties(train.bf16_matches_fp32 PROPERTIES LABELS slow TIMEOUT 1800
                     PASS_REGULAR_EXPRESSION "bf16 matches fp32: all checks passed")
