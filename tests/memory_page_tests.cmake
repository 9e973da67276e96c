# The Memory page's training view and the engine's memory accounting under QT_QPA_PLATFORM=offscreen
# (included from tests/CMakeLists.txt).
if(TARGET r1_ui)
  r1wb_add_test(tst_memory_page SOURCES tst_memory_page.cpp LABELS gui LIBS r1_ui)
endif()
