// CPU kernels against straightforward double-precision references on random inputs.
#include <cmath>
#include <random>

#include "kernels/common/half.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "testlib/test_support.h"

using namespace r1;
using r1::test::randn;

namespace {

// Relative error ||a - b|| / ||b||.
double rel_err(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace

class TestKernelsCpu : public QObject {
  Q_OBJECT

 private slots:
  void half_conversions_round_trip() {
    for (uint32_t h = 0; h < 65536; ++h) {
      const float f = f16_to_f32(uint16_t(h));
      if (std::isnan(f)) continue;
      QCOMPARE(f32_to_f16(f), uint16_t(h));
      QCOMPARE(bf16_to_f32(f32_to_bf16(bf16_to_f32(uint16_t(h)))), bf16_to_f32(uint16_t(h)));
    }
    QCOMPARE(f32_to_f16(65520.0f), uint16_t(0x7c00));  // ties to even: rounds up to inf
    QCOMPARE(f32_to_f16(1e-8f), uint16_t(0));
    QCOMPARE(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
    QCOMPARE(f32_to_bf16(1.00390625f), uint16_t(0x3f80));  // halfway, even stays
    QCOMPARE(f32_to_bf16(1.01171875f), uint16_t(0x3f82));  // halfway, odd rounds up
  }

  void linear_matches_reference_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("T");
    for (DType t : {DType::F32, DType::BF16, DType::F16})
      for (int T : {1, 3, 4, 9, 300})
        QTest::newRow(qPrintable(QString("%1 T=%2").arg(dtype_name(t).data()).arg(T))) << int(t) << T;
  }
  void linear_matches_reference() {
    QFETCH(int, dtype);
    QFETCH(int, T);
    const DType t = DType(dtype);
    const int64_t in = 77, out = 301;  // odd sizes exercise the vector tails and a partial panel
    auto x = randn(size_t(T * in), 1);
    auto wf = randn(size_t(out * in), 2);
    auto bias = randn(size_t(out), 3);
    std::vector<uint16_t> w16(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) {
      if (t == DType::BF16) {
        w16[i] = f32_to_bf16(wf[i]);
        wf[i] = bf16_to_f32(w16[i]);
      } else if (t == DType::F16) {
        w16[i] = f32_to_f16(wf[i]);
        wf[i] = f16_to_f32(w16[i]);
      }
    }
    std::vector<double> ref(static_cast<size_t>(T * out));
    for (int k = 0; k < T; ++k)
      for (int64_t r = 0; r < out; ++r) {
        double s = bias[size_t(r)];
        for (int64_t i = 0; i < in; ++i) s += double(x[size_t(k * in + i)]) * wf[size_t(r * in + i)];
        ref[size_t(k * out + r)] = s;
      }
    std::vector<float> y(ref.size(), NAN), panel(size_t(cpu::linear_scratch_floats(in)));
    const void* w = t == DType::F32 ? static_cast<const void*>(wf.data()) : w16.data();
    cpu::linear_forward(y.data(), x.data(), w, t, bias.data(), T, in, out,
                        {panel.data(), int64_t(panel.size())});
    QVERIFY2(rel_err(y, ref) < 1e-5, qPrintable(QString("relative error %1").arg(rel_err(y, ref))));
  }

  void rmsnorm_matches_reference() {
    const int64_t rows = 5, dim = 37;
    const auto x = randn(size_t(rows * dim), 4, 3.0f), w = randn(size_t(dim), 5);
    std::vector<double> ref(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x[size_t(r * dim + i)]) * x[size_t(r * dim + i)];
      const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
      for (int64_t i = 0; i < dim; ++i)
        ref[size_t(r * dim + i)] = x[size_t(r * dim + i)] * inv * w[size_t(i)];
    }
    std::vector<float> y(x.size());
    cpu::rmsnorm_forward(y.data(), x.data(), w.data(), rows, dim, 1e-6f);
    QVERIFY(rel_err(y, ref) < 1e-6);
  }

  void rope_layouts_data() {
    QTest::addColumn<bool>("interleaved");
    QTest::newRow("rotate-half") << false;
    QTest::newRow("interleaved") << true;
  }
  void rope_layouts() {
    QFETCH(bool, interleaved);
    const int64_t T = 3, heads = 2, D = 12, rot = 8, half = rot / 2;
    auto x = randn(size_t(T * heads * D), 6);
    const std::vector<int32_t> pos = {0, 5, 17};
    std::vector<float> table(static_cast<size_t>(18 * rot));
    std::vector<double> freq(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) freq[size_t(i)] = std::pow(10000.0, -2.0 * double(i) / double(rot));
    for (int p = 0; p < 18; ++p)
      for (int64_t i = 0; i < half; ++i) {
        table[size_t(p * rot + i)] = float(std::cos(p * freq[size_t(i)]));
        table[size_t(p * rot + half + i)] = float(std::sin(p * freq[size_t(i)]));
      }
    std::vector<double> ref(x.begin(), x.end());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < half; ++i) {
          const int64_t base = (t * heads + h) * D;
          const int64_t a = base + (interleaved ? 2 * i : i), b = base + (interleaved ? 2 * i + 1 : i + half);
          const double ang = pos[size_t(t)] * freq[size_t(i)];
          ref[size_t(a)] = x[size_t(a)] * std::cos(ang) - x[size_t(b)] * std::sin(ang);
          ref[size_t(b)] = x[size_t(b)] * std::cos(ang) + x[size_t(a)] * std::sin(ang);
        }
    cpu::rope_forward(x.data(), pos.data(), table.data(), T, heads, D, rot, interleaved);
    QVERIFY(rel_err(x, ref) < 1e-6);
    // Dims past rot_dim are untouched.
    QCOMPARE(double(x[size_t(rot)]), ref[size_t(rot)]);
  }

