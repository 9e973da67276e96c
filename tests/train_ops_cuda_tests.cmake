# CUDA training ops against their CPU references (included from tests/CMakeLists.txt when CUDA is built).
r1wb_add_test(tst_train_ops_cuda SOURCES tst_train_ops_cuda.cpp LABELS gpu LIBS r1_kernels_cuda)
r1wb_add_test(tst_flash_attention_cuda SOURCES tst_flash_attention_cuda.cpp LABELS gpu LIBS r1_kernels_cuda)
