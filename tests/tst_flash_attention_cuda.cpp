// The flash attention kernels (kernels/cuda/flash_attention.cu) against the CPU reference on the same bf16
// inputs (forward output, log-sum-exp, dq, dk, dv), and against the cuBLAS path that keeps the
// probabilities, at the training shape of r1-distill-qwen-1.5b. Tolerances as in tst_train_ops_cuda:
// relative L2 error over the tensor, 1.5e-2 for attention outputs (P and dS are rounded to bf16 before the
// products that use them), 1e-5 for the fp32 log-sum-exp.
#include <cuda_runtime_api.h>

#include <cmath>

#include "kernels/cpu/causal_attention.h"
#include "kernels/cuda/causal_attention.h"
#include "kernels/cuda/flash_attention.h"
#include "testlib/cuda_data.h"
#include "testlib/gpu_test.h"

using namespace r1;
using cuda::bf16;
using test::download;
using test::download_bf16;
using test::randn;
using test::to_bf16;
using test::upload;

namespace {

using Vec = std::vector<float>;
constexpr double kAttn = 1.5e-2, kLse = 1e-5;

cpu::AttentionShape shape(int B, int L, int H, int KVH, int D) {
  cpu::AttentionShape s;
  s.B = B, s.L = L, s.H = H, s.KVH = KVH, s.Dk = s.Dv = D, s.scale = 1.0f / std::sqrt(float(D));
  return s;
}

// log Σ_j exp(scale q_i · k_j) over j <= i, in double, for every (b, h, i).
Vec reference_lse(const Vec& q, const Vec& k, const cpu::AttentionShape& s) {
  Vec out(size_t(s.B * s.H * s.L));
  const int64_t g = s.H / s.KVH, D = s.Dk;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.L; ++i) {
        const float* qi = q.data() + ((b * s.H + h) * s.L + i) * D;
        std::vector<double> x(size_t(i + 1));
        double m = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          const float* kj = k.data() + ((b * s.KVH + h / g) * s.L + j) * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += double(qi[d]) * kj[d];
          x[size_t(j)] = dot * s.scale;
          m = std::max(m, x[size_t(j)]);
        }
        double sum = 0;
        for (double v : x) sum += std::exp(v - m);
        out[size_t((b * s.H + h) * s.L + i)] = float(m + std::log(sum));
      }
  return out;
}

struct Inputs {
  Vec q, k, v, dout;  // rounded to bf16 in place by to_bf16
  cuda::DeviceBuffer gq, gk, gv, gdout;
};

Inputs make_inputs(const cpu::AttentionShape& s) {
  const size_t nq = size_t(s.B * s.H * s.L * s.Dk), nk = size_t(s.B * s.KVH * s.L * s.Dk);
  Inputs in;
  // Queries and keys at 1.5: scores of a few units, so the softmax is far from uniform.
  in.q = randn(nq, 31, 1.5f), in.k = randn(nk, 32, 1.5f), in.v = randn(nk, 33), in.dout = randn(nq, 34);
  in.gq = upload(to_bf16(in.q)), in.gk = upload(to_bf16(in.k)), in.gv = upload(to_bf16(in.v));
  in.gdout = upload(to_bf16(in.dout));
  return in;
}

struct FlashResult {
  Vec out, lse, dq, dk, dv;
};

FlashResult run_flash(const Inputs& in, const cpu::AttentionShape& s) {
  const size_t nq = in.q.size(), nk = in.k.size(), nrows = size_t(s.B * s.H * s.L);
  cuda::DeviceBuffer out(nq * 2), lse(nrows * 4), scratch(cuda::flash_attention_scratch_bytes(s));
  cuda::DeviceBuffer dq(nq * 2), dk(nk * 2), dv(nk * 2);
  // Poisoned: every element must be written.
  for (cuda::DeviceBuffer* b : {&out, &lse, &scratch, &dq, &dk, &dv})
    R1_CUDA_CHECK(cudaMemset(b->get(), 0xff, b->bytes()));
  cuda::flash_attention_forward(out.as<bf16>(), lse.as<float>(), in.gq.as<bf16>(), in.gk.as<bf16>(),
                                in.gv.as<bf16>(), s, nullptr);
  cuda::flash_attention_backward(dq.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), scratch.get(),
                                 in.gdout.as<bf16>(), out.as<bf16>(), lse.as<float>(), in.gq.as<bf16>(),
                                 in.gk.as<bf16>(), in.gv.as<bf16>(), s, nullptr);
  R1_CUDA_CHECK(cudaDeviceSynchronize());
  return {download_bf16(out, nq), download<float>(lse, nrows), download_bf16(dq, nq), download_bf16(dk, nk),
          download_bf16(dv, nk)};
}

}  // namespace

