# The bad-input catalogue (tests/bad_inputs/, tst_bad_inputs.cpp), included from tests/CMakeLists.txt: every
# malformed file and request is refused with an error naming the file and the field or line, and r1wb exits
# non-zero without a signal.
r1wb_add_test(tst_bad_inputs SOURCES tst_bad_inputs.cpp LABELS unit LIBS r1_server)
target_compile_definitions(tst_bad_inputs PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(tst_bad_inputs r1wb)
