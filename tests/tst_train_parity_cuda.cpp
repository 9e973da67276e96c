// The CUDA trainer against PyTorch's fp32 run: bf16 weights and activations with fp32 master weights,
// gradients and optimizer state, so the tolerances are bf16's.
#include "testlib/gpu_test.h"
#include "train_parity_check.h"

class TestTrainParityCuda : public QObject {
  Q_OBJECT
 private slots:
  void matches_pytorch_data() { r1::test::add_parity_rows(); }
  void matches_pytorch() {
    QFETCH(QString, name);
    // Measured on an H200: loss within 1.5e-4 relative, gradients within 3.1e-2, the six AdamW losses within
    // 1.6e-2. Small tensors whose gradient is near zero (key biases) end up to 60% apart after five steps:
    // Adam's nearly sign-like first steps turn bf16 gradient noise into whole learning-rate steps. So the
    // weights are compared over the whole block, and the losses carry the per-step check.
    // With experts, bf16 activations move some tokens' routing decisions once the weights drift (seen at the
    // fifth step on an H200: gradient norm 3.40 against 3.06), and a flipped route changes the trajectory
    // discretely; the MoE row compares the loss, log-probabilities and gradients at the initial weights, and
    // the CPU suite checks its whole trajectory.
    // qwen2-gqa-head64 (hidden 128, the fixture whose head dim takes the flash attention kernels) memorises
    // its batch in five steps (PyTorch's loss 5.14 -> 0.10), and bf16 noise grows with it: on an H200 the
    // fourth step's gradient norm was 3.13 with flash attention and 2.73 with the probabilities kept,
    // against PyTorch's 2.06, after steps 1-3 within 5 %. Both attention paths part alike, so the row
    // compares the initial loss, log-probabilities and gradients, and the CPU suite its whole trajectory.
    const bool trajectory = !name.contains("moe") && name != "qwen2-gqa-head64";
    r1::test::check_training_parity(name.toStdString(), r1::TrainDevice::Cuda,
                                    {1e-3, 5e-2, 5e-2, 3e-2, 0, 5e-2, trajectory});
  }
  // The same fixture through the attention path that keeps the probabilities.
  void matches_pytorch_with_probabilities_kept() {
    r1::test::check_training_parity("qwen2-gqa-head64", r1::TrainDevice::Cuda,
                                    {1e-3, 5e-2, 5e-2, 3e-2, 0, 5e-2, false}, false);
  }
};

R1_GPU_TEST_MAIN(TestTrainParityCuda)
#include "tst_train_parity_cuda.moc"
