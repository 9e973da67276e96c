// CPU training ops: every backward against central finite differences of a random scalar loss
// L = Σ r ⊙ y, every forward against a naive reference or the inference kernel it must agree with.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "kernels/common/dtype.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/causal_attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/heads.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/token_loss.h"
#include "testlib/grad_check.h"
#include "testlib/test_support.h"

using namespace r1;
using r1::test::dot;
using r1::test::randn;

namespace {

using Vec = std::vector<float>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Vec minus(const Vec& a, const Vec& b) {
  Vec d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

double max_abs_diff(const Vec& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// cos/sin of pos * 10000^(-2i/rot) laid out as fill_rope_table does: rot/2 cosines then rot/2 sines.
Vec rope_table(int64_t positions, int64_t rot) {
  Vec t(size_t(positions * rot));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < rot / 2; ++i) {
      const double a = double(p) * std::pow(10000.0, -2.0 * double(i) / double(rot));
      t[size_t(p * rot + i)] = float(std::cos(a));
      t[size_t(p * rot + rot / 2 + i)] = float(std::sin(a));
    }
  return t;
}

std::vector<int32_t> positions_of(int64_t B, int64_t L) {
  std::vector<int32_t> pos(size_t(B * L));
  for (int64_t t = 0; t < B * L; ++t) pos[size_t(t)] = int32_t(t % L);
  return pos;
}

}  // namespace

class TestTrainOpsCpu : public QObject {
  Q_OBJECT

 private slots:
  // More workers than small test shapes need, so that the split paths (column blocks, groups) all run.
  void initTestCase() { cpu::set_num_threads(4); }

  void matmul_forward_matches_reference_data() {
    QTest::addColumn<bool>("bias");
    QTest::addColumn<bool>("accumulate");
    QTest::newRow("plain") << false << false;
    QTest::newRow("bias") << true << false;
    QTest::newRow("bias, accumulate") << true << true;
  }
  void matmul_forward_matches_reference() {
    QFETCH(bool, bias);
    QFETCH(bool, accumulate);
    const int64_t T = 9, K = 13, N = 11;
    const Vec x = randn(size_t(T * K), 1), w = randn(size_t(N * K), 2), b = randn(size_t(N), 3);
    const Vec prior = randn(size_t(T * N), 4);
    std::vector<double> ref(prior.size());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) {
        double s = (accumulate ? prior[size_t(t * N + n)] : 0.0) + (bias ? b[size_t(n)] : 0.0);
        for (int64_t k = 0; k < K; ++k) s += double(x[size_t(t * K + k)]) * w[size_t(n * K + k)];
        ref[size_t(t * N + n)] = s;
      }
    Vec y = prior;
    cpu::matmul_forward(y.data(), x.data(), w.data(), bias ? b.data() : nullptr, T, K, N, accumulate);
    QVERIFY2(max_abs_diff(y, ref) < 1e-5, qPrintable(QString::number(max_abs_diff(y, ref))));
  }

