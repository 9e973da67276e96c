# DeepSeek-V2/V3 suite (included from tests/CMakeLists.txt): transformers parity of both MLA paths, MoE routing,
# config and tensor errors, and r1wb info / logits / generate on the DeepSeek fixtures.
r1wb_add_test(tst_deepseek SOURCES tst_deepseek.cpp LABELS parity unit)
add_dependencies(tst_deepseek r1wb)
