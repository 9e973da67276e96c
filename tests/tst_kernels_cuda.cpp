// Every CUDA op against a double-precision CPU reference on random inputs of several shapes (the ggml
// test-backend-ops idea), with bf16 tolerances; and the device sampler against the softmax it samples.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "kernels/common/half.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_decode.h"
#include "kernels/cuda/attention_prefill.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/host_copy.h"
#include "kernels/cuda/qkv_rope.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/sampling.h"
#include "kernels/cuda/swiglu.h"
#include "testlib/cuda_data.h"
#include "testlib/gpu_test.h"

using namespace r1;
using cuda::bf16;

using test::download;
using test::download_bf16;
using test::nmse;
using test::randn;
using test::to_bf16;
using test::upload;

// Pinned host memory for n values of T (null when the allocation fails), freed however the test leaves.
template <typename T>
std::unique_ptr<T, cudaError_t (*)(void*)> pinned(size_t n) {
  void* p = nullptr;
  if (cudaMallocHost(&p, n * sizeof(T)) != cudaSuccess) p = nullptr;
  return {static_cast<T*>(p), cudaFreeHost};
}

// One token per row of logits ([params.size(), vocab]) from the device sampler.
std::vector<int32_t> sample(const std::vector<float>& logits, const std::vector<cuda::RowSampling>& params,
                            int vocab) {
  const int64_t rows = int64_t(params.size());
  auto dl = upload(logits), dp = upload(params);
  cuda::DeviceBuffer dt(size_t(rows) * 4);
  cuda::sample_rows(dl.as<float>(), rows, vocab, dp.as<cuda::RowSampling>(), dt.as<int32_t>(), nullptr);
  return download<int32_t>(dt, size_t(rows));
}

// `rows` copies of one row of logits, to draw from it many times: row r's settings as `set` leaves them
// (each row its own key).
struct CopiedRows {
  std::vector<float> logits;
  std::vector<cuda::RowSampling> params;
};
CopiedRows copy_row(const std::vector<float>& row, int rows,
                    const std::function<void(int, cuda::RowSampling&)>& set) {
  CopiedRows c;
  c.params.resize(size_t(rows));
  for (int r = 0; r < rows; ++r) {
    c.logits.insert(c.logits.end(), row.begin(), row.end());
    set(r, c.params[size_t(r)]);
  }
  return c;
}

class TestKernelsCuda : public QObject {
  Q_OBJECT

 private slots:
  void gemv_all_modes_data() {
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("k");
    QTest::addColumn<int>("input");
    QTest::addColumn<int>("output");
    for (int b : {1, 3, 8})
      for (int in = 0; in < 3; ++in)
        for (int out = 0; out < 4; ++out)
          QTest::newRow(qPrintable(QString("b%1 in%2 out%3").arg(b).arg(in).arg(out)))
              << b << (out == 3 ? 334 : 333) << 1544 << in << out;
    // Residual adds with a warp per row (no K split): the old values read with the input (b1, b3), or at the
    // end when a block visits too many rows to hold them (b8 over 20 000 rows).
    QTest::newRow("accumulate unsplit b1") << 1 << 2000 << 1544 << 0 << 2;
    QTest::newRow("accumulate unsplit b3") << 3 << 2000 << 1544 << 1 << 2;
    QTest::newRow("accumulate unsplit b8, late") << 8 << 20000 << 1544 << 0 << 2;
    QTest::newRow("small k") << 2 << 64 << 16 << 0 << 1;
    // Batch 3 and up run on tensor cores: k under one 32-element step, and a long k split over warps.
    QTest::newRow("small k, tensor cores") << 4 << 64 << 16 << 1 << 3;
    QTest::newRow("b1 qkv-like") << 1 << 2048 << 1536 << 1 << 0;
    QTest::newRow("accumulate b6, long k") << 6 << 1536 << 8960 << 0 << 2;
    QTest::newRow("lm-head-like") << 1 << 50000 << 896 << 1 << 1;
    // Batch 1 at the 1.5B shape's hidden width: a whole row in one batch of loads (o unsplit, accumulated;
    // the LM head), and gate/up pairs in two batches.
    QTest::newRow("b1 o-like, whole rows") << 1 << 1536 << 1536 << 0 << 2;
    QTest::newRow("b1 lm-head, whole rows") << 1 << 20000 << 1536 << 1 << 1;
    QTest::newRow("b1 gate/up-like") << 1 << 17920 << 1536 << 1 << 3;
  }
  void gemv_all_modes() {
    QFETCH(int, batch);
    QFETCH(int, n);
    QFETCH(int, k);
    QFETCH(int, input);
    QFETCH(int, output);
    const auto in = cuda::GemvInput(input);
    const auto out = cuda::GemvOutput(output);
    auto w = randn(size_t(n) * k, 1, 0.05f);
    const auto wb = to_bf16(w);
    auto bias = randn(size_t(n), 2);
    const auto bb = to_bf16(bias);
    auto normw = randn(size_t(k), 3, 0.3f);
    for (auto& v : normw) v += 1.0f;
    const auto nb = to_bf16(normw);
    const int64_t xk = in == cuda::GemvInput::SwiGluBf16 ? 2 * k : k;
    auto x = randn(size_t(batch) * xk, 4);
    std::vector<uint16_t> xb;
    if (in != cuda::GemvInput::RmsNormF32) xb = to_bf16(x);
    auto y0 = randn(size_t(batch) * n, 5);
    // Reference input vectors as the kernel forms them (bf16-rounded). An RMSNorm input stages x * norm_w
    // and scales each sum by the vector's rsqrt(mean square + eps).
    std::vector<float> xin(size_t(batch) * k);
    std::vector<double> scale(size_t(batch), 1.0);
    for (int b = 0; b < batch; ++b) {
      double ss = 0;
      for (int i = 0; i < k; ++i) ss += double(x[size_t(b * xk + i)]) * x[size_t(b * xk + i)];
      if (in == cuda::GemvInput::RmsNormF32) scale[size_t(b)] = 1.0 / std::sqrt(ss / k + 1e-6);
      for (int i = 0; i < k; ++i) {
        float v;
        if (in == cuda::GemvInput::Bf16) {
          v = x[size_t(b * k + i)];
        } else if (in == cuda::GemvInput::SwiGluBf16) {
          const float g = x[size_t(b * xk + i)], u = x[size_t(b * xk + k + i)];
          v = g / (1 + std::exp(-g)) * u;
        } else {
          v = x[size_t(b * k + i)] * normw[size_t(i)];
        }
        xin[size_t(b * k + i)] = bf16_to_f32(f32_to_bf16(v));
      }
    }
    // A SwiGLU output pairs gate row r with up row r + n/2 and rounds both to bf16 first.
    const bool pair = out == cuda::GemvOutput::SwiGluBf16;
    const int n_out = pair ? n / 2 : n;
    std::vector<double> ref(size_t(batch) * n_out);
    for (int b = 0; b < batch; ++b)
      for (int r = 0; r < n_out; ++r) {
        const auto row_dot = [&](int row) {
          double s = 0;
          for (int i = 0; i < k; ++i) s += double(w[size_t(row) * k + i]) * xin[size_t(b * k + i)];
          return s * scale[size_t(b)] + bias[size_t(row)];
        };
        double v = row_dot(r);
        if (pair) {
          const double g = bf16_to_f32(f32_to_bf16(float(v)));
          const double u = bf16_to_f32(f32_to_bf16(float(row_dot(r + n_out))));
          v = g / (1 + std::exp(-g)) * u;
        }
        ref[size_t(b * n_out + r)] =
            v + (out == cuda::GemvOutput::F32Accumulate ? y0[size_t(b * n + r)] : 0.0);
      }
    auto dw = upload(wb), dbias = upload(bb), dnorm = upload(nb);
    auto dx = in == cuda::GemvInput::RmsNormF32 ? upload(x) : upload(xb);
    const bool bf16_out = out == cuda::GemvOutput::Bf16 || pair;
    cuda::DeviceBuffer dy = bf16_out ? cuda::DeviceBuffer(size_t(batch) * n * 2) : upload(y0);
    cuda::GemvArgs a;
    a.w = dw.as<bf16>();
    a.n = n;
    a.k = k;
    a.x = dx.get();
    a.batch = batch;
    a.input = in;
    a.norm_w = dnorm.as<bf16>();
    a.bias = dbias.as<bf16>();
    a.y = dy.get();
    a.output = out;
    cuda::gemv(a, nullptr);
    const std::vector<float> got = bf16_out ? download_bf16(dy, ref.size()) : download<float>(dy, ref.size());
    const double e = nmse(got, ref);
    QVERIFY2(e < (bf16_out ? 2e-5 : 1e-7), qPrintable(QString("NMSE %1").arg(e)));
  }

