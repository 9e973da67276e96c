r1wb_add_test(tst_train_ops_cpu SOURCES tst_train_ops_cpu.cpp LABELS unit)
