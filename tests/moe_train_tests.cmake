# Mixture-of-experts training: CPU ops and the trainer's gradient against finite differences; CUDA ops against
# the CPU (included from tests/CMakeLists.txt).
r1wb_add_test(tst_moe_train_ops SOURCES tst_moe_train_ops.cpp LABELS unit)
if(R1WB_HAVE_CUDA)
  r1wb_add_test(tst_moe_train_ops_cuda SOURCES tst_moe_train_ops_cuda.cpp LABELS gpu LIBS r1_kernels_cuda)
endif()
