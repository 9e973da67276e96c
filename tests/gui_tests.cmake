# Chat session, run store and GUI suites (included from tests/CMakeLists.txt), and the GUI stall benchmark.
if(NOT TARGET r1_app)
  return()
endif()
add_library(r1_chat_test_model STATIC chat_test_model.cpp)
target_link_libraries(r1_chat_test_model PUBLIC r1_testlib)
r1wb_warnings(r1_chat_test_model)

r1wb_add_test(tst_run_store SOURCES tst_run_store.cpp LABELS unit LIBS r1_app)
r1wb_add_test(tst_chat_session SOURCES tst_chat_session.cpp LABELS unit LIBS r1_app r1_chat_test_model)

if(TARGET r1_ui)
  r1wb_add_test(tst_gui SOURCES tst_gui.cpp LABELS gui LIBS r1_ui r1_chat_test_model)
  # A program that prints figures, not a test: the GUI thread's longest stall while a reply streams.
  add_executable(bench_gui_stall bench_gui_stall.cpp)
  target_link_libraries(bench_gui_stall PRIVATE r1_ui r1_chat_test_model)
  set_target_properties(bench_gui_stall PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  r1wb_warnings(bench_gui_stall)
endif()