  void matmul_backward_gradients_data() {
    QTest::addColumn<bool>("accumulate_dx");
    QTest::newRow("dx assigned") << false;
    QTest::newRow("dx accumulated") << true;
  }
  void matmul_backward_gradients() {
    QFETCH(bool, accumulate_dx);
    const int64_t T = 6, K = 7, N = 5;
    Vec x = randn(size_t(T * K), 10), w = randn(size_t(N * K), 11), b = randn(size_t(N), 12);
    const Vec r = randn(size_t(T * N), 13);
    Vec y(r.size());
    const auto loss = [&] {
      cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), T, K, N);
      return dot(r, y);
    };
    const Vec dx_prior = randn(x.size(), 14), dw_prior = randn(w.size(), 15), db_prior = randn(b.size(), 16);
    Vec dx = dx_prior, dw = dw_prior, db = db_prior;
    cpu::matmul_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), T, K, N,
                         accumulate_dx);
    CHECK_GRAD("dx", x, accumulate_dx ? minus(dx, dx_prior) : dx, loss);
    CHECK_GRAD("dw", w, minus(dw, dw_prior), loss);
    CHECK_GRAD("db", b, minus(db, db_prior), loss);

    // Null gradients are skipped and leave the others as they were.
    Vec dx_only = dx_prior;
    cpu::matmul_backward(dx_only.data(), nullptr, nullptr, r.data(), x.data(), w.data(), T, K, N,
                         accumulate_dx);
    QCOMPARE(dx_only, dx);
    Vec db_only = db_prior;
    cpu::matmul_backward(nullptr, nullptr, db_only.data(), r.data(), x.data(), w.data(), T, K, N,
                         accumulate_dx);
    QCOMPARE(db_only, db);
  }

  void rmsnorm_forward_train_matches_inference() {
    const int64_t rows = 7, dim = 40, ld_x = 45, ld_y = 43;
    const float eps = 1e-6f;
    const Vec x = randn(size_t(rows * ld_x), 20, 3.0f), w = randn(size_t(dim), 21);
    Vec y(size_t(rows * ld_y), kNaN), rstd(size_t(rows), kNaN);
    cpu::rmsnorm_forward_train(y.data(), ld_y, rstd.data(), x.data(), ld_x, w.data(), rows, dim, eps);
    for (int64_t r = 0; r < rows; ++r) {
      Vec ref(static_cast<size_t>(dim));
      cpu::rmsnorm_forward(ref.data(), x.data() + r * ld_x, w.data(), 1, dim, eps);
      for (int64_t i = 0; i < dim; ++i) QCOMPARE(y[size_t(r * ld_y + i)], ref[size_t(i)]);
      for (int64_t i = dim; i < ld_y; ++i) QVERIFY(std::isnan(y[size_t(r * ld_y + i)]));
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x[size_t(r * ld_x + i)]) * x[size_t(r * ld_x + i)];
      const double want = 1.0 / std::sqrt(ss / dim + eps);
      QVERIFY(std::abs(rstd[size_t(r)] - want) < 1e-6 * want);
    }
  }

  void rmsnorm_backward_gradients_data() {
    QTest::addColumn<bool>("accumulate_dx");
    QTest::newRow("dx assigned") << false;
    QTest::newRow("dx accumulated") << true;
  }
  void rmsnorm_backward_gradients() {
    QFETCH(bool, accumulate_dx);
    // dim spans two weight-gradient column blocks; strides differ from dim and from each other.
    const int64_t rows = 5, dim = 40, ld_x = 44, ld_dy = 41;
    const float eps = 1e-6f;
    Vec x = randn(size_t(rows * ld_x), 30, 2.0f), w = randn(size_t(dim), 31);
    Vec r = randn(size_t(rows * ld_dy), 32);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t i = dim; i < ld_dy; ++i) r[size_t(row * ld_dy + i)] = 0;
    Vec y(r.size(), 0.0f), rstd(static_cast<size_t>(rows));
    const auto loss = [&] {
      cpu::rmsnorm_forward_train(y.data(), ld_dy, rstd.data(), x.data(), ld_x, w.data(), rows, dim, eps);
      return dot(r, y);
    };
    loss();
    const Vec dx_prior = randn(x.size(), 33), dw_prior = randn(w.size(), 34);
    Vec dx = dx_prior, dw = dw_prior;
    cpu::rmsnorm_backward(dx.data(), dw.data(), r.data(), ld_dy, x.data(), ld_x, w.data(), rstd.data(), rows,
                          dim, accumulate_dx);
    CHECK_GRAD("dx", x, accumulate_dx ? minus(dx, dx_prior) : dx, loss, ld_x, 0, dim);
    CHECK_GRAD("dw", w, minus(dw, dw_prior), loss);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t i = dim; i < ld_x; ++i)
        QCOMPARE(dx[size_t(row * ld_x + i)], dx_prior[size_t(row * ld_x + i)]);
  }

  void heads_data() {
    QTest::addColumn<bool>("interleaved");
    QTest::addColumn<bool>("qk_norm");
    QTest::addColumn<int>("rot_dim");
    for (bool interleaved : {false, true})
      for (bool norm : {false, true})
        for (int rot : {8, 12})
          QTest::newRow(qPrintable(QString("%1, %2, rot %3")
                                       .arg(interleaved ? "interleaved" : "rotate-half")
                                       .arg(norm ? "qk-norm" : "no norm")
                                       .arg(rot)))
              << interleaved << norm << rot;
    QTest::newRow("no rotation, qk-norm") << false << true << 0;
  }

  void heads_forward_matches_rope_data() { heads_data(); }
  void heads_forward_matches_rope() {
    QFETCH(bool, interleaved);
    QFETCH(bool, qk_norm);
    QFETCH(int, rot_dim);
    const cpu::HeadsShape s{2, 5, 4, 2, 12, rot_dim, interleaved};
    const int64_t T = s.B * s.L, heads = s.H + 2 * s.KVH, row = heads * s.D;
    const float eps = 1e-6f;
    const Vec qkv = randn(size_t(T * row), 40), qn = randn(size_t(s.D), 41), kn = randn(size_t(s.D), 42);
    const Vec table = rope_table(s.L, std::max<int64_t>(rot_dim, 2));
    Vec q(size_t(T * s.H * s.D), kNaN), k(size_t(T * s.KVH * s.D), kNaN), v(k.size(), kNaN);
    Vec q_rstd(size_t(T * s.H), kNaN), k_rstd(size_t(T * s.KVH), kNaN);
    cpu::heads_forward(q.data(), k.data(), v.data(), q_rstd.data(), k_rstd.data(), qkv.data(),
                       qk_norm ? qn.data() : nullptr, qk_norm ? kn.data() : nullptr, eps, table.data(), s);

    // Reference: token-major heads through the inference kernels, then compared head-major.
    const auto pos = positions_of(s.B, s.L);
    const auto reference = [&](int64_t first, int64_t n, const Vec& norm) {
      Vec x(size_t(T * n * s.D));
      for (int64_t t = 0; t < T; ++t)
        std::copy_n(qkv.data() + t * row + first * s.D, n * s.D, x.data() + t * n * s.D);
      if (qk_norm) cpu::rmsnorm_forward(x.data(), x.data(), norm.data(), T * n, s.D, eps);
      if (rot_dim > 0) cpu::rope_forward(x.data(), pos.data(), table.data(), T, n, s.D, rot_dim, interleaved);
      return x;
    };
    const auto compare = [&](const Vec& got, const Vec& want, int64_t n) {
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < n; ++h)
          for (int64_t d = 0; d < s.D; ++d) {
            const float g = got[size_t((((t / s.L) * n + h) * s.L + t % s.L) * s.D + d)];
            const float e = want[size_t((t * n + h) * s.D + d)];
            if (!(std::abs(g - e) <= 1e-5f * (1.0f + std::abs(e))))
              return QString("token %1 head %2 dim %3: %4 vs %5").arg(t).arg(h).arg(d).arg(g).arg(e);
          }
      return QString();
    };
    QString err = compare(q, reference(0, s.H, qn), s.H);
    QVERIFY2(err.isEmpty(), qPrintable("q " + err));
    err = compare(k, reference(s.H, s.KVH, kn), s.KVH);
    QVERIFY2(err.isEmpty(), qPrintable("k " + err));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < s.KVH; ++h)
        for (int64_t d = 0; d < s.D; ++d)
          QCOMPARE(v[size_t((((t / s.L) * s.KVH + h) * s.L + t % s.L) * s.D + d)],
                   qkv[size_t(t * row + (s.H + s.KVH + h) * s.D + d)]);
    if (qk_norm) {
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < s.H + s.KVH; ++j) {
          double ss = 0;
          for (int64_t d = 0; d < s.D; ++d) ss += std::pow(double(qkv[size_t(t * row + j * s.D + d)]), 2);
          const double want = 1.0 / std::sqrt(ss / double(s.D) + eps);
          const float got = j < s.H ? q_rstd[size_t(t * s.H + j)] : k_rstd[size_t(t * s.KVH + j - s.H)];
          QVERIFY(std::abs(got - want) < 1e-6 * want);
        }
    }
  }

  void heads_backward_gradients_data() { heads_data(); }
  void heads_backward_gradients() {
    QFETCH(bool, interleaved);
    QFETCH(bool, qk_norm);
    QFETCH(int, rot_dim);
    // D = 20 puts the norm-weight gradient over two column blocks.
    const cpu::HeadsShape s{2, 3, 4, 2, 20, rot_dim, interleaved};
    const int64_t T = s.B * s.L, row = (s.H + 2 * s.KVH) * s.D;
    const float eps = 1e-6f;
    Vec qkv = randn(size_t(T * row), 50), qn = randn(size_t(s.D), 51), kn = randn(size_t(s.D), 52);
    const Vec table = rope_table(s.L, std::max<int64_t>(rot_dim, 2));
    const Vec rq = randn(size_t(T * s.H * s.D), 53), rk = randn(size_t(T * s.KVH * s.D), 54),
              rv = randn(rk.size(), 55);
    Vec q(rq.size()), k(rk.size()), v(rv.size()), q_rstd(size_t(T * s.H)), k_rstd(size_t(T * s.KVH));
    const float* q_norm = qk_norm ? qn.data() : nullptr;
    const float* k_norm = qk_norm ? kn.data() : nullptr;
    const auto loss = [&] {
      cpu::heads_forward(q.data(), k.data(), v.data(), q_rstd.data(), k_rstd.data(), qkv.data(), q_norm,
                         k_norm, eps, table.data(), s);
      return dot(rq, q) + dot(rk, k) + dot(rv, v);
    };
    loss();
    Vec dqkv(qkv.size(), 7.0f);
    const Vec dqn_prior = randn(size_t(s.D), 56), dkn_prior = randn(size_t(s.D), 57);
    Vec dqn = dqn_prior, dkn = dkn_prior;
    cpu::heads_backward(dqkv.data(), dqn.data(), dkn.data(), rq.data(), rk.data(), rv.data(), qkv.data(),
                        q_norm, k_norm, q_rstd.data(), k_rstd.data(), table.data(), s);
    CHECK_GRAD("dqkv", qkv, dqkv, loss);
    if (qk_norm) {
      CHECK_GRAD("dq_norm", qn, minus(dqn, dqn_prior), loss);
      CHECK_GRAD("dk_norm", kn, minus(dkn, dkn_prior), loss);
    } else {
      QCOMPARE(dqn, dqn_prior);
      QCOMPARE(dkn, dkn_prior);
    }
  }

  void mla_heads_data() {
    QTest::addColumn<bool>("interleaved");
    QTest::newRow("rotate-half") << false;
    QTest::newRow("interleaved") << true;
  }

  void mla_heads_forward_matches_rope_data() { mla_heads_data(); }
  void mla_heads_forward_matches_rope() {
    QFETCH(bool, interleaved);
    const cpu::MlaDims m{6, 4, 5};
    const cpu::HeadsShape s{2, 4, 3, 3, m.dn + m.dr, m.dr, interleaved};
    const int64_t T = s.B * s.L, lora = 7, ld_pe = lora + m.dr, kv_head = m.dn + m.dv;
    // k_pe lives at the end of the kv_a projection rows [c_kv | k_pe], as in the model.
    const Vec q_in = randn(size_t(T * s.H * s.D), 60), kv_in = randn(size_t(T * s.H * kv_head), 61),
              kv_a = randn(size_t(T * ld_pe), 62);
    const Vec table = rope_table(s.L, m.dr);
    Vec q(q_in.size(), kNaN), k(q_in.size(), kNaN), v(size_t(T * s.H * m.dv), kNaN);
    cpu::mla_heads_forward(q.data(), k.data(), v.data(), q_in.data(), kv_in.data(), kv_a.data() + lora, ld_pe,
                           table.data(), s, m);

    const auto pos = positions_of(s.B, s.L);
    Vec q_ref = q_in, pe(size_t(T * m.dr));
    cpu::rope_forward(q_ref.data() + m.dn, pos.data(), table.data(), T, s.H, s.D, m.dr, interleaved);
    for (int64_t t = 0; t < T; ++t) std::copy_n(kv_a.data() + t * ld_pe + lora, m.dr, pe.data() + t * m.dr);
    cpu::rope_forward(pe.data(), pos.data(), table.data(), T, 1, m.dr, m.dr, interleaved);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < s.H; ++h) {
        const int64_t head_row = ((t / s.L) * s.H + h) * s.L + t % s.L;
        for (int64_t d = 0; d < s.D; ++d) {
          QVERIFY(std::abs(q[size_t(head_row * s.D + d)] - q_ref[size_t((t * s.H + h) * s.D + d)]) < 1e-6f);
          const float k_want =
              d < m.dn ? kv_in[size_t((t * s.H + h) * kv_head + d)] : pe[size_t(t * m.dr + d - m.dn)];
          QVERIFY(std::abs(k[size_t(head_row * s.D + d)] - k_want) < 1e-6f);
        }
        for (int64_t d = 0; d < m.dv; ++d)
          QCOMPARE(v[size_t(head_row * m.dv + d)], kv_in[size_t((t * s.H + h) * kv_head + m.dn + d)]);
      }
  }

  void mla_heads_backward_gradients_data() { mla_heads_data(); }
  void mla_heads_backward_gradients() {
    QFETCH(bool, interleaved);
    const cpu::MlaDims m{6, 4, 5};
    const cpu::HeadsShape s{2, 4, 3, 3, m.dn + m.dr, m.dr, interleaved};
    const int64_t T = s.B * s.L, lora = 7, ld_pe = lora + m.dr, kv_head = m.dn + m.dv;
    Vec q_in = randn(size_t(T * s.H * s.D), 70), kv_in = randn(size_t(T * s.H * kv_head), 71),
        kv_a = randn(size_t(T * ld_pe), 72);
    const Vec table = rope_table(s.L, m.dr);
    const Vec rq = randn(q_in.size(), 73), rk = randn(q_in.size(), 74),
              rv = randn(size_t(T * s.H * m.dv), 75);
    Vec q(rq.size()), k(rk.size()), v(rv.size());
    const auto loss = [&] {
      cpu::mla_heads_forward(q.data(), k.data(), v.data(), q_in.data(), kv_in.data(), kv_a.data() + lora,
                             ld_pe, table.data(), s, m);
      return dot(rq, q) + dot(rk, k) + dot(rv, v);
    };
    Vec dq_in(q_in.size(), 7.0f), dkv_in(kv_in.size(), 7.0f), dkv_a(kv_a.size(), 7.0f);
    cpu::mla_heads_backward(dq_in.data(), dkv_in.data(), dkv_a.data() + lora, ld_pe, rq.data(), rk.data(),
                            rv.data(), table.data(), s, m);
    CHECK_GRAD("dq_in", q_in, dq_in, loss);
    CHECK_GRAD("dkv_in", kv_in, dkv_in, loss);
    CHECK_GRAD("dk_pe", kv_a, dkv_a, loss, ld_pe, lora, m.dr);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < lora; ++i) QCOMPARE(dkv_a[size_t(t * ld_pe + i)], 7.0f);
  }

  void attention_data() {
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("KVH");
    QTest::addColumn<int>("Dk");
    QTest::addColumn<int>("Dv");
    QTest::newRow("multi-head") << 2 << 2 << 8 << 8;
    QTest::newRow("GQA group 2, Dk != Dv") << 4 << 2 << 8 << 6;
    QTest::newRow("MQA, Dk != Dv") << 3 << 1 << 5 << 7;
  }

  void causal_attention_forward_matches_naive_data() { attention_data(); }
  void causal_attention_forward_matches_naive() {
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, Dk);
    QFETCH(int, Dv);
    const cpu::AttentionShape s{2, 7, H, KVH, Dk, Dv, float(1.0 / std::sqrt(double(Dk)))};
    const Vec q = randn(size_t(s.B * H * s.L * Dk), 80, 1.5f),
              k = randn(size_t(s.B * KVH * s.L * Dk), 81, 1.5f), v = randn(size_t(s.B * KVH * s.L * Dv), 82);
    Vec out(size_t(s.B * s.L * H * Dv), kNaN), probs(size_t(s.B * H * s.L * s.L), kNaN);
    cpu::causal_attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), s);
    const int64_t g = H / KVH;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < s.L; ++i) {
          const float* qi = q.data() + ((b * H + h) * s.L + i) * Dk;
          std::vector<double> p(size_t(i + 1));
          double top = -1e300, sum = 0;
          for (int64_t j = 0; j <= i; ++j) {
            const float* kj = k.data() + ((b * KVH + h / g) * s.L + j) * Dk;
            double sc = 0;
            for (int64_t d = 0; d < Dk; ++d) sc += double(qi[d]) * kj[d];
            p[size_t(j)] = sc * s.scale;
            top = std::max(top, p[size_t(j)]);
          }
          for (auto& x : p) sum += (x = std::exp(x - top));
          const float* prow = probs.data() + ((b * H + h) * s.L + i) * s.L;
          for (int64_t j = 0; j <= i; ++j) QVERIFY(std::abs(prow[j] - p[size_t(j)] / sum) < 1e-6);
          for (int64_t j = i + 1; j < s.L; ++j) QVERIFY(prow[j] == 0.0f);
          for (int64_t d = 0; d < Dv; ++d) {
            double o = 0;
            for (int64_t j = 0; j <= i; ++j)
              o += p[size_t(j)] / sum * v[size_t(((b * KVH + h / g) * s.L + j) * Dv + d)];
            QVERIFY(std::abs(out[size_t((b * s.L + i) * H * Dv + h * Dv + d)] - o) < 1e-5);
          }
        }
  }

  void causal_attention_backward_gradients_data() { attention_data(); }
  void causal_attention_backward_gradients() {
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, Dk);
    QFETCH(int, Dv);
    const cpu::AttentionShape s{2, 6, H, KVH, Dk, Dv, float(1.0 / std::sqrt(double(Dk)))};
    Vec q = randn(size_t(s.B * H * s.L * Dk), 90, 1.5f), k = randn(size_t(s.B * KVH * s.L * Dk), 91, 1.5f),
        v = randn(size_t(s.B * KVH * s.L * Dv), 92);
    const Vec r = randn(size_t(s.B * s.L * H * Dv), 93);
    Vec out(r.size()), probs(size_t(s.B * H * s.L * s.L));
    const auto loss = [&] {
      cpu::causal_attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), s);
      return dot(r, out);
    };
    loss();
    Vec dq(q.size(), 7.0f), dk(k.size(), 7.0f), dv(v.size(), 7.0f), scratch(probs.size(), kNaN);
    cpu::causal_attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), r.data(), out.data(),
                                   probs.data(), q.data(), k.data(), v.data(), s);
    CHECK_GRAD("dq", q, dq, loss);
    CHECK_GRAD("dk", k, dk, loss);
    CHECK_GRAD("dv", v, dv, loss);
  }

  void token_logprob_matches_log_softmax() {
    const int64_t rows = 6, V = 37;
    Vec z = randn(size_t(rows * V), 100, 3.0f);
    for (int64_t j = 0; j < V; ++j)
      z[size_t(2 * V + j)] += 1000.0f;  // exp would overflow without the max shift
    const std::vector<int32_t> y = {0, 36, 5, 17, 17, 2};
    Vec logp(size_t(rows), kNaN), entropy(size_t(rows), kNaN), logp_only(size_t(rows), kNaN);
    cpu::token_logprob_forward(logp.data(), entropy.data(), z.data(), y.data(), rows, V);
    cpu::token_logprob_forward(logp_only.data(), nullptr, z.data(), y.data(), rows, V);
    QCOMPARE(logp_only, logp);
    for (int64_t r = 0; r < rows; ++r) {
      const float* zr = z.data() + r * V;
      double top = zr[0], sum = 0;
      for (int64_t j = 1; j < V; ++j) top = std::max(top, double(zr[j]));
      for (int64_t j = 0; j < V; ++j) sum += std::exp(double(zr[j]) - top);
      const double lse = top + std::log(sum);
      double h = 0;
      for (int64_t j = 0; j < V; ++j) {
        const double lp = double(zr[j]) - lse;
        h -= std::exp(lp) * lp;
      }
      QVERIFY2(std::abs(logp[size_t(r)] - (double(zr[y[size_t(r)]]) - lse)) < 1e-5,
               qPrintable(QString("row %1 logp %2").arg(r).arg(logp[size_t(r)])));
      QVERIFY2(std::abs(entropy[size_t(r)] - h) < 1e-5,
               qPrintable(QString("row %1 entropy %2 vs %3").arg(r).arg(entropy[size_t(r)]).arg(h)));
    }
    const std::vector<int32_t> bad = {0, 37, 0, 0, 0, 0};
    QVERIFY_THROWS_EXCEPTION(std::out_of_range,
                             cpu::token_logprob_forward(logp.data(), nullptr, z.data(), bad.data(), rows, V));
  }

  void token_logprob_backward_gradients_data() {
    QTest::addColumn<bool>("with_entropy");
    QTest::newRow("logp and entropy") << true;
    QTest::newRow("logp only") << false;
  }
  void token_logprob_backward_gradients() {
    QFETCH(bool, with_entropy);
    const int64_t rows = 6, V = 37;
    Vec z = randn(size_t(rows * V), 110, 2.0f);
    const std::vector<int32_t> y = {3, 0, 36, 11, 11, 20};
    const Vec g_logp = randn(size_t(rows), 111), g_entropy = randn(size_t(rows), 112);
    Vec logp(static_cast<size_t>(rows)), entropy(static_cast<size_t>(rows));
    const auto loss = [&] {
      cpu::token_logprob_forward(logp.data(), entropy.data(), z.data(), y.data(), rows, V);
      return dot(g_logp, logp) + (with_entropy ? dot(g_entropy, entropy) : 0.0);
    };
    Vec dz(z.size(), 7.0f);
    const float* ge = with_entropy ? g_entropy.data() : nullptr;
    cpu::token_logprob_backward(dz.data(), z.data(), y.data(), g_logp.data(), ge, rows, V);
    CHECK_GRAD("dlogits", z, dz, loss);
    // In place over the logits, as the loss chunk does to save a buffer: the same numbers.
    Vec in_place = z;
    cpu::token_logprob_backward(in_place.data(), in_place.data(), y.data(), g_logp.data(), ge, rows, V);
    QCOMPARE(in_place, dz);
  }

  void adamw_matches_reference_data() {
    QTest::addColumn<bool>("decay");
    QTest::newRow("decay") << true;
    QTest::newRow("no decay") << false;
  }
  void adamw_matches_reference() {
    QFETCH(bool, decay);
    // Large lr and wd so that the order of decay and step, and each bias correction, move w by far more than
    // the tolerance: decaying the already-stepped w would differ by lr^2 wd ~ 5e-3.
    const int64_t n = 10000;
    cpu::AdamWStep step;
    step.lr = 0.1f;
    step.beta1 = 0.9f;
    step.beta2 = 0.95f;
    step.eps = 1e-8f;
    step.weight_decay = 0.5f;
    step.grad_scale = 0.5f;
    Vec w = randn(size_t(n), 120), m(size_t(n), 0.0f), v(size_t(n), 0.0f);
    std::vector<double> rw(w.begin(), w.end()), rm(size_t(n), 0.0), rv(size_t(n), 0.0);
    const double b1 = step.beta1, b2 = step.beta2, lr = step.lr, wd = step.weight_decay;
    for (int64_t t = 1; t <= 3; ++t) {
      const Vec grad = randn(size_t(n), uint32_t(120 + t), 2.0f);
      step.t = t;
      cpu::adamw_update(w.data(), m.data(), v.data(), grad.data(), n, step, decay);
      for (int64_t i = 0; i < n; ++i) {
        const double g = double(grad[size_t(i)]) * step.grad_scale;
        rm[size_t(i)] = b1 * rm[size_t(i)] + (1 - b1) * g;
        rv[size_t(i)] = b2 * rv[size_t(i)] + (1 - b2) * g * g;
        if (decay) rw[size_t(i)] -= lr * wd * rw[size_t(i)];
        const double m_hat = rm[size_t(i)] / (1 - std::pow(b1, double(t)));
        const double v_hat = rv[size_t(i)] / (1 - std::pow(b2, double(t)));
        rw[size_t(i)] -= lr * m_hat / (std::sqrt(v_hat) + double(step.eps));
      }
      const double dw = max_abs_diff(w, rw), dm = max_abs_diff(m, rm), dv = max_abs_diff(v, rv);
      QVERIFY2(dw < 2e-6 && dm < 2e-6 && dv < 2e-5,
               qPrintable(QString("step %1: |w| %2 |m| %3 |v| %4").arg(t).arg(dw).arg(dm).arg(dv)));
    }
  }

  void sum_squares_accumulates_in_double() {
    // 2^20 values near 1: an fp32 running sum would be off by ~1e-3 of the total.
    const int64_t n = (1 << 20) + 3;
    Vec x(static_cast<size_t>(n));
    std::mt19937 g(130);
    std::uniform_real_distribution<float> d(0.9f, 1.1f);
    double want = 0;
    for (auto& e : x) {
      e = d(g);
      want += double(e) * e;
    }
    QVERIFY(std::abs(cpu::sum_squares(x.data(), n) - want) < 1e-12 * want);
    QCOMPARE(cpu::sum_squares(x.data(), 5), double(x[0]) * x[0] + double(x[1]) * x[1] + double(x[2]) * x[2] +
                                                double(x[3]) * x[3] + double(x[4]) * x[4]);
    QCOMPARE(cpu::sum_squares(x.data(), 0), 0.0);
  }

  void swiglu_fused_matches_unfused() {
    const int64_t T = 5, inter = 19;
    const Vec gate_up = randn(size_t(T * 2 * inter), 140, 2.0f);
    Vec h(size_t(T * inter), kNaN), want(h.size());
    cpu::swiglu_forward_fused(h.data(), gate_up.data(), T, inter);
    for (int64_t t = 0; t < T; ++t)
      cpu::swiglu_forward(want.data() + t * inter, gate_up.data() + t * 2 * inter,
                          gate_up.data() + t * 2 * inter + inter, inter);
    QCOMPARE(h, want);
  }

  void swiglu_fused_backward_gradients() {
    const int64_t T = 5, inter = 19;
    Vec gate_up = randn(size_t(T * 2 * inter), 150, 2.0f);
    const Vec r = randn(size_t(T * inter), 151);
    Vec h(r.size());
    const auto loss = [&] {
      cpu::swiglu_forward_fused(h.data(), gate_up.data(), T, inter);
      return dot(r, h);
    };
    Vec d(gate_up.size(), 7.0f);
    cpu::swiglu_backward_fused(d.data(), r.data(), gate_up.data(), T, inter);
    CHECK_GRAD("dgate_up", gate_up, d, loss);
  }

  void embedding_backward_accumulates() {
    // dim above the column split, repeated ids so that rows gather several tokens.
    const int64_t rows = 6, dim = 150, T = 9;
    const std::vector<int32_t> ids = {4, 1, 4, 0, 5, 4, 1, 3, 0};
    Vec table = randn(size_t(rows * dim), 160);
    const Vec r = randn(size_t(T * dim), 161), prior = randn(table.size(), 162);
    Vec dtable = prior;
    cpu::embedding_backward(dtable.data(), ids.data(), r.data(), T, dim);
    Vec want = prior;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < dim; ++c) want[size_t(ids[size_t(t)] * dim + c)] += r[size_t(t * dim + c)];
    QCOMPARE(dtable, want);
    Vec y(r.size());
    const auto loss = [&] {
      cpu::embedding_forward(y.data(), ids.data(), table.data(), DType::F32, T, dim);
      return dot(r, y);
    };
    const Vec grad = minus(dtable, prior);
    for (int64_t c = 0; c < dim; ++c) QVERIFY(grad[size_t(2 * dim + c)] == 0.0f);  // id 2 never occurs
    CHECK_GRAD("dtable", table, grad, loss);
  }

  void bad_shapes_throw() {
    Vec buf(64);
    QVERIFY_THROWS_EXCEPTION(
        std::invalid_argument,
        cpu::causal_attention_forward(buf.data(), buf.data(), buf.data(), buf.data(), buf.data(),
                                      cpu::AttentionShape{1, 2, 3, 2, 4, 4, 1}));
    QVERIFY_THROWS_EXCEPTION(
        std::invalid_argument,
        cpu::heads_forward(buf.data(), buf.data(), buf.data(), nullptr, nullptr, buf.data(), nullptr, nullptr,
                           1e-6f, buf.data(), cpu::HeadsShape{1, 1, 1, 1, 4, 3, false}));
    QVERIFY_THROWS_EXCEPTION(
        std::invalid_argument,
        cpu::rmsnorm_forward_train(buf.data(), 4, buf.data(), buf.data(), 3, buf.data(), 1, 4, 1e-6f));
    cpu::AdamWStep step;
    step.t = 0;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, cpu::adamw_update(buf.data(), buf.data(), buf.data(),
                                                                      buf.data(), 4, step, true));
  }
};

QTEST_APPLESS_MAIN(TestTrainOpsCpu)
#include "tst_train_ops_cpu.moc"
