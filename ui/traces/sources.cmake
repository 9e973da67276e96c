# The Traces page (included from ui/CMakeLists.txt).
target_sources(r1_ui PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/chat_reply_picker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/completion_column.cpp
  ${CMAKE_CURRENT_LIST_DIR}/completion_view.cpp
  ${CMAKE_CURRENT_LIST_DIR}/prompt_table_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/step_list_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/token_colours.cpp
  ${CMAKE_CURRENT_LIST_DIR}/token_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/traces_page.cpp)
