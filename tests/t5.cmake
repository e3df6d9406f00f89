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
