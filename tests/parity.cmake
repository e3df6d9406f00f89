# PyTorch parity. The reference scripts (tests/reference/*.py, run with AERO_PYTHON) write
# their truth into the build tree as a CTest fixture; the parity executable compares aero to it.
set(AERO_PARITY_DATA ${CMAKE_CURRENT_BINARY_DIR}/parity_data)
file(GLOB AERO_PARITY_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/parity/*.cpp)
add_executable(aero_parity_tests ${AERO_PARITY_TESTS})
target_link_libraries(aero_parity_tests PRIVATE aero_lib GTest::gtest GTest::gtest_main)
target_compile_definitions(aero_parity_tests PRIVATE AERO_PARITY_DATA="${AERO_PARITY_DATA}"
                           AERO_PYTHON="${AERO_PYTHON}"
                           AERO_REFERENCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/reference")

add_test(NAME parity.reference.gpt
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/gpt_ref.py ${AERO_PARITY_DATA})
add_test(NAME parity.reference.optim
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/optim_ref.py
                 ${AERO_PARITY_DATA}/optim.safetensors)
add_test(NAME parity.reference.peft
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/peft_ref.py write
                 ${AERO_PARITY_DATA}/peft_gpt)
add_test(NAME parity.reference.peft_modules
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/peft_ref.py write-modules
                 ${AERO_PARITY_DATA}/peft_gpt_modules)
set_tests_properties(parity.reference.gpt parity.reference.optim parity.reference.peft
                     parity.reference.peft_modules PROPERTIES
                     FIXTURES_SETUP aero_parity_ref LABELS parity)
gtest_discover_tests(aero_parity_tests TEST_PREFIX "parity." DISCOVERY_TIMEOUT 60
                     PROPERTIES LABELS parity FIXTURES_REQUIRED aero_parity_ref)
