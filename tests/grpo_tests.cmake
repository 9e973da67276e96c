r1wb_add_test(tst_grpo SOURCES tst_grpo.cpp LABELS unit)
