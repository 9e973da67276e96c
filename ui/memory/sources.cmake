# The Memory page's training view and the plot styling the workbench's charts share (included from
# ui/CMakeLists.txt).
target_sources(r1_ui PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/training_memory_view.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../plot_style.cpp)
