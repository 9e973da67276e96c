# Training-run records in the run store. tst_store_crash kills store_writer (a process recording steps as fast
# as it can) with SIGKILL and checks what the next open finds. Registered apart from the GUI suites so it
# runs in every configuration that builds r1_app.
if(NOT TARGET r1_app)
  return()
endif()
add_executable(store_writer store_writer_main.cpp)
target_link_libraries(store_writer PRIVATE r1_app)
set_target_properties(store_writer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
r1wb_warnings(store_writer)

r1wb_add_test(tst_store_crash SOURCES tst_store_crash.cpp LABELS unit LIBS r1_app)
add_dependencies(tst_store_crash store_writer)

# A real r1wb training run killed with SIGKILL at ten random moments, resumed each time.
r1wb_add_test(tst_train_kill SOURCES tst_train_kill.cpp LABELS unit LIBS r1_app TIMEOUT 900)
add_dependencies(tst_train_kill r1wb)
