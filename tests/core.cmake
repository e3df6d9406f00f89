# Process-wide settings seen from the command line.

# Under OMP_PROC_BIND libgomp binds the main thread to one CPU as it loads, before main(); aero
# must still count every CPU the process may use (it used one thread there, at half speed).
add_test(NAME core.threads_under_omp_proc_bind
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/core_threads_under_omp_proc_bind.sh
                 $<TARGET_FILE:aero>)
set_tests_properties(core.threads_under_omp_proc_bind PROPERTIES LABELS cli)

# Dependencies flow one way: no file includes from a layer above its own (CMakeLists.txt's
# AERO_LAYERS, the same table the per-layer libraries link by).
add_test(NAME core.layers_include_only_lower_layers
         COMMAND ${AERO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/layers.py
                 ${PROJECT_SOURCE_DIR}/src ${AERO_LAYERS} "cli:server train api")

# A checkpoint from before the model registry loads, generates, evaluates and resumes as it did.
add_test(NAME core.old_checkpoint_still_loads
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/old_checkpoint.sh $<TARGET_FILE:aero>
                 ${AERO_PYTHON})
set_tests_properties(core.old_checkpoint_still_loads PROPERTIES LABELS cli TIMEOUT 120
                     PASS_REGULAR_EXPRESSION "old checkpoint: all checks passed")

# aero doctor reports the bf16 kernel (amx / avx512-bf16 / none) and its rate next to sgemm's.
add_test(NAME core.doctor_reports_bf16_kernel
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/doctor_bf16.sh $<TARGET_FILE:aero>)
set_tests_properties(core.doctor_reports_bf16_kernel PROPERTIES LABELS cli TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "doctor bf16: all checks passed")
