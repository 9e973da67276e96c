# Tokenizer, chat template and reasoning-parser suites (included from tests/CMakeLists.txt).
# Each tst_*.cpp with parity cases is built twice: R1WB_PARITY_SUITE=0 gives the unit suite, =1 the suite that
# compares with the reference library's outputs (tests/fixtures/tokenizer/, made by make_tokenizer_fixtures.js).
# Parity suites read tests/data/ (tools/fetch_test_data.sh) and fail, naming the script, when it is missing.
r1wb_add_test(tst_tokenizer SOURCES tst_tokenizer.cpp LABELS unit)
target_compile_definitions(tst_tokenizer PRIVATE R1WB_PARITY_SUITE=0)
add_dependencies(tst_tokenizer r1wb)
r1wb_add_test(tst_tokenizer_parity SOURCES tst_tokenizer.cpp LABELS parity)
target_compile_definitions(tst_tokenizer_parity PRIVATE R1WB_PARITY_SUITE=1)

r1wb_add_test(tst_chat_template SOURCES tst_chat_template.cpp LABELS unit)
target_compile_definitions(tst_chat_template PRIVATE R1WB_PARITY_SUITE=0)
r1wb_add_test(tst_chat_template_parity SOURCES tst_chat_template.cpp LABELS parity)
target_compile_definitions(tst_chat_template_parity PRIVATE R1WB_PARITY_SUITE=1)

r1wb_add_test(tst_reasoning SOURCES tst_reasoning.cpp LABELS unit)
