#pragma once
// Training parity against PyTorch (tests/fixtures/make_train_fixtures.py): the loss, per-token log-probs and
// entropies, every parameter's gradient, and five AdamW steps with clipping, on one device. Shared by the CPU
// suite and the CUDA suite, which differ only in the device and the tolerances.
#include <QtTest/QtTest>

#include <cmath>
#include <cstring>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/train/trainer.h"
#include "testlib/test_support.h"

namespace r1::test {

struct ParityTolerance {
  double loss_rel;         // |loss - ref| / ref
  double token_abs;        // per-token logp and entropy
  double grad_rel;         // ||g - ref|| / ||ref|| per tensor
  double steps_rel;        // the six losses of the AdamW run
  double params_rel;       // ||p - ref|| / ||ref|| per tensor after five steps; 0: not checked per tensor
  double params_global;    // the same over the whole parameter block
  bool trajectory = true;  // compare the five AdamW steps too
};

inline std::vector<float> npy_floats(const std::filesystem::path& p) {
  const NpyArray a = read_npy(p);
  return std::vector<float>(a.f32(), a.f32() + numel(a.shape));
}

inline double rel_norm_diff(const float* a, const float* ref, int64_t n) {
  double d = 0, r = 0;
  for (int64_t i = 0; i < n; ++i) {
    d += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(r), 1e-30);
}

// Models that make_train_fixtures.py builds but whose fixture may not be committed yet (it needs torch):
// their rows skip, saying how to make the fixture, rather than fail.
inline bool fixture_may_be_missing(const std::string& name) {
  return name == "deepseek-v3-moe";
}

// flash_attention: let the CUDA trainer use its flash kernels where the head dims allow (false: the path that
// keeps the probabilities).
inline void check_training_parity(const std::string& name, TrainDevice device, const ParityTolerance& tol,
                                  bool flash_attention = true) {
  const std::filesystem::path dir = fixtures() / "train" / name;
  if (fixture_may_be_missing(name) && !std::filesystem::exists(dir))
    QSKIP(
        qPrintable(QString("no fixture %1 yet: run `python3 tests/fixtures/make_train_fixtures.py --only %2` "
                           "where torch and transformers are installed")
                       .arg(QString::fromStdString(dir.string()), QString::fromStdString(name))));
  const auto model = load_model(dir);
  TrainBatch batch;
  const NpyArray ids = read_npy(dir / "ids.npy"), targets = read_npy(dir / "targets.npy");
  batch.B = ids.shape[0], batch.L = ids.shape[1];
  for (int64_t v : ids.to_i64()) batch.ids.push_back(int32_t(v));
  for (int64_t v : targets.to_i64()) batch.targets.push_back(int32_t(v));
  batch.weights = npy_floats(dir / "weights.npy");

  TrainerOptions opt;
  opt.device = device;
  opt.max_batch = batch.B, opt.max_seq = batch.L;
  opt.lm_head_chunk_rows = 5;  // several chunks, one of them partial
  opt.flash_attention = flash_attention;
  auto trainer = make_trainer(*model, opt);

  // Loss, per-token values and gradients at the initial weights.
  std::vector<float> logp(size_t(batch.tokens())), entropy(logp.size());
  CrossEntropyObjective ce(batch.weights.data(), batch.weight_sum());
  const double loss = trainer->forward_backward(batch, ce, logp.data(), entropy.data());
  const double ref_loss = npy_floats(dir / "loss.npy")[0];
  QVERIFY2(std::abs(loss - ref_loss) <= tol.loss_rel * ref_loss,
           qPrintable(QString("%1: loss %2 vs PyTorch %3")
                          .arg(name.c_str())
                          .arg(loss, 0, 'g', 9)
                          .arg(ref_loss, 0, 'g', 9)));
  const auto ref_logp = npy_floats(dir / "logp.npy"), ref_entropy = npy_floats(dir / "entropy.npy");
  for (size_t t = 0; t < logp.size(); ++t) {
    QVERIFY2(
        std::abs(logp[t] - ref_logp[t]) <= tol.token_abs,
        qPrintable(QString("%1: logp[%2] %3 vs %4").arg(name.c_str()).arg(t).arg(logp[t]).arg(ref_logp[t])));
    QVERIFY2(std::abs(entropy[t] - ref_entropy[t]) <= tol.token_abs,
             qPrintable(QString("%1: entropy[%2] %3 vs %4")
                            .arg(name.c_str())
                            .arg(t)
                            .arg(entropy[t])
                            .arg(ref_entropy[t])));
  }
  const std::vector<float> grads = trainer->gradients();
  const SafetensorsFile ref_grads(dir / "grads.safetensors");
  QCOMPARE(int64_t(ref_grads.entries().size()), int64_t(trainer->layout().tensors.size()));
  double worst = 0;
  std::string worst_name;
  for (const ParamTensor& t : trainer->layout().tensors) {
    const SafetensorsEntry* e = ref_grads.find(t.name);
    QVERIFY2(e, qPrintable(QString("%1: PyTorch has no gradient for %2").arg(name.c_str(), t.name.c_str())));
    const TensorView ref = ref_grads.view(*e);
    QCOMPARE(ref.numel(), t.numel());
    const double err = rel_norm_diff(grads.data() + t.offset, static_cast<const float*>(ref.data), t.numel());
    if (err > worst) worst = err, worst_name = t.name;
  }
  qInfo("%s: loss %.7f (PyTorch %.7f), worst gradient %s rel. error %.2e", name.c_str(), loss, ref_loss,
        worst_name.c_str(), worst);
  QVERIFY2(worst <= tol.grad_rel, qPrintable(QString("%1: gradient of %2 differs by %3 (relative)")
                                                 .arg(name.c_str(), worst_name.c_str())
                                                 .arg(worst)));

  if (!tol.trajectory) return;
  // Five AdamW steps with clipping on the same batch (the first reuses the gradients above).
  OptimizerHyper h;
  h.lr = 1e-2, h.beta1 = 0.9, h.beta2 = 0.95, h.eps = 1e-8, h.weight_decay = 0.1, h.max_grad_norm = 1.0;
  const auto ref_losses = npy_floats(dir / "adamw_losses.npy");
  const auto ref_norms = npy_floats(dir / "grad_norms.npy");
  std::vector<double> losses{loss};
  for (int step = 0; step < 5; ++step) {
    const double norm = trainer->optimizer_step(h, h.lr);
    QVERIFY2(std::abs(norm - ref_norms[size_t(step)]) <= tol.grad_rel * ref_norms[size_t(step)] + 1e-6,
             qPrintable(QString("%1: step %2 grad norm %3 vs %4")
                            .arg(name.c_str())
                            .arg(step + 1)
                            .arg(norm)
                            .arg(ref_norms[size_t(step)])));
    CrossEntropyObjective next(batch.weights.data(), batch.weight_sum());
    losses.push_back(trainer->forward_backward(batch, next));
  }
  qInfo("%s: AdamW losses %.6f -> %.6f (PyTorch %.6f -> %.6f)", name.c_str(), losses.front(), losses.back(),
        double(ref_losses.front()), double(ref_losses.back()));
  for (size_t i = 0; i < losses.size(); ++i)
    QVERIFY2(std::abs(losses[i] - ref_losses[i]) <= tol.steps_rel * ref_losses[i],
             qPrintable(QString("%1: loss after %2 steps %3 vs PyTorch %4")
                            .arg(name.c_str())
                            .arg(i)
                            .arg(losses[i], 0, 'g', 8)
                            .arg(ref_losses[i], 0, 'g', 8)));
  const std::vector<float> params = trainer->parameters();
  const SafetensorsFile ref_params(dir / "final_params.safetensors");
  std::vector<float> ref_all(params.size());
  for (const ParamTensor& t : trainer->layout().tensors) {
    const TensorView ref = ref_params.view(*ref_params.find(t.name));
    std::memcpy(ref_all.data() + t.offset, ref.data, size_t(t.numel()) * 4);
    const double err =
        rel_norm_diff(params.data() + t.offset, static_cast<const float*>(ref.data), t.numel());
    QVERIFY2(tol.params_rel == 0 || err <= tol.params_rel,
             qPrintable(QString("%1: %2 after five steps differs by %3 (relative)")
                            .arg(name.c_str(), t.name.c_str())
                            .arg(err)));
  }
  const double global = rel_norm_diff(params.data(), ref_all.data(), int64_t(params.size()));
  qInfo("%s: parameters after five steps differ by %.2e (relative, whole block)", name.c_str(), global);
  QVERIFY(global <= tol.params_global);
}

inline void add_parity_rows() {
  QTest::addColumn<QString>("name");
  for (const char* n : {"llama-tied-bias", "qwen2-untied", "qwen3-qknorm", "deepseek-v3-mla-dense",
                        "deepseek-v3-moe", "qwen2-gqa-head64"})
    QTest::newRow(n) << QString(n);
}

}  // namespace r1::test
