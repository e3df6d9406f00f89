# Installing aero: the `aero` program with its web page, configs and bash completion (component
# "runtime"), the static libraries in AERO_LIBRARY_TARGETS with the public headers and a CMake
# package, find_package(aero) -> aero::aero (component "dev"); cpack turns the two into the Debian
# packages `aero` and `libaero-dev`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(AERO_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/aero)

# `aero --version` names the commit it was built from; the header is rewritten on every build
# but only touched when the revision changes.
set(AERO_GENERATED_DIR ${CMAKE_BINARY_DIR}/generated)
add_custom_target(aero_revision
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
          -DOUT=${AERO_GENERATED_DIR}/aero_revision.h -P ${CMAKE_SOURCE_DIR}/cmake/revision.cmake
  BYPRODUCTS ${AERO_GENERATED_DIR}/aero_revision.h
  COMMENT "" VERBATIM)
add_dependencies(aero aero_revision)
target_include_directories(aero PRIVATE ${AERO_GENERATED_DIR})
# Installed data is looked up next to the binary first (../share/aero), then in the source tree.
target_compile_definitions(aero PRIVATE AERO_SHARE_SUBDIR="${AERO_SHARE_DIR}"
                           AERO_CONFIGS_DIR="${CMAKE_SOURCE_DIR}/configs")