  // An RMSNorm input gives the same bits on every launch: the warps' sums of squares are added in a fixed
  // order (shared-memory atomics added them in the order the warps finished, which changed the last bit of
  // some outputs from one launch to the next).
  void gemv_rmsnorm_is_deterministic() {
    const int n = 2000, k = 1536;
    auto w = randn(size_t(n) * k, 31, 0.05f), normw = randn(size_t(k), 32, 0.3f, 1.0f);
    auto dw = upload(to_bf16(w)), dnorm = upload(to_bf16(normw));
    for (int batch : {1, 3, 5, 8}) {
      const auto x = randn(size_t(batch) * k, 33 + uint32_t(batch));
      auto dx = upload(x);
      cuda::DeviceBuffer dy(size_t(batch) * n * 4);
      cuda::GemvArgs a;
      a.w = dw.as<bf16>();
      a.n = n;
      a.k = k;
      a.x = dx.get();
      a.batch = batch;
      a.input = cuda::GemvInput::RmsNormF32;
      a.norm_w = dnorm.as<bf16>();
      a.y = dy.get();
      a.output = cuda::GemvOutput::F32;
      std::vector<uint8_t> first;
      for (int run = 0; run < 30; ++run) {
        cuda::gemv(a, nullptr);
        const auto got = download<uint8_t>(dy, size_t(batch) * n * 4);
        if (run == 0) first = got;
        QVERIFY2(got == first,
                 qPrintable(QString("batch %1, launch %2 differs from the first").arg(batch).arg(run)));
      }
    }
  }

