# Writes OUT (a header defining AERO_GIT_REVISION) from `git describe` of SOURCE_DIR, touching the
# file only when the revision changed, so a build without new commits recompiles nothing.
# cmake -DSOURCE_DIR=... -DOUT=... -P revision.cmake
set(rev "unknown")
find_program(GIT git)
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT} -C "${SOURCE_DIR}" describe --always --dirty --abbrev=12
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(rc EQUAL 0 AND out)
    set(rev "${out}")
  endif()
endif()
set(text "#define AERO_GIT_REVISION \"${rev}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
