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
    r1::test::check_training_parity(name.toStdString(), r1::TrainDevice::Cuda,
                                    {1e-2, 5e-2, 5e-2, 3e-2, 2e-2});
  }
};

R1_GPU_TEST_MAIN(TestTrainParityCuda)
#include "tst_train_parity_cuda.moc"