  // The block bests an F32 GEMV leaves (the LM head's): their best is the argmax of the output, the lower row
  // on a tie, and the greedy sampler picks that token from them as from the whole row; with a repetition
  // penalty it sweeps the penalized row instead.
  void gemv_block_bests_give_the_argmax() {
    const int n = 40000, k = 1536, top = 12345, twin = 30001;
    auto w = randn(size_t(n) * k, 41, 0.05f), normw = randn(size_t(k), 42, 0.3f, 1.0f);
    const auto x = randn(size_t(k), 43);
    // Two identical rows aligned with the normalized input give the highest output, with the same bits.
    for (int j = 0; j < k; ++j)
      w[size_t(top) * k + j] = w[size_t(twin) * k + j] = x[size_t(j)] * normw[size_t(j)] > 0 ? 0.05f : -0.05f;
    auto dw = upload(to_bf16(w)), dnorm = upload(to_bf16(normw)), dx = upload(x);
    cuda::DeviceBuffer dy(size_t(n) * 4);
    cuda::GemvArgs a;
    a.w = dw.as<bf16>();
    a.n = n;
    a.k = k;
    a.x = dx.get();
    a.input = cuda::GemvInput::RmsNormF32;
    a.norm_w = dnorm.as<bf16>();
    a.y = dy.get();
    a.output = cuda::GemvOutput::F32;
    const int64_t nb = cuda::gemv_blocks(a);
    QVERIFY(nb > 1);
    cuda::DeviceBuffer dbest(size_t(nb) * sizeof(cuda::ArgBest));
    R1_CUDA_CHECK(cudaMemset(dbest.get(), 0xff, dbest.bytes()));
    a.best = dbest.as<cuda::ArgBest>();
    cuda::gemv(a, nullptr);
    const auto y = download<float>(dy, size_t(n));
    QCOMPARE(y[size_t(twin)], y[size_t(top)]);
    const int want = int(std::max_element(y.begin(), y.end()) - y.begin());  // the first of the highest
    QCOMPARE(want, top);
    const auto bests = download<cuda::ArgBest>(dbest, size_t(nb));
    cuda::ArgBest b{-INFINITY, 0};
    for (const auto& c : bests)
      if (c.value > b.value || (c.value == b.value && c.index < b.index)) b = c;
    QCOMPARE(b.index, want);
    QCOMPARE(b.value, y[size_t(want)]);
    // The sampler, from the bests and from the row.
    cuda::RowSampling greedy;
    greedy.temperature = 0;
    auto dp = upload(std::vector<cuda::RowSampling>{greedy});
    cuda::DeviceBuffer dt(4);
    cuda::sample_rows(dy.as<float>(), 1, n, dp.as<cuda::RowSampling>(), dt.as<int32_t>(), nullptr,
                      dbest.as<cuda::ArgBest>(), int32_t(nb));
    QCOMPARE(download<int32_t>(dt, 1)[0], want);
    cuda::sample_rows(dy.as<float>(), 1, n, dp.as<cuda::RowSampling>(), dt.as<int32_t>(), nullptr);
    QCOMPARE(download<int32_t>(dt, 1)[0], want);
    // A penalty on the top row: its twin wins, which only a sweep of the penalized row finds.
    auto dh = upload(std::vector<int32_t>{top});
    greedy.repetition_penalty = 4.0f;
    greedy.history = dh.as<int32_t>();
    greedy.history_len = 1;
    dp = upload(std::vector<cuda::RowSampling>{greedy});
    cuda::sample_rows(dy.as<float>(), 1, n, dp.as<cuda::RowSampling>(), dt.as<int32_t>(), nullptr,
                      dbest.as<cuda::ArgBest>(), int32_t(nb));
    QCOMPARE(download<int32_t>(dt, 1)[0], twin);
  }

