# End to end on the command line, as a person uses aero: typed at a real pseudo-terminal (chat
# and generate in the C and a UTF-8 locale), piped, prompt files, and number formatting under a
# decimal-comma locale. One fixture: a tiny char-level model whose vocabulary holds every
# Vietnamese letter.
set(AERO_E2E ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
set(AERO_E2E_MODEL ${CMAKE_CURRENT_BINARY_DIR}/e2e_model)

add_test(NAME e2e.setup_model
         COMMAND bash ${AERO_E2E}/make_model.sh $<TARGET_FILE:aero> ${AERO_E2E_MODEL})
set_tests_properties(e2e.setup_model PROPERTIES FIXTURES_SETUP aero_e2e_model LABELS "cli;e2e"
                     TIMEOUT 300)

set(AERO_E2E_chat_pty ${AERO_E2E_MODEL}/run ${AERO_PYTHON})
set(AERO_E2E_chat_piped ${AERO_E2E_MODEL}/run ${AERO_PYTHON})
set(AERO_E2E_generate_prompt ${AERO_E2E_MODEL}/run)
set(AERO_E2E_locale_numbers ${AERO_E2E_MODEL} ${AERO_PYTHON})
foreach(t chat_pty chat_piped generate_prompt locale_numbers)
  string(REPLACE "_" "-" done_marker ${t})
  add_test(NAME e2e.${t}
           COMMAND bash ${AERO_E2E}/${t}.sh $<TARGET_FILE:aero> ${AERO_E2E_${t}})
  set_tests_properties(e2e.${t} PROPERTIES FIXTURES_REQUIRED aero_e2e_model LABELS "cli;e2e"
                       TIMEOUT 300 PASS_REGULAR_EXPRESSION "${done_marker}-ok")
endforeach()
