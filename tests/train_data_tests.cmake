# Training data suites (included from tests/CMakeLists.txt).
r1wb_add_test(tst_sft_data SOURCES tst_sft_data.cpp LABELS unit)
