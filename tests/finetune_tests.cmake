# The Fine-tune page: live GRPO runs of the built-in r1-tiny under QT_QPA_PLATFORM=offscreen.
if(TARGET r1_ui)
  r1wb_add_test(tst_finetune SOURCES tst_finetune.cpp LABELS gui LIBS r1_ui)
endif()
