// Every CUDA training op against its CPU reference (kernels/cpu) on the same random inputs: bf16 inputs are
// rounded to bf16 first and the CPU runs in fp32 on those exact values, so the only differences are the
// device's bf16 outputs and its summation order. Each forward output and every backward output is compared,
// with accumulating outputs seeded with random values so that "=" instead of "+=" fails.
//
// Tolerances, as relative L2 errors |got - want| / |want| over a whole tensor:
//   kF32  2e-5   fp32 outputs of element-wise ops and reductions (fp32 vs the CPU's double/fp32 sums)
//   kGemm 1e-4   fp32 GEMM outputs (tensor-core fp32 accumulation in another order than OpenBLAS)
//   kBf16 6e-3   an output rounded once to bf16: unit roundoff 2^-9 per element, ~1.2e-3 as an RMS
//   kAttn 1.5e-2 attention, where P and dS are also rounded to bf16 before the GEMMs that use them
// A wrong index, a lost group member or a missing term gives errors of order 1.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "kernels/common/half.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/causal_attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/heads.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/token_loss.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/causal_attention.h"
#include "kernels/cuda/heads.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/token_loss.h"
#include "kernels/cuda/train_elementwise.h"
#include "testlib/cuda_data.h"
#include "testlib/gpu_test.h"

using namespace r1;
using cuda::bf16;
using test::download;
using test::download_bf16;
using test::randn;
using test::rel_error;
using test::to_bf16;
using test::upload;

namespace {

using Vec = std::vector<float>;

constexpr double kF32 = 2e-5, kGemm = 1e-4, kBf16 = 6e-3, kAttn = 1.5e-2;

// Columns [0, width) of rows with stride ld.
Vec columns(const Vec& v, int64_t rows, int64_t ld, int64_t width) {
  Vec out(size_t(rows * width));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) out[size_t(r * width + c)] = v[size_t(r * ld + c)];
  return out;
}

// Per position l < L: rot/2 cosines then rot/2 sines (model/rope.h).
Vec rope_table(int64_t L, int64_t rot) {
  Vec cs(size_t(L * rot));
  for (int64_t l = 0; l < L; ++l)
    for (int64_t i = 0; i < rot / 2; ++i) {
      const double angle = double(l + 3) * std::pow(10000.0, -2.0 * double(i) / double(rot));
      cs[size_t(l * rot + i)] = float(std::cos(angle));
      cs[size_t(l * rot + rot / 2 + i)] = float(std::sin(angle));
    }
  return cs;
}

}  // namespace

class TestTrainOpsCuda : public QObject {
  Q_OBJECT

