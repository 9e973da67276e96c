# The Fine-tune page: the run form, the session controls, live metric plots and the past runs of the store.
target_sources(r1_ui PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/decimate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/finetune_form.cpp
  ${CMAKE_CURRENT_LIST_DIR}/finetune_page.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metric_plot.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metric_plots_panel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/past_runs_panel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run_controls.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run_series.cpp)
