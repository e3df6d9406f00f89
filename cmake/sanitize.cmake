# Sanitizer and fuzzer builds, off in the normal build (scripts/sanitize.sh, fuzz/run.sh).
#   -DAERO_SANITIZE=address   ASan + UBSan, every report fatal (build-asan/)
#   -DAERO_SANITIZE=thread    TSan (build-tsan/)
#   -DAERO_FUZZ=ON            clang only: ASan + UBSan plus libFuzzer's coverage on every
#                             library, and one libFuzzer binary per fuzz/<reader>_fuzz.cpp
# Included before any target is defined, so the flags reach every layer library.
set(AERO_SANITIZE "" CACHE STRING "Sanitizers for every target: '', address or thread")
option(AERO_FUZZ "Build the libFuzzer targets of fuzz/ (clang; implies AERO_SANITIZE=address)"
       OFF)
if(AERO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "AERO_FUZZ needs clang: cmake -DCMAKE_CXX_COMPILER=clang++ ...")
  endif()
  set(AERO_SANITIZE address)
  # Coverage for libFuzzer in the libraries; only the fuzz binaries link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(NOT AERO_SANITIZE STREQUAL "")
  # -O1 keeps sanitizer builds quick to compile and their stack traces exact.
  set(CMAKE_CXX_FLAGS_RELEASE "-O1 -g")
endif()
if(NOT AERO_SANITIZE STREQUAL "" AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # At -O1 clang reports every `omp simd` loop it leaves scalar; not a defect of the code.
  add_compile_options(-Wno-pass-failed)
endif()
if(AERO_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
elseif(AERO_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT AERO_SANITIZE STREQUAL "")
  message(FATAL_ERROR "AERO_SANITIZE must be '', address or thread, not '${AERO_SANITIZE}'")
endif()
if(NOT AERO_SANITIZE STREQUAL "")
  # clang 14 spent over 20 minutes and 1.8 GB instrumenting the AVX-512/VNNI intrinsics of this
  # one file; its kernels are tested against the reference kernel in every build instead.
  set_source_files_properties(src/kernels/quant_x86.cpp PROPERTIES COMPILE_OPTIONS
                              "-fno-sanitize=all;-Wno-unknown-warning-option")
endif()
