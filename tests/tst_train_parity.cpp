// The CPU trainer against PyTorch: loss, log-probs, entropies, gradients and five AdamW steps (fp32).
#include "train_parity_check.h"

class TestTrainParity : public QObject {
  Q_OBJECT
 private slots:
  void matches_pytorch_data() { r1::test::add_parity_rows(); }
  void matches_pytorch() {
    QFETCH(QString, name);
    // fp32 throughout; the residual differences are summation order. After five steps, Adam's division by
    // sqrt(v) lets an element whose gradient is near zero move by up to the learning rate on rounding noise
    // (seen: 1.5e-3 on a 32-value key bias), hence the looser parameter bound.
    r1::test::check_training_parity(name.toStdString(), r1::TrainDevice::Cpu,
                                    {1e-5, 1e-4, 1e-4, 1e-4, 5e-3, 1e-4});
  }
};

QTEST_APPLESS_MAIN(TestTrainParity)
#include "tst_train_parity.moc"