  void gemm_matches_reference_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("out");
    QTest::newRow("bf16 out") << 37 << 0;
    QTest::newRow("f32 out") << 129 << 1;
    QTest::newRow("f32 accumulate") << 64 << 2;
  }
  void gemm_matches_reference() {
    QFETCH(int, T);
    QFETCH(int, out);
    const int K = 320, N = 200;
    auto x = randn(size_t(T) * K, 6), w = randn(size_t(N) * K, 7, 0.05f), y0 = randn(size_t(T) * N, 8);
    const auto xb = to_bf16(x), wb = to_bf16(w);
    std::vector<double> ref(size_t(T) * N);
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < N; ++r) {
        double s = out == 2 ? y0[size_t(t * N + r)] : 0.0;
        for (int i = 0; i < K; ++i) s += double(x[size_t(t * K + i)]) * w[size_t(r * K + i)];
        ref[size_t(t * N + r)] = s;
      }
    cuda::Blas blas;
    auto dx = upload(xb), dw = upload(wb);
    cuda::DeviceBuffer dy = out == 0 ? cuda::DeviceBuffer(size_t(T) * N * 2) : upload(y0);
    cuda::gemm(blas, dy.get(), cuda::GemmOutput(out), dx.as<bf16>(), dw.as<bf16>(), T, K, N);
    const auto got = out == 0 ? download_bf16(dy, ref.size()) : download<float>(dy, ref.size());
    QVERIFY2(nmse(got, ref) < 2e-5, qPrintable(QString::number(nmse(got, ref))));
  }

  void rmsnorm_and_swiglu() {
    const int rows = 5, dim = 1000;
    cuda::DeviceBuffer dy(size_t(rows) * 2 * dim * 2);
    // RMSNorm at a width of whole 4-float vectors (rows held in registers) and at an odd one.
    for (const int width : {dim, dim - 1}) {
      auto x = randn(size_t(rows) * width, 9, 2.0f), w = randn(size_t(width), 10);
      const auto wb = to_bf16(w);
      std::vector<double> ref(x.size());
      for (int r = 0; r < rows; ++r) {
        double ss = 0;
        for (int i = 0; i < width; ++i) ss += double(x[size_t(r * width + i)]) * x[size_t(r * width + i)];
        for (int i = 0; i < width; ++i)
          ref[size_t(r * width + i)] = x[size_t(r * width + i)] / std::sqrt(ss / width + 1e-5) * w[size_t(i)];
      }
      auto dx = upload(x), dw = upload(wb);
      cuda::rmsnorm_forward(dy.as<bf16>(), dx.as<float>(), dw.as<bf16>(), rows, width, 1e-5f, nullptr);
      const double e = nmse(download_bf16(dy, x.size()), ref);
      QVERIFY2(e < 2e-5, qPrintable(QString("width %1: NMSE %2").arg(width).arg(e)));
    }

    // SwiGLU at a width of whole 16-byte vectors and at an odd one (the element-wise path).
    for (const int width : {dim, dim - 1}) {
      auto gu = randn(size_t(rows) * 2 * width, 11);
      const auto gub = to_bf16(gu);
      std::vector<double> sref(size_t(rows) * width);
      for (int t = 0; t < rows; ++t)
        for (int i = 0; i < width; ++i) {
          const double g = gu[size_t(t * 2 * width + i)], u = gu[size_t(t * 2 * width + width + i)];
          sref[size_t(t * width + i)] = g / (1 + std::exp(-g)) * u;
        }
      auto dgu = upload(gub);
      cuda::swiglu_forward(dy.as<bf16>(), dgu.as<bf16>(), rows, width, nullptr);
      const double e = nmse(download_bf16(dy, sref.size()), sref);
      QVERIFY2(e < 2e-5, qPrintable(QString("width %1: NMSE %2").arg(width).arg(e)));
    }
  }

  // qkv_rope then attention over a paged cache whose blocks are scattered, against a dense reference.
  void rope_and_paged_attention_data() {
    QTest::addColumn<int>("D");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("KVH");
    QTest::addColumn<int>("n");
    QTest::addColumn<bool>("qknorm");
    QTest::addColumn<bool>("interleaved");
    QTest::addColumn<int>("rot");  // rotary dims; 0: the whole head
    QTest::newRow("gqa-6 d128 split") << 128 << 12 << 2 << 700 << false << false << 0;
    QTest::newRow("qwen3 norm d128") << 128 << 16 << 8 << 40 << true << false << 0;
    QTest::newRow("d64 group 7") << 64 << 14 << 2 << 300 << false << false << 0;
    QTest::newRow("d16 mha interleaved") << 16 << 4 << 4 << 33 << false << true << 0;
    QTest::newRow("group 12 (two chunks)") << 32 << 12 << 1 << 90 << false << false << 0;
    QTest::newRow("d64 long") << 64 << 8 << 2 << 1000 << false << false << 0;
    QTest::newRow("d256 group 4 norm") << 256 << 8 << 2 << 150 << true << false << 0;
    QTest::newRow("d128 group 16") << 128 << 16 << 1 << 129 << false << false << 0;
    QTest::newRow("d128 half rotary norm") << 128 << 12 << 2 << 200 << true << false << 64;
    QTest::newRow("d64 quarter rotary interleaved") << 64 << 8 << 2 << 150 << false << true << 16;
  }
  void rope_and_paged_attention() {
    QFETCH(int, D);
    QFETCH(int, H);
    QFETCH(int, KVH);
    QFETCH(int, n);
    QFETCH(bool, qknorm);
    QFETCH(bool, interleaved);
    QFETCH(int, rot);
    if (rot == 0) rot = D;
    const int BS = 16, nblocks = (n + BS - 1) / BS + 3, W = (H + 2 * KVH) * D;
    // Block table: a shuffled set of physical blocks.
    std::vector<int32_t> table(static_cast<size_t>(nblocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), std::mt19937(12));
    auto qkv = randn(size_t(n) * W, 13);
    const auto qkvb = to_bf16(qkv);
    auto bias = randn(size_t(W), 14, 0.1f);
    const auto biasb = to_bf16(bias);
    auto qn = randn(size_t(D), 15, 0.2f), kn = randn(size_t(D), 16, 0.2f);
    for (auto& v : qn) v += 1;
    for (auto& v : kn) v += 1;
    const auto qnb = to_bf16(qn), knb = to_bf16(kn);
    std::vector<float> cs(size_t(n) * rot);
    for (int p = 0; p < n; ++p)
      for (int i = 0; i < rot / 2; ++i) {
        const double ang = p * std::pow(10000.0, -2.0 * i / rot);
        cs[size_t(p * rot + i)] = float(std::cos(ang));
        cs[size_t(p * rot + rot / 2 + i)] = float(std::sin(ang));
      }
    const size_t rows = static_cast<size_t>(n);
    std::vector<int32_t> pos(rows), slot_ids(rows), row_seq(rows, 0), nkeys(rows);
    for (int t = 0; t < n; ++t) {
      pos[size_t(t)] = t;
      slot_ids[size_t(t)] = table[size_t(t / BS)] * BS + t % BS;
      nkeys[size_t(t)] = t + 1;
    }
    // Reference: bias, norm, rope on q and k.
    std::vector<double> q(size_t(n) * H * D), k(size_t(n) * KVH * D), v(size_t(n) * KVH * D);
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < H + 2 * KVH; ++h) {
        std::vector<double> x(static_cast<size_t>(D));
        double ss = 0;
        for (int d = 0; d < D; ++d) {
          x[size_t(d)] = double(qkv[size_t(t * W + h * D + d)]) + bias[size_t(h * D + d)];
          ss += x[size_t(d)] * x[size_t(d)];
        }
        const bool isq = h < H, isk = !isq && h < H + KVH;
        if (qknorm && (isq || isk))
          for (int d = 0; d < D; ++d)
            x[size_t(d)] *= 1 / std::sqrt(ss / D + 1e-6) * (isq ? qn : kn)[size_t(d)];
        std::vector<double> y = x;
        if (isq || isk)
          for (int i = 0; i < rot / 2; ++i) {
            const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + rot / 2;
            const double c = cs[size_t(t * rot + i)], s = cs[size_t(t * rot + rot / 2 + i)];
            y[size_t(a)] = x[size_t(a)] * c - x[size_t(b)] * s;
            y[size_t(b)] = x[size_t(b)] * c + x[size_t(a)] * s;
          }
        for (int d = 0; d < D; ++d) {
          if (isq)
            q[size_t((t * H + h) * D + d)] = y[size_t(d)];
          else if (isk)
            k[size_t((t * KVH + h - H) * D + d)] = y[size_t(d)];
          else
            v[size_t((t * KVH + h - H - KVH) * D + d)] = y[size_t(d)];
        }
      }
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<double> ref(size_t(n) * H * D);
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < H; ++h) {
        const int g = h / (H / KVH);
        std::vector<double> s(static_cast<size_t>(t + 1));
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += q[size_t((t * H + h) * D + d)] * k[size_t((j * KVH + g) * D + d)];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int d = 0; d < D; ++d) {
          double o = 0;
          for (int j = 0; j <= t; ++j) o += s[size_t(j)] / sum * v[size_t((j * KVH + g) * D + d)];
          ref[size_t((t * H + h) * D + d)] = o;
        }
      }
    cuda::KvLayout kv;
    kv.num_blocks = nblocks;
    kv.block_size = BS;
    kv.kv_heads = KVH;
    kv.head_dim = D;
    kv.layers = 2;
    cuda::DeviceBuffer pool(size_t(kv.bytes()));
    kv.pool = pool.as<bf16>();
    auto dqkv = upload(qkvb), dbias = upload(biasb), dqn = upload(qnb), dkn = upload(knb), dcs = upload(cs);
    auto dpos = upload(pos), dslots = upload(slot_ids), dseq = upload(row_seq), dn = upload(nkeys),
         dtable = upload(table);
    cuda::DeviceBuffer dq(size_t(n) * H * D * 2), dout(size_t(n) * H * D * 2);
    cuda::QkvRopeArgs r;
    r.qkv = dqkv.as<bf16>();
    r.bias = dbias.as<bf16>();
    r.q_norm = qknorm ? dqn.as<bf16>() : nullptr;
    r.k_norm = qknorm ? dkn.as<bf16>() : nullptr;
    r.cos_sin = dcs.as<float>();
    r.positions = dpos.as<int32_t>();
    r.slot_of_row = dslots.as<int32_t>();
    r.T = n;
    r.heads = H;
    r.kv_heads = KVH;
    r.head_dim = D;
    r.rot_dim = rot;
    r.interleaved = interleaved;
    r.layer = 1;
    r.kv = kv;
    r.q_out = dq.as<bf16>();
    cuda::qkv_rope(r, nullptr);
    std::vector<float> qgot = download_bf16(dq, q.size());
    QVERIFY2(nmse(qgot, q) < 2e-5, qPrintable(QString("q NMSE %1").arg(nmse(qgot, q))));
    cuda::DeviceBuffer partial(size_t(cuda::attention_partial_floats(n, H, D, n) + 1) * 4);
    cuda::AttentionArgs at;
    at.q = dq.as<bf16>();
    at.rows = n;
    at.heads = H;
    at.tables = dtable.as<int32_t>();
    at.table_stride = nblocks;
    at.row_seq = dseq.as<int32_t>();
    at.n_keys = dn.as<int32_t>();
    at.max_keys = n;
    at.scale = scale;
    at.layer = 1;
    at.kv = kv;
    at.out = dout.as<bf16>();
    at.partial = partial.as<float>();
    cuda::attention_paged(at, nullptr);
    const auto got = download_bf16(dout, ref.size());
    QVERIFY2(nmse(got, ref) < 1e-4, qPrintable(QString("attention NMSE %1").arg(nmse(got, ref))));
    if (cuda::attention_decode_supports(H, KVH, D, n)) {
      // The fused decode kernel: rows that each hold a sequence's newest token.
      cuda::DeviceBuffer dpartial(size_t(cuda::attention_decode_partial_floats(n, H, D, n) + 1) * 4);
      cuda::DeviceBuffer dcounters(size_t(cuda::attention_decode_counters(n, H)) * 4);
      R1_CUDA_CHECK(cudaMemset(dcounters.get(), 0, dcounters.bytes()));
      // Launches rows t0 .. t0 + rows_n, keeps the first NMSE over the bound and returns the output's bytes.
      QString decode_error;
      const auto decode = [&](int t0, int rows_n, int max_keys) {
        cuda::DecodeAttentionArgs da;
        da.rope = r;
        da.rope.qkv = dqkv.as<bf16>() + int64_t(t0) * W;
        da.rope.positions = dpos.as<int32_t>() + t0;
        da.rope.slot_of_row = dslots.as<int32_t>() + t0;
        da.rope.T = rows_n;
        da.tables = dtable.as<int32_t>();
        da.table_stride = nblocks;
        da.row_seq = dseq.as<int32_t>() + t0;
        da.n_keys = dn.as<int32_t>() + t0;
        da.max_keys = max_keys;
        da.scale = scale;
        da.out = dout.as<bf16>();
        da.partial = dpartial.as<float>();
        da.counters = dcounters.as<int32_t>();
        R1_CUDA_CHECK(cudaMemset(dout.get(), 0xff, dout.bytes()));
        cuda::attention_decode(da, nullptr);
        std::vector<double> want(ref.begin() + int64_t(t0) * H * D,
                                 ref.begin() + int64_t(t0 + rows_n) * H * D);
        const double e = nmse(download_bf16(dout, want.size()), want);
        if (!(e < 1e-4) && decode_error.isEmpty())
          decode_error =
              QString("decode rows %1+%2 (max %3 keys): NMSE %4").arg(t0).arg(rows_n).arg(max_keys).arg(e);
        return download<uint8_t>(dout, want.size() * 2);
      };
      // One row's ranges merge in a cluster when they are few enough, else through global memory; the two
      // give the same bits.
      const int cluster_keys = cuda::kDecodeClusterRanges * cuda::kDecodeSplitKeys;
      // One row at a time, its cache slot poisoned first: the kernel must write its k and v there.
      for (int t : {0, 1, 63, 64, 65, 130, n - 1}) {
        if (t >= n) continue;
        const int64_t blk = table[size_t(t / BS)], off = t % BS;
        for (int h = 0; h < KVH; ++h) {
          R1_CUDA_CHECK(cudaMemset(kv.k_block(1, blk) + (h * BS + off) * D, 0xff, size_t(D) * 2));
          R1_CUDA_CHECK(cudaMemset(kv.v_block(1, blk) + (h * BS + off) * D, 0xff, size_t(D) * 2));
        }
        const auto bits = decode(t, 1, n);
        if (n > cluster_keys && t < cluster_keys)
          QVERIFY2(decode(t, 1, cluster_keys) == bits,
                   qPrintable(QString("row %1: the cluster's merge differs from the global one").arg(t)));
        QVERIFY2(decode_error.isEmpty(), qPrintable(decode_error));
        std::vector<double> kw, vw;
        std::vector<float> kg, vg;
        for (int h = 0; h < KVH; ++h) {
          cuda::DeviceBuffer tmp(size_t(D) * 2);
          R1_CUDA_CHECK(cudaMemcpy(tmp.get(), kv.k_block(1, blk) + (h * BS + off) * D, size_t(D) * 2,
                                   cudaMemcpyDeviceToDevice));
          const auto kd = download_bf16(tmp, size_t(D));
          R1_CUDA_CHECK(cudaMemcpy(tmp.get(), kv.v_block(1, blk) + (h * BS + off) * D, size_t(D) * 2,
                                   cudaMemcpyDeviceToDevice));
          const auto vd = download_bf16(tmp, size_t(D));
          kg.insert(kg.end(), kd.begin(), kd.end());
          vg.insert(vg.end(), vd.begin(), vd.end());
          kw.insert(kw.end(), k.begin() + (int64_t(t) * KVH + h) * D,
                    k.begin() + (int64_t(t) * KVH + h + 1) * D);
          vw.insert(vw.end(), v.begin() + (int64_t(t) * KVH + h) * D,
                    v.begin() + (int64_t(t) * KVH + h + 1) * D);
        }
        QVERIFY2(
            nmse(kg, kw) < 2e-5 && nmse(vg, vw) < 2e-5,
            qPrintable(QString("row %1: cached k NMSE %2, v %3").arg(t).arg(nmse(kg, kw)).arg(nmse(vg, vw))));
      }
      // Every row in one launch (all in one sequence, whose cache is complete, so rewriting a slot that
      // another row reads stores the same bytes), twice: the merge counters must come back to zero.
      decode(0, n, n);
      decode(0, n, n);
      QVERIFY2(decode_error.isEmpty(), qPrintable(decode_error));
    }
    if (!cuda::flash_supports(D)) return;
    // The flash kernel on the same cache, in tiles of up to 64 rows; poisoned output first.
    std::vector<cuda::FlashTile> tiles;
    for (int t0 = 0; t0 < n; t0 += cuda::kFlashTileRows)
      tiles.push_back({t0, std::min(cuda::kFlashTileRows, n - t0), 0, t0});
    auto dtiles = upload(tiles);
    R1_CUDA_CHECK(cudaMemset(dout.get(), 0xff, dout.bytes()));
    cuda::FlashArgs fa;
    fa.q = dq.as<bf16>();
    fa.heads = H;
    fa.tiles = dtiles.as<cuda::FlashTile>();
    fa.n_tiles = int32_t(tiles.size());
    fa.tables = dtable.as<int32_t>();
    fa.table_stride = nblocks;
    fa.scale = scale;
    fa.layer = 1;
    fa.kv = kv;
    fa.out = dout.as<bf16>();
    cuda::attention_flash(fa, nullptr);
    const auto flash = download_bf16(dout, ref.size());
    QVERIFY2(nmse(flash, ref) < 1e-4, qPrintable(QString("flash attention NMSE %1").arg(nmse(flash, ref))));
  }

  void sampling_greedy_filters_and_distribution() {
    const int V = 151936;
    std::vector<float> base(static_cast<size_t>(V));
    std::mt19937 g(17);
    std::normal_distribution<float> d(0, 1);
    for (auto& x : base) x = d(g) - 14.0f;
    // Five strong tokens with softmax-known weights (the rest carry ~0.15% of the mass).
    const std::vector<int> strong = {1234, 99, 150000, 7, 42};
    const std::vector<double> p = {0.4, 0.3, 0.15, 0.1, 0.05};
    for (size_t i = 0; i < strong.size(); ++i) base[size_t(strong[i])] = float(std::log(p[i]) + 5.0);
    const int rows = 4000;
    auto [logits, params] = copy_row(base, rows, [](int r, cuda::RowSampling& row) {
      row.key_lo = uint32_t(r * 2654435761u);
      row.key_hi = uint32_t(r);
    });
    const auto run = [&](const std::function<void(cuda::RowSampling&)>& set) {
      for (auto& p1 : params) set(p1);
      std::map<int, int> h;
      for (int t : sample(logits, params, V)) h[t]++;
      return h;
    };
    auto h = run([](cuda::RowSampling& s) { s.temperature = 0; });
    QCOMPARE(h.size(), size_t(1));
    QCOMPARE(h.begin()->first, 1234);
    h = run([](cuda::RowSampling& s) {
      s.temperature = 1;
      s.top_k = 1;
    });
    QVERIFY(h.size() == 1 && h.count(1234));
    h = run([](cuda::RowSampling& s) {
      s.top_k = 0;
      s.top_p = 0.65f;
    });  // 0.4 + 0.3 reach it
    QVERIFY(h.size() == 2 && h.count(1234) && h.count(99));
    h = run([](cuda::RowSampling& s) {
      s.top_p = 1;
      s.top_k = 3;
    });
    QVERIFY(h.size() == 3 && !h.count(7));
    h = run([](cuda::RowSampling& s) {
      s.top_p = 0.5f;
      s.top_k = 4;
    });  // among the top 4 (0.95 of the mass), 0.4 + 0.3 reach half of it
    QVERIFY(h.size() == 2 && h.count(1234) && h.count(99));
    h = run([](cuda::RowSampling& s) {
      s.top_p = 1;
      s.top_k = 0;
    });
    h = run([](cuda::RowSampling& s) {
      s.top_k = 0;
      s.min_p = 0.3f;
    });  // keeps p >= 0.12
    QVERIFY(h.size() == 3 && h.count(150000));
    h = run([](cuda::RowSampling& s) { s.min_p = 0; });
    for (size_t i = 0; i < strong.size(); ++i) {
      const double got = double(h[strong[i]]) / rows, want = p[i] * 0.9986;
      QVERIFY2(std::abs(got - want) < 5 * std::sqrt(want * (1 - want) / rows) + 0.003,
               qPrintable(QString("token %1: %2 vs %3").arg(strong[i]).arg(got).arg(want)));
    }
    // Repetition penalty: the history holds the top token twice; penalty 1e4 removes it from greedy.
    const std::vector<int32_t> hist = {1234, 5, 1234};
    auto dh = upload(hist);
    h = run([&](cuda::RowSampling& s) {
      s.temperature = 0;
      s.repetition_penalty = 1e4f;
      s.history = dh.as<int32_t>();
      s.history_len = 3;
    });
    QVERIFY(h.size() == 1 && h.count(99));
  }

  // Top-p where the nucleus is a few thousand tokens (drawn from a short list of the top of the row) or tens
  // of thousands (a flat row, drawn from the whole row): every draw lies in the nucleus computed here by
  // sorting, and the draws spread over it.
  void sampling_top_p_wide_nucleus_data() {
    QTest::addColumn<int>("near_top");
    QTest::addColumn<float>("spread");
    QTest::newRow("3000 near the top") << 3000 << 0.05f;
    QTest::newRow("flat row") << 151936 << 0.5f;
  }
  void sampling_top_p_wide_nucleus() {
    QFETCH(int, near_top);
    QFETCH(float, spread);
    const int V = 151936, rows = 300;
    const float top_p = 0.6f;
    std::vector<float> base(size_t(V), -40.0f);
    std::mt19937 g(23);
    std::normal_distribution<float> d(0, spread);
    for (int i = 0; i < near_top; ++i) base[size_t((i * 50503LL) % V)] = d(g);
    // The nucleus by sorting: the smallest logit whose inclusion brings the mass from the top to top_p.
    std::vector<float> sorted = base;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    double total = 0, cum = 0;
    for (float v : sorted) total += std::exp(double(v) - sorted[0]);
    float threshold = sorted[0];
    int nucleus = 0;
    for (float v : sorted) {
      cum += std::exp(double(v) - sorted[0]);
      threshold = v;
      ++nucleus;
      if (cum >= top_p * total) break;
    }
    const auto rows_of = copy_row(base, rows, [&](int r, cuda::RowSampling& p) {
      p.top_p = top_p;
      p.key_lo = uint32_t(r * 2246822519u);
      p.key_hi = uint32_t(r + 7);
    });
    std::set<int> distinct;
    for (int t : sample(rows_of.logits, rows_of.params, V)) {
      QVERIFY(t >= 0 && t < V);
      // A token at the boundary may fall either side of it after float rounding.
      QVERIFY2(base[size_t(t)] >= threshold - 1e-4f,
               qPrintable(QString("token %1 (logit %2) is outside the nucleus (from %3, %4 tokens)")
                              .arg(t)
                              .arg(base[size_t(t)])
                              .arg(threshold)
                              .arg(nucleus)));
      distinct.insert(t);
    }
    QVERIFY2(nucleus > 1000, qPrintable(QString("nucleus of %1 tokens").arg(nucleus)));
    QVERIFY2(distinct.size() > size_t(rows) * 3 / 4, qPrintable(QString("%1 distinct").arg(distinct.size())));
  }

  // The full path's draw (a flat row: inverse of the cumulative probability at a uniform draw): two groups of
  // 8 000 tokens a nat apart are drawn in proportion e : 1, each group's halves (by index) equally, and with
  // top-p 0.5 only the upper group, spread over it.
  void sampling_flat_row_distribution() {
    const int V = 50000, rows = 3000, group = 8000;
    std::vector<float> base(size_t(V), -40.0f);
    std::vector<int> group_of(size_t(V), -1);
    for (int i = 0; i < 2 * group; ++i) {
      const int t = int((int64_t(i) * 7919) % V);
      group_of[size_t(t)] = i < group ? 0 : 1;
      base[size_t(t)] = i < group ? 1.0f : 0.0f;
    }
    for (float top_p : {1.0f, 0.5f}) {
      const auto rows_of = copy_row(base, rows, [&](int r, cuda::RowSampling& p) {
        p.top_p = top_p;
        p.key_lo = uint32_t(r * 2654435761u + 5);
        p.key_hi = uint32_t(r * 40503u);
      });
      int upper = 0, lower_half = 0;
      std::set<int> distinct;
      for (int t : sample(rows_of.logits, rows_of.params, V)) {
        QVERIFY(t >= 0 && t < V);
        QVERIFY2(group_of[size_t(t)] >= 0, qPrintable(QString("token %1 is in neither group").arg(t)));
        upper += group_of[size_t(t)] == 0;
        lower_half += t < V / 2;
        distinct.insert(t);
      }
      const double e = std::exp(1.0), want_upper = top_p < 1.0f ? 1.0 : e / (e + 1.0);
      QVERIFY2(std::abs(double(upper) / rows - want_upper) < 0.035,
               qPrintable(QString("top-p %1: %2 of %3 in the upper group").arg(top_p).arg(upper).arg(rows)));
      QVERIFY2(
          std::abs(double(lower_half) / rows - 0.5) < 0.04,
          qPrintable(
              QString("top-p %1: %2 of %3 below index %4").arg(top_p).arg(lower_half).arg(rows).arg(V / 2)));
      QVERIFY2(distinct.size() > size_t(rows) * 3 / 4,
               qPrintable(QString("%1 distinct").arg(distinct.size())));
    }
  }

  // A runtime step's first kernel: the step inputs' ranges of words copied from pinned host memory with the
  // rest of the destination untouched, and the rows embedded from ids read in that pinned memory, with their
  // history records; row widths held across the wait, longer than that, and not in 16-byte pieces.
  void step_embedding_copies_and_embeds() {
    const int64_t T = 40, n = 8000, V = 50;
    const auto pinned_host = pinned<int32_t>(size_t(n));
    int32_t* host = pinned_host.get();
    QVERIFY(host);
    for (int64_t i = 0; i < n; ++i) host[i] = int32_t(i * 7919 + 13);
    // ids, row_seq and positions live in the copied words, as in the runtime's pinned buffer.
    const int64_t ids_at = 512, seq_at = 1536, pos_at = 2000;
    for (int64_t t = 0; t < T; ++t) {
      host[ids_at + t] = int32_t((t * 17 + 3) % V);
      host[seq_at + t] = int32_t(t % 3);
      host[pos_at + t] = int32_t(t * 2 + 1);
    }
    cuda::HostCopyRanges r;
    const int64_t ranges[][2] = {{0, 1}, {ids_at, T}, {1024, 0}, {seq_at, T}, {pos_at, 3000}, {7990, 10}};
    for (int k = 0; k < 6; ++k) r.offset[k] = ranges[k][0], r.count[k] = ranges[k][1];
    // The ids come from the pinned buffer, or (ids_after_wait, as in the chained steps after the first) from
    // device memory that the kernel before wrote.
    std::vector<int32_t> ids(host + ids_at, host + ids_at + T);
    auto device_ids = upload(ids);
    for (const int64_t signed_dim : {int64_t(64), int64_t(8200), int64_t(36), int64_t(-8200), int64_t(-36)}) {
      const bool after = signed_dim < 0;
      const int64_t dim = std::abs(signed_dim);
      auto values = randn(size_t(V * dim), 11);
      const auto table = to_bf16(values);
      auto dtable = upload(table);
      auto dst = upload(std::vector<int32_t>(size_t(n), -1));
      const int64_t stride = 100;
      auto history = upload(std::vector<int32_t>(size_t(3 * stride), -1));
      cuda::DeviceBuffer x(size_t(T * dim) * 4);
      const int32_t* src = cuda::host_device_pointer(host);
      cuda::EmbeddingArgs a;
      a.x = x.as<float>();
      a.ids = after ? device_ids.as<int32_t>() : src + ids_at;
      a.ids_after_wait = after;
      a.table = dtable.as<bf16>();
      a.T = T;
      a.dim = dim;
      a.history = history.as<int32_t>();
      a.history_stride = stride;
      a.row_seq = src + seq_at;
      a.positions = src + pos_at;
      a.copy_src = src;
      a.copy_dst = dst.as<int32_t>();
      a.copy = r;
      cuda::embedding_forward(a, nullptr);
      std::vector<int32_t> want(size_t(n), -1);
      for (const auto& rg : ranges)
        for (int64_t i = rg[0]; i < rg[0] + rg[1]; ++i) want[size_t(i)] = host[i];
      QCOMPARE(test::download<int32_t>(dst, size_t(n)), want);
      const auto got_x = test::download<float>(x, size_t(T * dim));
      std::vector<int32_t> want_history(size_t(3 * stride), -1);
      for (int64_t t = 0; t < T; ++t) {
        const int32_t id = host[ids_at + t];
        want_history[size_t(host[seq_at + t] * stride + host[pos_at + t])] = id;
        for (int64_t i = 0; i < dim; ++i) QCOMPARE(got_x[size_t(t * dim + i)], values[size_t(id * dim + i)]);
      }
      QCOMPARE(test::download<int32_t>(history, size_t(3 * stride)), want_history);
    }
    r.count[0] = -1;
    cuda::EmbeddingArgs bad;
    bad.T = 1;
    bad.copy_src = cuda::host_device_pointer(host);
    bad.copy = r;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, cuda::embedding_forward(bad, nullptr));
    r.count[0] = 257;
    bad.copy = r;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, cuda::embedding_forward(bad, nullptr));
  }

  // The sampler reading its rows from, and writing its tokens to, pinned host memory (as the runtime calls
  // it) draws what it draws from device memory.
  void sampling_through_pinned_memory() {
    const int vocab = 5000, rows = 64;
    auto logits = randn(size_t(rows) * vocab, 3, 2.0f);
    std::vector<cuda::RowSampling> params(static_cast<size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      auto& p = params[size_t(r)];
      p.temperature = r % 4 == 0 ? 0.0f : 0.8f;
      p.top_p = r % 3 == 0 ? 0.9f : 1.0f;
      p.top_k = r % 5 == 0 ? 40 : 0;
      p.key_lo = uint32_t(r * 2654435761u);
      p.key_hi = uint32_t(r);
    }
    const auto want = sample(logits, params, vocab);
    const auto pinned_params = pinned<cuda::RowSampling>(params.size());
    const auto pinned_tokens = pinned<int32_t>(size_t(rows));
    cuda::RowSampling* hp = pinned_params.get();
    int32_t* ht = pinned_tokens.get();
    QVERIFY(hp && ht);
    std::copy(params.begin(), params.end(), hp);
    std::fill(ht, ht + rows, -1);
    auto dl = upload(logits);
    // The tokens also go to device memory, as for the next of chained steps.
    auto copy = upload(std::vector<int32_t>(size_t(rows), -1));
    cuda::sample_rows(dl.as<float>(), rows, vocab, cuda::host_device_pointer(hp),
                      cuda::host_device_pointer(ht), nullptr, nullptr, 0, copy.as<int32_t>());
    QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<int32_t> got(ht, ht + rows);
    QCOMPARE(got, want);
    QCOMPARE(test::download<int32_t>(copy, size_t(rows)), want);
  }
};

R1_GPU_TEST_MAIN(TestKernelsCuda)
#include "tst_kernels_cuda.moc"
