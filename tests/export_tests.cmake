# Exports: a stored conversation as Markdown and JSON, a run's config re-launched by r1wb train grpo --config;
# and the window's File menu exports and local server switch.
if(NOT TARGET r1_app)
  return()
endif()
r1wb_add_test(tst_exports SOURCES tst_exports.cpp LABELS unit LIBS r1_app)
target_compile_definitions(tst_exports PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(tst_exports r1wb)

if(TARGET r1_ui)
  find_package(Qt6 6.4 REQUIRED COMPONENTS Network)
  r1wb_add_test(tst_exports_gui SOURCES tst_exports_gui.cpp LABELS gui LIBS r1_ui Qt6::Network)
  target_compile_definitions(tst_exports_gui PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
