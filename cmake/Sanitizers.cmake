# Sanitizer and fuzzing builds, both without the CUDA backend (device code is not instrumented).
#
# R1WB_SANITIZE: the list for -fsanitize (e.g. address,undefined), applied to every target of this project;
#   third-party libraries are not rebuilt. UBSan findings abort instead of printing and going on, so a test
#   that triggers one fails. tools/sanitize.sh configures build-asan this way.
# R1WB_FUZZ (clang only): instruments our code for libFuzzer's coverage feedback and builds the fuzz targets
#   of tests/fuzz (tools/fuzz runs them). It implies R1WB_SANITIZE=address,undefined unless a list is given.
set(R1WB_SANITIZE "" CACHE STRING "Sanitizers for our targets, e.g. address,undefined (empty: none)")
option(R1WB_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)

if(R1WB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "R1WB_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(R1WB_SANITIZE STREQUAL "")
    set(R1WB_SANITIZE "address,undefined")
  endif()
endif()

if(NOT R1WB_SANITIZE STREQUAL "")
  if(R1WB_HAVE_CUDA)
    message(STATUS "R1WB_SANITIZE=${R1WB_SANITIZE}: the CUDA backend is left out of this build")
    set(R1WB_HAVE_CUDA OFF)
  endif()
  set(r1wb_sanitize_flags -fsanitize=${R1WB_SANITIZE} -fno-omit-frame-pointer -g)
  if(R1WB_SANITIZE MATCHES "undefined")
    list(APPEND r1wb_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  # GCC's -Wmaybe-uninitialized reports false positives inside libstdc++ (<regex>, std::function) once the
  # sanitizers instrument the code; the normal build keeps the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    list(APPEND r1wb_sanitize_flags -Wno-maybe-uninitialized)
  endif()
  foreach(flag IN LISTS r1wb_sanitize_flags)
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:${flag}>)
  endforeach()
  add_link_options(-fsanitize=${R1WB_SANITIZE})
  message(STATUS "R1 Workbench sanitizers: ${R1WB_SANITIZE}")
endif()

if(R1WB_FUZZ)
  # Coverage feedback everywhere; only the fuzz executables link libFuzzer's main (tests/fuzz_tests.cmake).
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>)
  message(STATUS "R1 Workbench fuzz targets: on")
endif()
