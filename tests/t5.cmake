# T5 / mT5: the float64 reference (tests/reference/t5_ref.py) writes small random checkpoints in
# Hugging Face's layout and their truth; tests/parity/test_t5_parity.cpp imports and compares.
add_test(NAME parity.reference.t5
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/t5_ref.py ${AERO_PARITY_DATA})
set_tests_properties(parity.reference.t5 PROPERTIES FIXTURES_SETUP aero_parity_ref LABELS parity)
