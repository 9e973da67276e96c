# The Traces page under QT_QPA_PLATFORM=offscreen (included from tests/CMakeLists.txt).
if(TARGET r1_ui)
  r1wb_add_test(tst_traces_page SOURCES tst_traces_page.cpp LABELS gui LIBS r1_ui)
  target_compile_definitions(tst_traces_page PRIVATE R1WB_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