 private slots:
  void matmul_forward_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("K");
    QTest::addColumn<int>("N");
    QTest::addColumn<int>("out");
    QTest::addColumn<bool>("bias");
    QTest::newRow("bf16 + bias (vector)") << 37 << 320 << 200 << 0 << true;
    QTest::newRow("bf16 + bias, odd N") << 9 << 64 << 35 << 0 << true;
    QTest::newRow("bf16, no bias") << 16 << 64 << 48 << 0 << false;
    QTest::newRow("f32 + bias, odd N") << 33 << 96 << 75 << 1 << true;
    QTest::newRow("f32 accumulate + bias") << 64 << 128 << 256 << 2 << true;
  }
  void matmul_forward() {
    QFETCH(int, T);
    QFETCH(int, K);
    QFETCH(int, N);
    QFETCH(int, out);
    QFETCH(bool, bias);
    auto x = randn(size_t(T) * K, 1), w = randn(size_t(N) * K, 2, 0.05f);
    const auto xb = to_bf16(x), wb = to_bf16(w);
    const auto b = randn(size_t(N), 3);
    const auto y0 = randn(size_t(T) * N, 4);
    const auto mode = cuda::GemmOutput(out);
    Vec want = y0;
    cpu::matmul_forward(want.data(), x.data(), w.data(), bias ? b.data() : nullptr, T, K, N,
                        mode == cuda::GemmOutput::F32Accumulate);
    cuda::Blas blas;
    auto dx = upload(xb), dw = upload(wb), db = upload(b);
    cuda::DeviceBuffer dy = mode == cuda::GemmOutput::Bf16 ? cuda::DeviceBuffer(y0.size() * 2) : upload(y0);
    cuda::matmul_forward(blas, dy.get(), mode, dx.as<bf16>(), dw.as<bf16>(), bias ? db.as<float>() : nullptr,
                         T, K, N, nullptr);
    if (mode == cuda::GemmOutput::Bf16) {
      EXPECT_CLOSE("y", download_bf16(dy, want.size()), want, kBf16);
    } else {
      EXPECT_CLOSE("y", download<float>(dy, want.size()), want, kGemm);
    }
  }

  void matmul_backward_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("K");
    QTest::addColumn<int>("N");
    QTest::addColumn<int>("dx_out");  // -1: no dx
    QTest::addColumn<bool>("with_dw");
    QTest::addColumn<bool>("with_db");
    QTest::newRow("dx bf16, dw, db") << 37 << 320 << 200 << 0 << true << true;
    QTest::newRow("dx f32, odd N") << 33 << 96 << 75 << 1 << true << true;
    QTest::newRow("dx f32 accumulate") << 64 << 128 << 256 << 2 << true << true;
    QTest::newRow("dw and db only, long T") << 1000 << 64 << 130 << -1 << true << true;
    QTest::newRow("dx only") << 20 << 48 << 40 << 0 << false << false;
  }
  void matmul_backward() {
    QFETCH(int, T);
    QFETCH(int, K);
    QFETCH(int, N);
    QFETCH(int, dx_out);
    QFETCH(bool, with_dw);
    QFETCH(bool, with_db);
    auto x = randn(size_t(T) * K, 5), w = randn(size_t(N) * K, 6, 0.05f), dy = randn(size_t(T) * N, 7);
    const auto xb = to_bf16(x), wb = to_bf16(w), dyb = to_bf16(dy);
    const auto dx0 = randn(size_t(T) * K, 8), dw0 = randn(size_t(N) * K, 9), db0 = randn(size_t(N), 10);
    const auto mode = cuda::GemmOutput(std::max(dx_out, 0));
    Vec dx = dx0, dw = dw0, db = db0;
    cpu::matmul_backward(dx_out >= 0 ? dx.data() : nullptr, with_dw ? dw.data() : nullptr,
                         with_db ? db.data() : nullptr, dy.data(), x.data(), w.data(), T, K, N,
                         mode == cuda::GemmOutput::F32Accumulate);
    cuda::Blas blas;
    auto gx = upload(xb), gw = upload(wb), gdy = upload(dyb), gdw = upload(dw0), gdb = upload(db0);
    cuda::DeviceBuffer gdx =
        mode == cuda::GemmOutput::Bf16 ? cuda::DeviceBuffer(dx0.size() * 2) : upload(dx0);
    cuda::matmul_backward(blas, dx_out >= 0 ? gdx.get() : nullptr, mode, with_dw ? gdw.as<float>() : nullptr,
                          with_db ? gdb.as<float>() : nullptr, gdy.as<bf16>(), gx.as<bf16>(), gw.as<bf16>(),
                          T, K, N, nullptr);
    if (dx_out >= 0) {
      if (mode == cuda::GemmOutput::Bf16) {
        EXPECT_CLOSE("dx", download_bf16(gdx, dx.size()), dx, kBf16);
      } else {
        EXPECT_CLOSE("dx", download<float>(gdx, dx.size()), dx, kGemm);
      }
    }
    // Untouched when skipped: then the expected value is the seed.
    EXPECT_CLOSE("dw", download<float>(gdw, dw.size()), dw, kGemm);
    EXPECT_CLOSE("db", download<float>(gdb, db.size()), db, kF32);
    if (with_dw) QVERIFY(rel_error(dw, dw0) > 1e-2);
  }

  void rmsnorm_train_data() {
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("dim");
    QTest::addColumn<int>("ld_x");
    QTest::addColumn<int>("ld_y");
    QTest::addColumn<bool>("accumulate");
    QTest::newRow("vector, strided") << 6 << 512 << 520 << 516 << false;
    QTest::newRow("vector, accumulate dx") << 5 << 1024 << 1024 << 1024 << true;
    QTest::newRow("odd dim, strided") << 7 << 333 << 340 << 335 << false;
    QTest::newRow("many rows a block") << 100 << 256 << 256 << 256 << true;
    QTest::newRow("hidden 1536 (rows in registers, 3 chunks)") << 1200 << 1536 << 1536 << 1536 << false;
    QTest::newRow("hidden 2560 (5 chunks), accumulate") << 70 << 2560 << 2568 << 2564 << true;
    QTest::newRow("wide (large shared dw)") << 3 << 16384 << 16384 << 16384 << false;
  }
  void rmsnorm_train() {
    QFETCH(int, rows);
    QFETCH(int, dim);
    QFETCH(int, ld_x);
    QFETCH(int, ld_y);
    QFETCH(bool, accumulate);
    const float eps = 1e-6f;
    const auto x = randn(size_t(rows) * ld_x, 11, 2.0f), w = randn(size_t(dim), 12, 0.2f, 1.0f);
    Vec y(size_t(rows) * ld_y, 0.0f), rstd(static_cast<size_t>(rows));
    cpu::rmsnorm_forward_train(y.data(), ld_y, rstd.data(), x.data(), ld_x, w.data(), rows, dim, eps);
    auto gx = upload(x), gw = upload(w), gy = upload(std::vector<uint16_t>(y.size(), 0));
    cuda::DeviceBuffer grstd(rstd.size() * 4);
    cuda::rmsnorm_forward_train(gy.as<bf16>(), ld_y, grstd.as<float>(), gx.as<float>(), ld_x, gw.as<float>(),
                                rows, dim, eps, nullptr);
    EXPECT_CLOSE("y", columns(download_bf16(gy, y.size()), rows, ld_y, dim), columns(y, rows, ld_y, dim),
                 kBf16);
    EXPECT_CLOSE("rstd", download<float>(grstd, rstd.size()), rstd, kF32);
    // Again with the copy of x that starts the next residual sum: the same y, and x copied exactly.
    auto gcopy = upload(Vec(x.size(), 0.0f));
    cuda::rmsnorm_forward_train(gy.as<bf16>(), ld_y, grstd.as<float>(), gx.as<float>(), ld_x, gw.as<float>(),
                                rows, dim, eps, nullptr, gcopy.as<float>());
    EXPECT_CLOSE("y (with x copied)", columns(download_bf16(gy, y.size()), rows, ld_y, dim),
                 columns(y, rows, ld_y, dim), kBf16);
    QVERIFY(columns(download<float>(gcopy, x.size()), rows, ld_x, dim) == columns(x, rows, ld_x, dim));

    auto dy = randn(size_t(rows) * ld_y, 13);
    const auto dyb = to_bf16(dy);
    const auto dx0 = randn(size_t(rows) * ld_x, 14), dw0 = randn(size_t(dim), 15);
    Vec dx = dx0, dw = dw0;
    cpu::rmsnorm_backward(dx.data(), dw.data(), dy.data(), ld_y, x.data(), ld_x, w.data(), rstd.data(), rows,
                          dim, accumulate);
    auto gdy = upload(dyb), gdx = upload(dx0), gdw = upload(dw0);
    cuda::DeviceBuffer gdxb(dx.size() * 2);
    cuda::rmsnorm_backward(gdx.as<float>(), gdw.as<float>(), gdy.as<bf16>(), ld_y, gx.as<float>(), ld_x,
                           gw.as<float>(), grstd.as<float>(), rows, dim, accumulate, gdxb.as<bf16>(),
                           nullptr);
    EXPECT_CLOSE("dx", download<float>(gdx, dx.size()), dx, kF32);
    // The bf16 copy of dx, over the row's dim columns.
    EXPECT_CLOSE("dx (bf16 copy)", columns(download_bf16(gdxb, dx.size()), rows, ld_x, dim),
                 columns(dx, rows, ld_x, dim), kBf16);
    EXPECT_CLOSE("dw", download<float>(gdw, dw.size()), dw, kF32);
  }

  void heads_dense_data() {
    QTest::addColumn<int>("B");
    QTest::addColumn<int>("L");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("KVH");
    QTest::addColumn<int>("D");
    QTest::addColumn<int>("rot");
    QTest::addColumn<bool>("interleaved");
    QTest::addColumn<bool>("qknorm");
    QTest::newRow("gqa 4/2, rotate-half, qk-norm") << 2 << 5 << 4 << 2 << 64 << 64 << false << true;
    QTest::newRow("gqa 4/2, interleaved, qk-norm") << 2 << 5 << 4 << 2 << 64 << 64 << true << true;
    QTest::newRow("gqa 4/2, rotate-half") << 2 << 3 << 4 << 2 << 128 << 128 << false << false;
    QTest::newRow("gqa 4/2, interleaved") << 1 << 6 << 4 << 2 << 128 << 128 << true << false;
    QTest::newRow("partial rotary, qk-norm") << 2 << 4 << 4 << 1 << 80 << 32 << false << true;
    QTest::newRow("partial interleaved, mha") << 1 << 7 << 3 << 3 << 96 << 40 << true << false;
    QTest::newRow("d256, qk-norm") << 1 << 3 << 2 << 1 << 256 << 256 << false << true;
    QTest::newRow("qwen2 heads 12/2, 2 x 300 tokens") << 2 << 300 << 12 << 2 << 128 << 128 << false << false;
  }
  void heads_dense() {
    QFETCH(int, B);
    QFETCH(int, L);
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, D);
    QFETCH(int, rot);
    QFETCH(bool, interleaved);
    QFETCH(bool, qknorm);
    cpu::HeadsShape s;
    s.B = B, s.L = L, s.H = H, s.KVH = KVH, s.D = D, s.rot_dim = rot, s.interleaved = interleaved;
    const int64_t T = int64_t(B) * L, W = int64_t(H + 2 * KVH) * D;
    const size_t nq = size_t(T * H * D), nk = size_t(T * KVH * D);
    const float eps = 1e-6f;
    auto qkv = randn(size_t(T * W), 16, 1.5f);
    const auto qkvb = to_bf16(qkv);
    const auto qn = randn(size_t(D), 17, 0.2f, 1.0f), kn = randn(size_t(D), 18, 0.2f, 1.0f);
    const auto cs = rope_table(L, rot);
    const float* qn_cpu = qknorm ? qn.data() : nullptr;
    const float* kn_cpu = qknorm ? kn.data() : nullptr;
    Vec q(nq), k(nk), v(nk), q_rstd(size_t(T * H)), k_rstd(size_t(T * KVH));
    cpu::heads_forward(q.data(), k.data(), v.data(), q_rstd.data(), k_rstd.data(), qkv.data(), qn_cpu, kn_cpu,
                       eps, cs.data(), s);
    auto gqkv = upload(qkvb), gqn = upload(qn), gkn = upload(kn), gcs = upload(cs);
    cuda::DeviceBuffer gq(nq * 2), gk(nk * 2), gv(nk * 2), gqr(q_rstd.size() * 4), gkr(k_rstd.size() * 4);
    const float* qn_dev = qknorm ? gqn.as<float>() : nullptr;
    const float* kn_dev = qknorm ? gkn.as<float>() : nullptr;
    cuda::heads_forward(gq.as<bf16>(), gk.as<bf16>(), gv.as<bf16>(), gqr.as<float>(), gkr.as<float>(),
                        gqkv.as<bf16>(), qn_dev, kn_dev, eps, gcs.as<float>(), s, nullptr);
    EXPECT_CLOSE("q", download_bf16(gq, nq), q, kBf16);
    EXPECT_CLOSE("k", download_bf16(gk, nk), k, kBf16);
    EXPECT_CLOSE("v", download_bf16(gv, nk), v, 1e-30);  // a copy
    if (qknorm) {
      EXPECT_CLOSE("q_rstd", download<float>(gqr, q_rstd.size()), q_rstd, kF32);
      EXPECT_CLOSE("k_rstd", download<float>(gkr, k_rstd.size()), k_rstd, kF32);
    }

    auto dq = randn(nq, 19), dk = randn(nk, 20), dv = randn(nk, 21);
    const auto dqb = to_bf16(dq), dkb = to_bf16(dk), dvb = to_bf16(dv);
    const auto dqn0 = randn(size_t(D), 22), dkn0 = randn(size_t(D), 23);
    Vec dqkv(size_t(T * W)), dqn = dqn0, dkn = dkn0;
    cpu::heads_backward(dqkv.data(), dqn.data(), dkn.data(), dq.data(), dk.data(), dv.data(), qkv.data(),
                        qn_cpu, kn_cpu, q_rstd.data(), k_rstd.data(), cs.data(), s);
    auto gdq = upload(dqb), gdk = upload(dkb), gdv = upload(dvb), gdqn = upload(dqn0), gdkn = upload(dkn0);
    cuda::DeviceBuffer gdqkv(dqkv.size() * 2);
    cuda::heads_backward(gdqkv.as<bf16>(), gdqn.as<float>(), gdkn.as<float>(), gdq.as<bf16>(), gdk.as<bf16>(),
                         gdv.as<bf16>(), gqkv.as<bf16>(), qn_dev, kn_dev, gqr.as<float>(), gkr.as<float>(),
                         gcs.as<float>(), s, nullptr);
    EXPECT_CLOSE("dqkv", download_bf16(gdqkv, dqkv.size()), dqkv, kBf16);
    EXPECT_CLOSE("dq_norm", download<float>(gdqn, dqn.size()), dqn, kF32);
    EXPECT_CLOSE("dk_norm", download<float>(gdkn, dkn.size()), dkn, kF32);
    if (qknorm) QVERIFY(rel_error(dqn, dqn0) > 1e-2 && rel_error(dkn, dkn0) > 1e-2);
  }

  void heads_mla_data() {
    QTest::addColumn<int>("B");
    QTest::addColumn<int>("L");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("dn");
    QTest::addColumn<int>("dr");
    QTest::addColumn<int>("dv");
    QTest::addColumn<bool>("interleaved");
    QTest::newRow("small, rotate-half") << 2 << 4 << 3 << 32 << 16 << 24 << false;
    QTest::newRow("small, interleaved") << 2 << 3 << 5 << 16 << 8 << 40 << true;
    QTest::newRow("deepseek dims, interleaved") << 1 << 3 << 6 << 128 << 64 << 128 << true;
  }
  void heads_mla() {
    QFETCH(int, B);
    QFETCH(int, L);
    QFETCH(int, H);
    QFETCH(int, dn);
    QFETCH(int, dr);
    QFETCH(int, dv);
    QFETCH(bool, interleaved);
    cpu::HeadsShape s;
    s.B = B, s.L = L, s.H = H, s.KVH = H, s.D = dn + dr, s.rot_dim = dr, s.interleaved = interleaved;
    cpu::MlaDims m;
    m.dn = dn, m.dr = dr, m.dv = dv;
    // k_pe sits inside a wider row (the kv_a output), at an offset.
    const int64_t T = int64_t(B) * L, D = dn + dr, ld_pe = dr + 12, pe_at = 5;
    const size_t nqk = size_t(T * H * D), nv = size_t(T * H * dv);
    auto q_in = randn(nqk, 24), kv_in = randn(size_t(T * H * (dn + dv)), 25);
    const auto q_inb = to_bf16(q_in), kv_inb = to_bf16(kv_in);
    const auto pe_rows = randn(size_t(T * ld_pe), 26);
    const auto cs = rope_table(L, dr);
    Vec q(nqk), k(nqk), v(nv);
    cpu::mla_heads_forward(q.data(), k.data(), v.data(), q_in.data(), kv_in.data(), pe_rows.data() + pe_at,
                           ld_pe, cs.data(), s, m);
    auto gq_in = upload(q_inb), gkv_in = upload(kv_inb), gpe = upload(pe_rows), gcs = upload(cs);
    cuda::DeviceBuffer gq(nqk * 2), gk(nqk * 2), gv(nv * 2);
    cuda::mla_heads_forward(gq.as<bf16>(), gk.as<bf16>(), gv.as<bf16>(), gq_in.as<bf16>(), gkv_in.as<bf16>(),
                            gpe.as<float>() + pe_at, ld_pe, gcs.as<float>(), s, m, nullptr);
    EXPECT_CLOSE("q", download_bf16(gq, nqk), q, kBf16);
    EXPECT_CLOSE("k", download_bf16(gk, nqk), k, kBf16);
    EXPECT_CLOSE("v", download_bf16(gv, nv), v, 1e-30);

    auto dq = randn(nqk, 27), dk = randn(nqk, 28), dvv = randn(nv, 29);
    const auto dqb = to_bf16(dq), dkb = to_bf16(dk), dvb = to_bf16(dvv);
    const auto dpe0 = randn(size_t(T * ld_pe), 30);
    Vec dq_in(nqk), dkv_in(kv_in.size()), dpe = dpe0;
    cpu::mla_heads_backward(dq_in.data(), dkv_in.data(), dpe.data() + pe_at, ld_pe, dq.data(), dk.data(),
                            dvv.data(), cs.data(), s, m);
    auto gdq = upload(dqb), gdk = upload(dkb), gdv = upload(dvb), gdpe = upload(dpe0);
    cuda::DeviceBuffer gdq_in(nqk * 2), gdkv_in(dkv_in.size() * 2);
    cuda::mla_heads_backward(gdq_in.as<bf16>(), gdkv_in.as<bf16>(), gdpe.as<float>() + pe_at, ld_pe,
                             gdq.as<bf16>(), gdk.as<bf16>(), gdv.as<bf16>(), gcs.as<float>(), s, m, nullptr);
    EXPECT_CLOSE("dq_in", download_bf16(gdq_in, nqk), dq_in, kBf16);
    EXPECT_CLOSE("dkv_in", download_bf16(gdkv_in, dkv_in.size()), dkv_in, 1e-30);  // copies
    // The whole rows: the columns around k_pe keep their seed.
    EXPECT_CLOSE("dk_pe", download<float>(gdpe, dpe.size()), dpe, kF32);
  }

  void causal_attention_data() {
    QTest::addColumn<int>("B");
    QTest::addColumn<int>("L");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("KVH");
    QTest::addColumn<int>("Dk");
    QTest::addColumn<int>("Dv");
    QTest::newRow("gqa 4/2, Dk != Dv, odd L") << 2 << 37 << 4 << 2 << 64 << 48;
    QTest::newRow("gqa 4/2, L % 4 == 0") << 1 << 64 << 4 << 2 << 32 << 32;
    QTest::newRow("mha, Dv > Dk") << 2 << 20 << 2 << 2 << 16 << 24;
    QTest::newRow("mqa 3/1, Dv % 8 != 0") << 1 << 33 << 3 << 1 << 40 << 20;
    QTest::newRow("mla-like 192/128") << 1 << 24 << 4 << 4 << 192 << 128;
    QTest::newRow("gqa 4/2, long") << 1 << 256 << 4 << 2 << 64 << 64;
  }
  void causal_attention() {
    QFETCH(int, B);
    QFETCH(int, L);
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, Dk);
    QFETCH(int, Dv);
    cpu::AttentionShape s;
    s.B = B, s.L = L, s.H = H, s.KVH = KVH, s.Dk = Dk, s.Dv = Dv, s.scale = 1.0f / std::sqrt(float(Dk));
    const size_t nq = size_t(B) * H * L * Dk, nk = size_t(B) * KVH * L * Dk, nv = size_t(B) * KVH * L * Dv,
                 no = size_t(B) * L * H * Dv, np = size_t(B) * H * L * L;
    auto q = randn(nq, 31, 1.5f), k = randn(nk, 32, 1.5f), v = randn(nv, 33);
    const auto qb = to_bf16(q), kb = to_bf16(k), vb = to_bf16(v);
    Vec out(no), probs(np);
    cpu::causal_attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), s);
    cuda::Blas blas;
    auto gq = upload(qb), gk = upload(kb), gv = upload(vb);
    cuda::DeviceBuffer gout(no * 2), gprobs(np * 2), scratch(cuda::causal_attention_scratch_bytes(s));
    // Poisoned: every element of out and probs must be written, the zeros above the diagonal included.
    R1_CUDA_CHECK(cudaMemset(gout.get(), 0xff, gout.bytes()));
    R1_CUDA_CHECK(cudaMemset(gprobs.get(), 0xff, gprobs.bytes()));
    cuda::causal_attention_forward(blas, gout.as<bf16>(), gprobs.as<bf16>(), gq.as<bf16>(), gk.as<bf16>(),
                                   gv.as<bf16>(), scratch.get(), s, nullptr);
    EXPECT_CLOSE("out", download_bf16(gout, no), out, kAttn);
    EXPECT_CLOSE("probs", download_bf16(gprobs, np), probs, kBf16);

    auto dout = randn(no, 34);
    const auto doutb = to_bf16(dout);
    Vec dq(nq), dk(nk), dv(nv), cpu_scratch(np);
    cpu::causal_attention_backward(dq.data(), dk.data(), dv.data(), cpu_scratch.data(), dout.data(),
                                   out.data(), probs.data(), q.data(), k.data(), v.data(), s);
    auto gdout = upload(doutb);
    cuda::DeviceBuffer gdq(nq * 2), gdk(nk * 2), gdv(nv * 2);
    R1_CUDA_CHECK(cudaMemset(scratch.get(), 0xff, scratch.bytes()));
    cuda::causal_attention_backward(blas, gdq.as<bf16>(), gdk.as<bf16>(), gdv.as<bf16>(), scratch.get(),
                                    gdout.as<bf16>(), gout.as<bf16>(), gprobs.as<bf16>(), gq.as<bf16>(),
                                    gk.as<bf16>(), gv.as<bf16>(), s, nullptr);
    EXPECT_CLOSE("dq", download_bf16(gdq, nq), dq, kAttn);
    EXPECT_CLOSE("dk", download_bf16(gdk, nk), dk, kAttn);
    EXPECT_CLOSE("dv", download_bf16(gdv, nv), dv, kAttn);
  }

  void token_loss_data() {
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("V");
    QTest::addColumn<bool>("with_entropy");
    QTest::newRow("V 1000, entropy") << 7 << 1000 << true;
    QTest::newRow("V 1000, log-prob only") << 5 << 1000 << false;
    QTest::newRow("odd V") << 3 << 999 << true;
    QTest::newRow("Qwen vocabulary") << 4 << 151936 << true;
  }
  void token_loss() {
    QFETCH(int, rows);
    QFETCH(int, V);
    QFETCH(bool, with_entropy);
    auto logits = randn(size_t(rows) * V, 35, 2.0f);
    std::vector<int32_t> targets(static_cast<size_t>(rows));
    std::mt19937 g(36);
    for (int r = 0; r < rows; ++r) {
      targets[size_t(r)] = int32_t(g() % uint32_t(V));
      // A confident row: most of the mass on the target, where fp32 cancellation would show.
      if (r == 1) logits[size_t(r) * V + size_t(targets[size_t(r)])] = 25.0f;
    }
    const auto g_logp = randn(size_t(rows), 37), g_ent = randn(size_t(rows), 38);
    Vec logp(static_cast<size_t>(rows)), ent(static_cast<size_t>(rows)), dlogits(logits.size());
    cpu::token_logprob_forward(logp.data(), with_entropy ? ent.data() : nullptr, logits.data(),
                               targets.data(), rows, V);
    cpu::token_logprob_backward(dlogits.data(), logits.data(), targets.data(), g_logp.data(),
                                with_entropy ? g_ent.data() : nullptr, rows, V);
    auto gl = upload(logits), gt = upload(targets), ggl = upload(g_logp), gge = upload(g_ent);
    cuda::DeviceBuffer glogp(logp.size() * 4), gent(ent.size() * 4), gd(dlogits.size() * 2);
    cuda::token_logprob_forward(glogp.as<float>(), with_entropy ? gent.as<float>() : nullptr, gl.as<float>(),
                                gt.as<int32_t>(), rows, V, nullptr);
    cuda::token_logprob_backward(gd.as<bf16>(), gl.as<float>(), gt.as<int32_t>(), ggl.as<float>(),
                                 with_entropy ? gge.as<float>() : nullptr, rows, V, nullptr);
    EXPECT_CLOSE("logp", download<float>(glogp, logp.size()), logp, kF32);
    if (with_entropy) EXPECT_CLOSE("entropy", download<float>(gent, ent.size()), ent, kF32);
    EXPECT_CLOSE("dlogits", download_bf16(gd, dlogits.size()), dlogits, kBf16);
    // The trainer's path: the forward saves each row's log-sum-exp and the backward reads the logits once.
    cuda::DeviceBuffer glse(logp.size() * 4), gd2(dlogits.size() * 2);
    cuda::token_logprob_forward(glogp.as<float>(), with_entropy ? gent.as<float>() : nullptr, gl.as<float>(),
                                gt.as<int32_t>(), rows, V, nullptr, glse.as<float>());
    cuda::token_logprob_backward(gd2.as<bf16>(), gl.as<float>(), gt.as<int32_t>(), ggl.as<float>(),
                                 with_entropy ? gge.as<float>() : nullptr, rows, V, nullptr, glse.as<float>(),
                                 with_entropy ? gent.as<float>() : nullptr);
    EXPECT_CLOSE("dlogits (saved lse)", download_bf16(gd2, dlogits.size()), dlogits, kBf16);
    if (with_entropy)
      QVERIFY_THROWS_EXCEPTION(
          std::invalid_argument,
          cuda::token_logprob_backward(gd2.as<bf16>(), gl.as<float>(), gt.as<int32_t>(), ggl.as<float>(),
                                       gge.as<float>(), rows, V, nullptr, glse.as<float>(), nullptr));
  }

  void adamw_data() {
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("t");
    QTest::addColumn<bool>("decay");
    QTest::addColumn<bool>("compute_copy");
    QTest::newRow("first step, decay, bf16 copy") << 4096 << 1 << true << true;
    QTest::newRow("step 7, no decay") << 1000 << 7 << false << false;
    QTest::newRow("odd n (tail), decay") << 1027 << 3 << true << true;
  }
  void adamw() {
    QFETCH(int, n);
    QFETCH(int, t);
    QFETCH(bool, decay);
    QFETCH(bool, compute_copy);
    cpu::AdamWStep st;
    st.lr = 1e-2f, st.weight_decay = 0.1f, st.t = t, st.grad_scale = 0.7f;
    const auto w0 = randn(size_t(n), 39, 0.1f), grad = randn(size_t(n), 40);
    Vec m0 = randn(size_t(n), 41, 0.1f), v0 = randn(size_t(n), 42, 0.1f);
    for (auto& x : v0) x = x * x;
    Vec w = w0, m = m0, v = v0;
    cpu::adamw_update(w.data(), m.data(), v.data(), grad.data(), n, st, decay);
    auto gw = upload(w0), gm = upload(m0), gv = upload(v0), gg = upload(grad);
    cuda::DeviceBuffer gwc(size_t(n) * 2);
    cuda::adamw_update(gw.as<float>(), compute_copy ? gwc.as<bf16>() : nullptr, gm.as<float>(),
                       gv.as<float>(), gg.as<float>(), n, st, decay, nullptr);
    const Vec w_got = download<float>(gw, size_t(n));
    Vec step_got(static_cast<size_t>(n)), step_want(static_cast<size_t>(n));
    for (size_t i = 0; i < size_t(n); ++i) step_got[i] = w_got[i] - w0[i], step_want[i] = w[i] - w0[i];
    EXPECT_CLOSE("w - w0", step_got, step_want, kF32);
    EXPECT_CLOSE("m", download<float>(gm, size_t(n)), m, kF32);
    EXPECT_CLOSE("v", download<float>(gv, size_t(n)), v, kF32);
    if (compute_copy) {
      Vec rounded = w_got;
      to_bf16(rounded);
      EXPECT_CLOSE("w_compute", download_bf16(gwc, size_t(n)), rounded, 1e-30);
    }

    double seed = 1.5;
    auto acc = upload(std::vector<double>{seed});
    cuda::sum_squares_accumulate(acc.as<double>(), gg.as<float>(), n, nullptr);
    std::vector<double> got(1);
    R1_CUDA_CHECK(cudaMemcpy(got.data(), acc.get(), sizeof(double), cudaMemcpyDeviceToHost));
    const double want = seed + cpu::sum_squares(grad.data(), n);
    QVERIFY2(std::abs(got[0] - want) < 1e-6 * want, qPrintable(QString("%1 vs %2").arg(got[0]).arg(want)));
  }

  void swiglu_backward_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("inter");
    QTest::newRow("vector") << 5 << 256;
    QTest::newRow("odd width") << 3 << 77;
  }
  void swiglu_backward() {
    QFETCH(int, T);
    QFETCH(int, inter);
    auto gu = randn(size_t(T) * 2 * inter, 43, 2.0f), dh = randn(size_t(T) * inter, 44);
    const auto gub = to_bf16(gu), dhb = to_bf16(dh);
    Vec want(gu.size());
    cpu::swiglu_backward_fused(want.data(), dh.data(), gu.data(), T, inter);
    auto ggu = upload(gub), gdh = upload(dhb);
    cuda::DeviceBuffer gd(want.size() * 2);
    cuda::swiglu_backward(gd.as<bf16>(), gdh.as<bf16>(), ggu.as<bf16>(), T, inter, nullptr);
    EXPECT_CLOSE("dgate_up", download_bf16(gd, want.size()), want, kBf16);
  }

  void embedding_backward_data() {
    QTest::addColumn<int>("dim");
    QTest::newRow("vector") << 96;
    QTest::newRow("odd dim") << 33;
  }
  void embedding_backward() {
    QFETCH(int, dim);
    const int T = 50, vocab = 20;  // repeated ids: the atomics must add, not overwrite
    std::vector<int32_t> ids(static_cast<size_t>(T));
    std::mt19937 g(45);
    for (auto& id : ids) id = int32_t(g() % vocab);
    const auto dy = randn(size_t(T) * dim, 46), table0 = randn(size_t(vocab) * dim, 47);
    Vec table = table0;
    cpu::embedding_backward(table.data(), ids.data(), dy.data(), T, dim);
    auto gt = upload(table0), gids = upload(ids), gdy = upload(dy);
    cuda::embedding_backward(gt.as<float>(), gids.as<int32_t>(), gdy.as<float>(), T, dim, nullptr);
    EXPECT_CLOSE("dtable", download<float>(gt, table.size()), table, kF32);
  }

  void f32_to_bf16_rounds_to_nearest_even() {
    auto src = randn(1003, 48, 10.0f);
    src[0] = std::numeric_limits<float>::infinity();
    src[1] = -0.0f;
    src[2] = 1.00390625f;  // halfway between two bf16 values: ties to even (1.0)
    src[3] = 3.0e38f;
    auto gsrc = upload(src);
    cuda::DeviceBuffer gdst(src.size() * 2);
    // Offsets 0 (16-byte vectors) and 1 (misaligned: element by element), both with a tail.
    for (int64_t offset : {0, 1}) {
      const int64_t n = int64_t(src.size()) - offset;
      cuda::f32_to_bf16(gdst.as<bf16>(), gsrc.as<float>() + offset, n, nullptr);
      std::vector<uint16_t> got(static_cast<size_t>(n));
      R1_CUDA_CHECK(cudaDeviceSynchronize());
      R1_CUDA_CHECK(cudaMemcpy(got.data(), gdst.get(), size_t(n) * 2, cudaMemcpyDeviceToHost));
      for (int64_t i = 0; i < n; ++i)
        QVERIFY2(got[size_t(i)] == f32_to_bf16(src[size_t(i + offset)]),
                 qPrintable(QString("element %1 of offset %2").arg(i).arg(offset)));
    }
  }
};

R1_GPU_TEST_MAIN(TestTrainOpsCuda)
#include "tst_train_ops_cuda.moc"
