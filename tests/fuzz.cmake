# Fuzz targets (fuzz/<reader>_fuzz.cpp, docs/fuzzing.md). In every build each one is linked with
# fuzz/replay.cpp into fuzz_replay_<reader>, and fuzz.replay_<reader> runs its seed corpus and
# every committed crash input (fuzz/regressions/<reader>/) through it. With AERO_FUZZ (clang) each
# is also a libFuzzer binary <reader>_fuzz for fuzz/run.sh.
set(AERO_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)
# The layer library each target needs, so a fuzz build of the io and data readers does not wait
# for the rest (unlisted: every layer).
foreach(row "io:safetensors gguf" "tokenizer:char_tokenizer" "data:shards csv jsonl wiki html man"
            "models:ckpt_weights peft_config peft_adapter hf_t5_config" "train:config config_set ckpt_state" "core:request ws")
  string(REPLACE ":" ";" parts "${row}")
  list(GET parts 0 layer)
  list(GET parts 1 readers)
  string(REPLACE " " ";" readers "${readers}")
  foreach(r ${readers})
    set(AERO_FUZZ_LINK_${r} aero_${layer})
  endforeach()
endforeach()
# Request parsing is one file of the server layer: compiled in, it spares the request targets
# the whole stack below the server.
set(AERO_FUZZ_EXTRA_request ${PROJECT_SOURCE_DIR}/src/server/request.cpp)
set(AERO_FUZZ_EXTRA_ws ${AERO_FUZZ_EXTRA_request})
file(GLOB AERO_FUZZ_SOURCES CONFIGURE_DEPENDS ${AERO_FUZZ_DIR}/*_fuzz.cpp)
foreach(src ${AERO_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "_fuzz$" "" reader ${name})
  if(NOT DEFINED AERO_FUZZ_LINK_${reader})
    set(AERO_FUZZ_LINK_${reader} aero_lib)
  endif()
  add_executable(fuzz_replay_${reader} ${src} ${AERO_FUZZ_EXTRA_${reader}} ${AERO_FUZZ_DIR}/replay.cpp)
  target_link_libraries(fuzz_replay_${reader} PRIVATE ${AERO_FUZZ_LINK_${reader}})
  add_test(NAME fuzz.replay_${reader}
           COMMAND fuzz_replay_${reader} ${AERO_FUZZ_DIR}/corpus/${reader}
                   ${AERO_FUZZ_DIR}/regressions/${reader})
  set_tests_properties(fuzz.replay_${reader} PROPERTIES LABELS fuzz TIMEOUT 120)
  if(AERO_FUZZ)
    add_executable(${name} ${src} ${AERO_FUZZ_EXTRA_${reader}})
    target_link_libraries(${name} PRIVATE ${AERO_FUZZ_LINK_${reader}})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
# Writes the seeds that aero's own writers make (fuzz/make_seeds.cpp); not a test.
add_executable(fuzz_make_seeds ${AERO_FUZZ_DIR}/make_seeds.cpp)
target_link_libraries(fuzz_make_seeds PRIVATE aero_lib)