  void attention_matches_naive_softmax() {
    const int64_t H = 4, KVH = 2, Dk = 12, Dv = 8, n_keys = 150, T = 2;
    const auto q = randn(size_t(T * H * Dk), 7), k = randn(size_t(n_keys * KVH * Dk), 8),
               v = randn(size_t(n_keys * KVH * Dv), 9);
    const std::vector<cpu::AttentionRow> rows = {{k.data(), v.data(), 70},
                                                 {k.data(), v.data(), int32_t(n_keys)}};
    std::vector<float> out(static_cast<size_t>(T * H * Dv));
    const float scale = 0.3f;
    cpu::attention_forward(out.data(), q.data(), rows.data(), T, H, KVH, Dk, Dv, KVH * Dk, KVH * Dv, scale);
    std::vector<double> ref(out.size());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / (H / KVH), n = rows[size_t(t)].n_keys;
        std::vector<double> s(static_cast<size_t>(n));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double d = 0;
          for (int64_t i = 0; i < Dk; ++i)
            d += double(q[size_t((t * H + h) * Dk + i)]) * k[size_t((j * KVH + g) * Dk + i)];
          s[size_t(j)] = d * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int64_t i = 0; i < Dv; ++i) {
          double o = 0;
          for (int64_t j = 0; j < n; ++j) o += s[size_t(j)] / sum * v[size_t((j * KVH + g) * Dv + i)];
          ref[size_t((t * H + h) * Dv + i)] = o;
        }
      }
    QVERIFY2(rel_err(out, ref) < 1e-5, qPrintable(QString::number(rel_err(out, ref))));
  }

  void swiglu_and_embedding() {
    const std::vector<float> g = {-2, 0, 3}, u = {1, 5, -1};
    std::vector<float> y(3);
    cpu::swiglu_forward(y.data(), g.data(), u.data(), 3);
    QVERIFY(std::abs(y[0] - (-2 / (1 + std::exp(2.0f)))) < 1e-6f);
    QCOMPARE(y[1], 0.0f);
    QVERIFY(std::abs(y[2] - (-3 / (1 + std::exp(-3.0f)))) < 1e-6f);
    const std::vector<uint16_t> table = {f32_to_bf16(1), f32_to_bf16(2), f32_to_bf16(3), f32_to_bf16(4)};
    const std::vector<int32_t> ids = {1, 0};
    std::vector<float> e(4);
    cpu::embedding_forward(e.data(), ids.data(), table.data(), DType::BF16, 2, 2);
    QCOMPARE(e, (std::vector<float>{3, 4, 1, 2}));
  }
};

QTEST_APPLESS_MAIN(TestKernelsCpu)
#include "tst_kernels_cpu.moc"
