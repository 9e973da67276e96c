# Fuzz targets (tests/fuzz/fuzz_<name>.cpp), included from tests/CMakeLists.txt.
#  - Every build: fuzz_replay_<name>, the target's entry point run once on each committed seed
#    (tests/fuzz/corpus/<name>/) and crash regression (tests/fuzz/regressions/<name>/), a unit test.
#  - Clang with R1WB_FUZZ (tools/fuzz configures build-fuzz so): fuzz_<name>, the libFuzzer executable, and
#    fuzz_smoke_<name>, a 30-second fuzzing run from the seeds (label fuzz). Inputs it finds go to the build
#    folder (fuzz-corpus/<name>/), crashes to fuzz-artifacts/<name>/; nothing is written into the sources.
set(R1WB_FUZZ_TARGETS safetensors config tokenizer_json tokenizer_encode chat_template reasoning jsonl
    http_request)
set(R1WB_FUZZ_SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

function(r1wb_fuzz_link target)
  target_include_directories(${target} PRIVATE ${R1WB_FUZZ_SOURCE_DIR})
  target_link_libraries(${target} PRIVATE r1_engine r1_server)
  target_compile_definitions(${target} PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  r1wb_warnings(${target})
endfunction()

foreach(name IN LISTS R1WB_FUZZ_TARGETS)
  set(source ${R1WB_FUZZ_SOURCE_DIR}/fuzz_${name}.cpp)
  set(inputs ${R1WB_FUZZ_SOURCE_DIR}/corpus/${name})
  if(EXISTS ${R1WB_FUZZ_SOURCE_DIR}/regressions/${name})
    list(APPEND inputs ${R1WB_FUZZ_SOURCE_DIR}/regressions/${name})
  endif()

  add_executable(fuzz_replay_${name} ${source} ${R1WB_FUZZ_SOURCE_DIR}/replay_main.cpp)
  r1wb_fuzz_link(fuzz_replay_${name})
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} ${inputs})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS unit TIMEOUT 120)

  if(R1WB_FUZZ)
    add_executable(fuzz_${name} ${source})
    r1wb_fuzz_link(fuzz_${name})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
    set(work ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
    set(artifacts ${CMAKE_BINARY_DIR}/fuzz-artifacts/${name})
    file(MAKE_DIRECTORY ${work} ${artifacts})
    add_test(NAME fuzz_smoke_${name}
             COMMAND fuzz_${name} -max_total_time=30 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
                     -artifact_prefix=${artifacts}/ ${work} ${inputs})
    set_tests_properties(fuzz_smoke_${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
endforeach()
