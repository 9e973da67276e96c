# The OpenAI-compatible server (`r1wb serve`): the in-process suite speaking raw HTTP over QTcpSocket, and the
# official openai npm client (tests/data/node_modules, from tools/fetch_test_data.sh) against the command.
find_package(Qt6 6.4 REQUIRED COMPONENTS Network)
r1wb_add_test(tst_server SOURCES tst_server.cpp LABELS unit LIBS r1_server Qt6::Network)
target_compile_definitions(tst_server PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Skipped (77) only where node is not installed; a missing openai package fails.
add_test(NAME tst_server_openai_client
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/server/run_openai_test.sh $<TARGET_FILE:r1wb>
          ${PROJECT_SOURCE_DIR}/resources/models/r1-tiny ${R1WB_DOWNLOADED_DATA_DIR}/node_modules)
set_tests_properties(tst_server_openai_client PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
