# GRPO rewards, verifiers and task generators (included from tests/CMakeLists.txt).
r1wb_add_test(tst_rewards SOURCES tst_rewards.cpp LABELS unit)