# The public API: include/aero/*.h, implemented in src/api/ inside the library.
add_library(aero_public INTERFACE)
set_target_properties(aero_public PROPERTIES EXPORT_NAME aero)
target_include_directories(aero_public INTERFACE $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(aero_public INTERFACE ${AERO_LIBRARY_TARGETS})
add_library(aero::aero ALIAS aero_public)

# The library targets see the source tree while building and only include/ once installed.
foreach(t ${AERO_LIBRARY_TARGETS})
  get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  set(wrapped $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>)
  foreach(d ${dirs})
    if(d MATCHES "^\\$<")
      list(APPEND wrapped "${d}")
    else()
      list(APPEND wrapped "$<BUILD_INTERFACE:${d}>")
    endif()
  endforeach()
  list(APPEND wrapped $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${wrapped}")
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/include)  # src/api/ sees aero/*.h
endforeach()

# How aeroConfig.cmake finds each library the static libraries link: an imported target linked
# by a library target must have a line here (configure fails otherwise, naming it).
set(AERO_FIND_OpenMP::OpenMP_CXX "find_dependency(OpenMP)")
set(AERO_FIND_Threads::Threads "find_dependency(Threads)")
set(AERO_FIND_nlohmann_json::nlohmann_json "find_dependency(nlohmann_json CONFIG)")
set(AERO_FIND_BZip2::BZip2 "find_dependency(BZip2)")
set(AERO_FIND_EXPAT::EXPAT "find_dependency(EXPAT)")
set(AERO_FIND_LibXml2::LibXml2 "find_dependency(LibXml2)")
set(AERO_FIND_ZLIB::ZLIB "find_dependency(ZLIB)")
set(AERO_FIND_Boost::headers "find_dependency(Boost 1.74)")
set(AERO_FIND_SQLite::SQLite3 "find_dependency(SQLite3)")
set(AERO_FIND_OpenSSL::Crypto "find_dependency(OpenSSL)")
set(AERO_FIND_MPI::MPI_CXX "set(MPI_CXX_SKIP_MPICXX ON)
find_dependency(MPI COMPONENTS CXX)")
set(AERO_FIND_PkgConfig::AERO_DATA_DEPS "if(NOT TARGET PkgConfig::AERO_DATA_DEPS)
  pkg_check_modules(AERO_DATA_DEPS REQUIRED IMPORTED_TARGET icu-uc icu-i18n sentencepiece)
endif()")
set(AERO_FIND_PkgConfig::AERO_CAIRO "if(NOT TARGET PkgConfig::AERO_CAIRO)
  pkg_check_modules(AERO_CAIRO REQUIRED IMPORTED_TARGET cairo cairo-png cairo-svg cairo-pdf)
endif()")
set(AERO_FIND_PkgConfig::AERO_LIBPQ "if(NOT TARGET PkgConfig::AERO_LIBPQ)
  pkg_check_modules(AERO_LIBPQ REQUIRED IMPORTED_TARGET libpq)
endif()")
set(finds "")
foreach(t ${AERO_LIBRARY_TARGETS})
  get_target_property(libs ${t} INTERFACE_LINK_LIBRARIES)
  foreach(lib ${libs})
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" lib "${lib}")
    if(NOT lib MATCHES "::" OR lib IN_LIST AERO_LIBRARY_TARGETS)
      continue()
    endif()
    if(NOT DEFINED AERO_FIND_${lib})
      message(FATAL_ERROR "[install] ${t} links ${lib}: say in cmake/install.cmake how "
                          "aeroConfig.cmake finds it (set(AERO_FIND_${lib} ...))")
    endif()
    if(lib MATCHES "^PkgConfig::")
      list(APPEND finds "find_dependency(PkgConfig)")
    endif()
    list(APPEND finds "${AERO_FIND_${lib}}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES finds)
list(JOIN finds "\n" AERO_FIND_DEPENDENCIES)

install(TARGETS aero RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/ DESTINATION ${AERO_SHARE_DIR}/web COMPONENT runtime)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs/ DESTINATION ${AERO_SHARE_DIR}/configs
        COMPONENT runtime)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# Bash completion, written by the program itself from its CLI11 definitions.
set(AERO_COMPLETION ${CMAKE_BINARY_DIR}/completion/aero)
add_custom_command(OUTPUT ${AERO_COMPLETION}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion
  COMMAND $<TARGET_FILE:aero> completion bash > ${AERO_COMPLETION}
  DEPENDS aero VERBATIM)
add_custom_target(aero_completion ALL DEPENDS ${AERO_COMPLETION})
install(FILES ${AERO_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        COMPONENT runtime)

install(TARGETS ${AERO_LIBRARY_TARGETS} aero_public EXPORT aeroTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/aero DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev)
set(AERO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/aero)
install(EXPORT aeroTargets NAMESPACE aero:: DESTINATION ${AERO_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/aeroConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/aeroConfig.cmake
                              INSTALL_DESTINATION ${AERO_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/aeroConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/aeroConfig.cmake ${CMAKE_BINARY_DIR}/aeroConfigVersion.cmake
        DESTINATION ${AERO_CMAKE_DIR} COMPONENT dev)

# cpack -G DEB: `aero` (the program; shared-library dependencies from dpkg-shlibdeps, plus
# OpenBLAS, which aero loads with dlopen, and the font its charts use) and `libaero-dev`.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME aero)
set(CPACK_PACKAGE_VENDOR "aero")
set(CPACK_PACKAGE_CONTACT "aero maintainers <aero@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_INSTALL_DIRECTORY /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME aero)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION science)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libopenblas0-openmp | libopenblas0, fonts-dejavu-core")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "bash-completion")
# The first line is the synopsis (Debian policy 5.6.13); no CPACK_PACKAGE_DESCRIPTION_SUMMARY,
# which CPack would put before it.
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "train, fine-tune, evaluate and serve small language models on a CPU
aero is one command-line program for the whole life of a small language
model: prepare text, train a tokenizer, train or fine-tune a model,
evaluate, generate, and serve it as a chat service.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libaero-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The static library needs the development files of everything it links.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "aero (= ${PROJECT_VERSION}), g++, cmake, pkg-config, libopenblas0-openmp | libopenblas0, \
nlohmann-json3-dev, libsentencepiece-dev, libicu-dev, libbz2-dev, libexpat1-dev, libxml2-dev, \
zlib1g-dev, libcairo2-dev, libboost-dev, libsqlite3-dev, libssl-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "aero as a C++ library: headers, static library, CMake package
find_package(aero) gives aero::aero: load a model and its tokenizer,
tokenize, generate with a streaming callback, train from a config.")
# A package runs on other machines: -march=native code may not (cpack warns; configure packaging
# builds with -DAERO_NATIVE=OFF; the gemm and quantized kernels are still chosen from cpuid).
if(AERO_NATIVE)
  file(WRITE ${CMAKE_BINARY_DIR}/CPackNativeWarning.cmake
       "message(WARNING \"[install] built with -march=native: the package runs only on CPUs like "
       "this one; configure with -DAERO_NATIVE=OFF for a package to share\")\n")
  set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_BINARY_DIR}/CPackNativeWarning.cmake)
endif()
include(CPack)
