# T5 / mT5: the float64 reference (tests/reference/t5_ref.py) writes small random checkpoints in
# Hugging Face's layout and their truth; tests/parity/test_t5_parity.cpp imports and compares.
add_test(NAME parity.reference.t5
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/t5_ref.py ${AERO_PARITY_DATA})
set_tests_properties(parity.reference.t5 PROPERTIES FIXTURES_SETUP aero_parity_ref LABELS parity)

# Learning: a small T5 trained from scratch by `aero train` on pairs (data.mode = pairs,
# train.objective = seq2seq) lowers its validation loss.
add_test(NAME e2e.t5_pairs_learn
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/t5_pairs_learn.sh $<TARGET_FILE:aero>
                 ${CMAKE_CURRENT_BINARY_DIR}/t5_pairs_learn ${AERO_PYTHON})
set_tests_properties(e2e.t5_pairs_learn PROPERTIES LABELS "cli;e2e;t5" TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "t5-pairs-learn-ok")

# `aero import hf-t5` on the reference's checkpoints (single file with the embedding under
# encoder/decoder.embed_tokens; sharded), `aero info` on the result, and one clear error with a
# non-zero exit for a pytorch_model.bin-only directory.
add_test(NAME formats.cli_import_hf_t5
         COMMAND bash -c "set -u; A=$<TARGET_FILE:aero>; R=${AERO_PARITY_DATA}
cd $(mktemp -d) || exit 1
$A import hf-t5 --in $R/t5_v10 --out v10 && $A info --model v10 | head -3
$A import hf-t5 --in $R/t5_mt5 --out mt5 && $A info --model mt5 | grep 'decoder per layer'
mkdir bin && cp $R/t5_v10/config.json bin/ && echo pickle > bin/pytorch_model.bin
$A import hf-t5 --in bin --out bad; echo rc=$?")
set_tests_properties(formats.cli_import_hf_t5 PROPERTIES
  FIXTURES_REQUIRED aero_parity_ref LABELS "cli;formats;t5" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "wrote v10/ckpt-0: t5: 2 encoder \\+ 2 decoder layers.*tied head scaled.*wrote mt5/ckpt-0: t5: 2 encoder \\+ 3 decoder layers.*decoder per layer.*x 3.*pytorch_model.bin \\(a pickle\\) is not read.*rc=1")

# `aero eval` on a seq2seq checkpoint: a small T5 trained from scratch on pairs the test writes;
# held-out loss falls and BLEU / ROUGE rise from an early to a later checkpoint; predictions
# and JSON scores written; --metrics-only agrees; bad input (missing column, empty targets,
# unknown ROUGE tokenizer, mismatched files) is one clear error each.
add_test(NAME e2e.t5_eval_bleu_learn
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/t5_eval_bleu.sh $<TARGET_FILE:aero>
                 ${CMAKE_CURRENT_BINARY_DIR}/t5_eval_bleu ${AERO_PYTHON})
set_tests_properties(e2e.t5_eval_bleu_learn PROPERTIES LABELS "cli;e2e;t5" TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "t5-eval-bleu-ok")
