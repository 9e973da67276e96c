r1wb_add_test(tst_grpo SOURCES tst_grpo.cpp LABELS unit)
target_compile_definitions(tst_grpo PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
