# Data-parallel training over processes (mpirun -np N aero train; src/train/dist*). Without
# mpirun or an MPI build the tests are skipped, except under CI=true, where they fail.
set(AERO_DIST_E2E ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
foreach(t two_ranks_match_one_process stop_and_resume rank_dies netns_tcp)
  add_test(NAME dist.${t} COMMAND bash ${AERO_DIST_E2E}/dist_${t}.sh $<TARGET_FILE:aero>
                                  ${AERO_WITH_MPI})
  set_tests_properties(dist.${t} PROPERTIES LABELS cli TIMEOUT 240 SKIP_RETURN_CODE 77)
endforeach()
