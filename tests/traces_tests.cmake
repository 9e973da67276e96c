# Synthesized reasoning traces for the cold-start SFT and `r1wb synth` (included from tests/CMakeLists.txt).
r1wb_add_test(tst_traces SOURCES tst_traces.cpp LABELS unit)
add_dependencies(tst_traces r1wb)
