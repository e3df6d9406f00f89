# Installing and packaging: aero --version, bash completion, cmake --install + an example built
# against the installed CMake package, and (slow) the .deb in a fresh Debian 12 root.
add_test(NAME install.version COMMAND $<TARGET_FILE:aero> --version)
set_tests_properties(install.version PROPERTIES LABELS cli
  PASS_REGULAR_EXPRESSION "^aero ${PROJECT_VERSION} \\(git [0-9a-f]+(-[0-9]+-g[0-9a-f]+)?(-dirty)?\\)\n$")

add_test(NAME install.bash_completion
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package/completion.sh $<TARGET_FILE:aero>)
set_tests_properties(install.bash_completion PROPERTIES LABELS cli
  PASS_REGULAR_EXPRESSION "1: tokenizer\n2: train\n3: --config\n4: --format\n5: \\[\\]\n6: \n$")

add_test(NAME install.example_builds_against_installed_package
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package/install_example.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR})
set_tests_properties(install.example_builds_against_installed_package PROPERTIES
  LABELS "cli;slow" TIMEOUT 900 RUN_SERIAL TRUE
  PASS_REGULAR_EXPRESSION "web page: installed copy\n.*aero ${PROJECT_VERSION}, context 32 tokens, prompt of 7 tokens\nthe fox[^\n]+\n\\[[0-9]+ tokens, finish: (length|eos)\\]\n.*trained 30 steps, val loss [0-9.]+, checkpoint api-run/ckpt-30\nsample: ")

# Builds the .deb with cpack, installs it with apt into a copy of a cached debootstrap root
# (created on the first run under /var/cache/aero), runs aero there, purges it. Skipped (77)
# without root.
add_test(NAME package.deb_installs_in_clean_debian
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package/deb_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(package.deb_installs_in_clean_debian PROPERTIES
  LABELS slow TIMEOUT 1800 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "deb test passed")