class TestFlashAttentionCuda : public QObject {
  Q_OBJECT

 private slots:
  void matches_cpu_reference_data() {
    QTest::addColumn<int>("B");
    QTest::addColumn<int>("L");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("KVH");
    QTest::addColumn<int>("D");
    QTest::newRow("gqa 4/2, D 64, L 100 (partial tiles)") << 2 << 100 << 4 << 2 << 64;
    QTest::newRow("gqa 6/1, D 128, L 130") << 1 << 130 << 6 << 1 << 128;
    QTest::newRow("mha 2/2, D 128, L 64 (one tile)") << 2 << 64 << 2 << 2 << 128;
    // (One position would make dq and dk exactly zero, which a relative error cannot judge.)
    QTest::newRow("three positions") << 1 << 3 << 2 << 1 << 64;
    QTest::newRow("gqa 4/2, D 64, L 300 (five tiles)") << 1 << 300 << 4 << 2 << 64;
  }
  void matches_cpu_reference() {
    QFETCH(int, B);
    QFETCH(int, L);
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, D);
    const cpu::AttentionShape s = shape(B, L, H, KVH, D);
    QVERIFY(cuda::flash_attention_supports(s));
    const Inputs in = make_inputs(s);
    const size_t nq = in.q.size(), nk = in.k.size();
    Vec out(nq), probs(size_t(B * H) * L * L), dq(nq), dk(nk), dv(nk), scratch(probs.size());
    cpu::causal_attention_forward(out.data(), probs.data(), in.q.data(), in.k.data(), in.v.data(), s);
    cpu::causal_attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), in.dout.data(),
                                   out.data(), probs.data(), in.q.data(), in.k.data(), in.v.data(), s);
    const FlashResult got = run_flash(in, s);
    EXPECT_CLOSE("out", got.out, out, kAttn);
    EXPECT_CLOSE("lse", got.lse, reference_lse(in.q, in.k, s), kLse);
    EXPECT_CLOSE("dq", got.dq, dq, kAttn);
    EXPECT_CLOSE("dk", got.dk, dk, kAttn);
    EXPECT_CLOSE("dv", got.dv, dv, kAttn);
  }

  // r1-distill-qwen-1.5b's attention (12 query heads over 2 KV heads, D 128) at 1024 positions: the same
  // results as the cuBLAS path, which the CPU reference checks at small shapes in tst_train_ops_cuda.
  void matches_cublas_path_at_training_shape() {
    const cpu::AttentionShape s = shape(1, 1024, 12, 2, 128);
    const Inputs in = make_inputs(s);
    const size_t nq = in.q.size(), nk = in.k.size(), np = size_t(s.B * s.H * s.L * s.L);
    cuda::Blas blas;
    cuda::DeviceBuffer out(nq * 2), probs(np * 2), scratch(cuda::causal_attention_scratch_bytes(s));
    cuda::DeviceBuffer dq(nq * 2), dk(nk * 2), dv(nk * 2);
    cuda::causal_attention_forward(blas, out.as<bf16>(), probs.as<bf16>(), in.gq.as<bf16>(), in.gk.as<bf16>(),
                                   in.gv.as<bf16>(), scratch.get(), s, nullptr);
    cuda::causal_attention_backward(blas, dq.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), scratch.get(),
                                    in.gdout.as<bf16>(), out.as<bf16>(), probs.as<bf16>(), in.gq.as<bf16>(),
                                    in.gk.as<bf16>(), in.gv.as<bf16>(), s, nullptr);
    R1_CUDA_CHECK(cudaDeviceSynchronize());
    const FlashResult got = run_flash(in, s);
    EXPECT_CLOSE("out", got.out, download_bf16(out, nq), kAttn);
    EXPECT_CLOSE("dq", got.dq, download_bf16(dq, nq), kAttn);
    EXPECT_CLOSE("dk", got.dk, download_bf16(dk, nk), kAttn);
    EXPECT_CLOSE("dv", got.dv, download_bf16(dv, nk), kAttn);
  }

  void refuses_unsupported_shapes() {
    QVERIFY(!cuda::flash_attention_supports(shape(1, 16, 4, 2, 96)));
    cpu::AttentionShape mla = shape(1, 16, 4, 4, 128);
    mla.Dk = 192;
    QVERIFY(!cuda::flash_attention_supports(mla));
    QVERIFY_THROWS_EXCEPTION(
        std::invalid_argument,
        cuda::flash_attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, mla, nullptr));
  }
};

R1_GPU_TEST_MAIN(TestFlashAttentionCuda)
#include "tst_flash_attention_cuda.moc"
