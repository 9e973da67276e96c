// The DeepSeek inference kernels against double-precision CPU references on random inputs: latent attention
// over a paged cache (the split-K decode kernel and the GEMM prefill path, with head groups), the latent
// cache write with its RMSNorm and RoPE, the routed experts taken slot by slot, and the fp32 router.
#include <cmath>
#include <numeric>

#include "kernels/cuda/mla_attention.h"
#include "kernels/cuda/moe_experts.h"
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

namespace {

constexpr int kBlock = 16;

// A paged latent cache of two layers whose blocks sit in reverse order in the pool; layer 1 holds `rows`.
struct PagedLatent {
  int64_t keys, latent;
  std::vector<float> rows;  // [keys, latent], bf16-exact
  std::vector<int32_t> table;
  cuda::DeviceBuffer pool, table_dev;
  cuda::MlaCache cache;

  PagedLatent(int64_t n, int64_t width, uint32_t seed) : keys(n), latent(width) {
    rows = randn(size_t(n * width), seed);
    to_bf16(rows);
    const int64_t blocks = (n + kBlock - 1) / kBlock + 1;
    for (int64_t b = 0; b < blocks - 1; ++b) table.push_back(int32_t(blocks - 1 - b));
    cache.num_blocks = blocks;
    cache.block_size = kBlock;
    cache.latent = int32_t(width);
    cache.layers = 2;
    std::vector<float> host(size_t(cache.bytes() / 2), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot = int64_t(table[size_t(j / kBlock)]) * kBlock + j % kBlock;
      std::copy_n(rows.begin() + j * width, width, host.begin() + (blocks * kBlock + slot) * width);
    }
    pool = upload(to_bf16(host));
    cache.pool = pool.as<bf16>();
    table_dev = upload(table);
  }
};

// out[lora] of one head's query over the first n rows: softmax(scale q . row) weighted c_kv.
std::vector<double> attend(const float* q, const PagedLatent& c, int64_t n, int64_t lora, double scale) {
  std::vector<double> s(static_cast<size_t>(n)), out(static_cast<size_t>(lora), 0.0);
  double m = -INFINITY, sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    double d = 0;
    for (int64_t i = 0; i < c.latent; ++i) d += double(q[i]) * c.rows[size_t(j * c.latent + i)];
    s[size_t(j)] = d * scale;
    m = std::max(m, s[size_t(j)]);
  }
  for (int64_t j = 0; j < n; ++j) sum += s[size_t(j)] = std::exp(s[size_t(j)] - m);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < lora; ++i)
      out[size_t(i)] += s[size_t(j)] / sum * c.rows[size_t(j * c.latent + i)];
  return out;
}

}  // namespace

class TestMlaKernelsCuda : public QObject {
  Q_OBJECT

 private slots:
  void latent_attention_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("lora");
    QTest::addColumn<int>("rope");
    QTest::addColumn<int>("keys");
    QTest::newRow("fixture dims, 37 keys (1, 2 and 3 splits)") << 4 << 32 << 8 << 37;
    QTest::newRow("17 keys (splits of 9 and 8)") << 4 << 32 << 8 << 17;
    QTest::newRow("odd head count, 600 keys (16 splits of 38)") << 5 << 64 << 16 << 600;
    QTest::newRow("DeepSeek-V2 dims") << 16 << 512 << 64 << 300;
  }
  void latent_attention() {
    QFETCH(int, heads);
    QFETCH(int, lora);
    QFETCH(int, rope);
    QFETCH(int, keys);
    const int64_t latent = lora + rope;
    const float scale = 1.0f / std::sqrt(float(lora / 4 + rope));
    const PagedLatent c(keys, latent, 11);
    // Decode: three rows of the sequence seeing 1, half and all of its keys.
    const std::vector<int32_t> n_keys = {1, keys / 2, keys}, row_seq = {0, 0, 0};
    auto q = randn(size_t(3 * heads * latent), 12);
    auto qd = upload(to_bf16(q));
    auto nk = upload(n_keys), rs = upload(row_seq);
    cuda::MlaDecodeArgs a;
    a.q_lat = qd.as<bf16>();
    a.rows = 3;
    a.heads = heads;
    a.tables = c.table_dev.as<int32_t>();
    a.table_stride = int32_t(c.table.size());
    a.row_seq = rs.as<int32_t>();
    a.n_keys = nk.as<int32_t>();
    a.max_keys = keys;
    a.scale = scale;
    a.lora = lora;
    a.layer = 1;
    a.cache = c.cache;
    cuda::DeviceBuffer out(size_t(3 * heads * lora) * 2);
    cuda::DeviceBuffer partial(size_t(cuda::mla_decode_partial_floats(3, heads, lora, keys)) * 4);
    a.out = out.as<bf16>();
    a.partial = partial.as<float>();
    cuda::mla_attention_decode(a, nullptr);
    std::vector<double> want;
    for (int r = 0; r < 3; ++r)
      for (int h = 0; h < heads; ++h) {
        const auto o = attend(q.data() + (r * heads + h) * latent, c, n_keys[size_t(r)], lora, scale);
        want.insert(want.end(), o.begin(), o.end());
      }
    const double e_decode = nmse(download_bf16(out, want.size()), want);

    // Prefill: the last T rows of the sequence at once, causal, with scratch for two heads' scores at a time.
    const int64_t T = std::min(keys, 50), pos0 = keys - T;
    auto qp = randn(size_t(T * heads * latent), 13);
    auto qpd = upload(to_bf16(qp));
    const size_t scratch_bytes =
        cuda::mla_prefill_min_scratch_bytes(T, keys, int32_t(latent)) + size_t(T * keys) * 4;
    cuda::DeviceBuffer scratch(scratch_bytes), pout(size_t(T * heads * lora) * 2);
    cuda::Blas blas;
    cuda::MlaPrefillArgs p;
    p.q_lat = qpd.as<bf16>();
    p.T = T;
    p.heads = heads;
    p.pos0 = pos0;
    p.table = c.table_dev.as<int32_t>();
    p.scale = scale;
    p.lora = lora;
    p.layer = 1;
    p.cache = c.cache;
    p.out = pout.as<bf16>();
    p.scratch = scratch.get();
    p.scratch_bytes = scratch_bytes;
    cuda::mla_attention_prefill(blas, p, nullptr);
    std::vector<double> pwant;
    for (int64_t t = 0; t < T; ++t)
      for (int h = 0; h < heads; ++h) {
        const auto o = attend(qp.data() + (t * heads + h) * latent, c, pos0 + t + 1, lora, scale);
        pwant.insert(pwant.end(), o.begin(), o.end());
      }
    const double e_prefill = nmse(download_bf16(pout, pwant.size()), pwant);
    qInfo("decode NMSE %.3g, prefill NMSE %.3g", e_decode, e_prefill);
    QVERIFY2(e_decode < 2e-4, qPrintable(QString("decode NMSE %1").arg(e_decode)));
    QVERIFY2(e_prefill < 2e-4, qPrintable(QString("prefill NMSE %1").arg(e_prefill)));
  }

  void rope_and_cache_data() {
    QTest::addColumn<bool>("interleaved");
    QTest::newRow("adjacent pairs") << true;
    QTest::newRow("halves") << false;
  }
  void rope_and_cache() {
    QFETCH(bool, interleaved);
    const int heads = 3, nope = 6, lora = 32, rope = 8, T = 4, positions_n = 40;
    const int64_t latent = lora + rope;
    auto kv = randn(size_t(T * latent), 21, 2.0f);
    auto q = randn(size_t(T * heads * (nope + rope)), 22);
    auto w = randn(size_t(lora), 23);
    std::vector<float> cs(size_t(positions_n * rope));
    for (int p = 0; p < positions_n; ++p)
      for (int i = 0; i < rope / 2; ++i) {
        const double theta = p * std::pow(10000.0, -2.0 * i / rope);
        cs[size_t(p * rope + i)] = float(std::cos(theta));
        cs[size_t(p * rope + rope / 2 + i)] = float(std::sin(theta));
      }
    const std::vector<int32_t> pos = {0, 7, 19, 39}, where = {5, 0, 33, 16};
    auto kvd = upload(kv), qd = upload(to_bf16(q)), wd = upload(to_bf16(w)), csd = upload(cs),
         pd = upload(pos), sd = upload(where);
    cuda::DeviceBuffer pool(size_t(3 * kBlock * latent) * 2), qlat(size_t(T * heads * latent) * 2);
    cudaMemset(pool.get(), 0, pool.bytes());
    cudaMemset(qlat.get(), 0, qlat.bytes());
    cuda::MlaRopeCacheArgs a;
    a.kv_a = kvd.as<float>();
    a.norm_w = wd.as<bf16>();
    a.q = qd.as<bf16>();
    a.q_lat = qlat.as<bf16>();
    a.cos_sin = csd.as<float>();
    a.positions = pd.as<int32_t>();
    a.slot_of_row = sd.as<int32_t>();
    a.T = T;
    a.heads = heads;
    a.nope = nope;
    a.lora = lora;
    a.rope = rope;
    a.interleaved = interleaved;
    a.cache = {pool.as<bf16>(), 3, kBlock, int32_t(latent), 1};
    cuda::mla_rope_and_cache(a, nullptr);
    const auto cache = download_bf16(pool, size_t(3 * kBlock * latent));
    const auto ql = download_bf16(qlat, size_t(T * heads * latent));
    const auto rotate = [&](const float* x, int p, double* y) {
      for (int i = 0; i < rope / 2; ++i) {
        const int i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + rope / 2;
        const double c = cs[size_t(p * rope + i)], s = cs[size_t(p * rope + rope / 2 + i)];
        y[i0] = x[i0] * c - x[i1] * s;
        y[i1] = x[i1] * c + x[i0] * s;
      }
    };
    std::vector<float> got;
    std::vector<double> want;
    for (int t = 0; t < T; ++t) {
      const float* k = kv.data() + t * latent;
      double ss = 0;
      for (int i = 0; i < lora; ++i) ss += double(k[i]) * k[i];
      const double rstd = 1.0 / std::sqrt(ss / lora + 1e-6);
      std::vector<double> row(static_cast<size_t>(latent));
      for (int i = 0; i < lora; ++i) row[size_t(i)] = k[i] * rstd * w[size_t(i)];
      rotate(k + lora, pos[size_t(t)], row.data() + lora);
      want.insert(want.end(), row.begin(), row.end());
      got.insert(got.end(), cache.begin() + where[size_t(t)] * latent,
                 cache.begin() + (where[size_t(t)] + 1) * latent);
      for (int h = 0; h < heads; ++h) {
        std::vector<double> y(static_cast<size_t>(rope));
        rotate(q.data() + (t * heads + h) * (nope + rope) + nope, pos[size_t(t)], y.data());
        want.insert(want.end(), y.begin(), y.end());
        const auto* g = ql.data() + (t * heads + h) * latent + lora;
        got.insert(got.end(), g, g + rope);
      }
    }
    const double e = nmse(got, want);
    qInfo("NMSE %.3g", e);
    QVERIFY2(e < 1e-5, qPrintable(QString("NMSE %1").arg(e)));
  }

  void slot_experts_data() {
    QTest::addColumn<int>("hidden");
    QTest::addColumn<int>("inter");
    QTest::newRow("fixture widths") << 64 << 32;
    QTest::newRow("widths off the vector size") << 40 << 21;
  }
  void slot_experts() {
    QFETCH(int, hidden);
    QFETCH(int, inter);
    const int E = 5, K = 2, T = 3;
    auto x = randn(size_t(T * hidden), 31);
    auto gu = randn(size_t(E * 2 * inter * hidden), 32, 0.2f);
    auto down = randn(size_t(E * hidden * inter), 33, 0.2f);
    const std::vector<int32_t> ids = {4, 1, 0, 3, 2, 4};
    const std::vector<float> weights = {0.7f, 0.3f, 0.5f, 0.5f, 1.2f, -0.4f};
    const auto out0 = randn(size_t(T * hidden), 34);
    auto xd = upload(to_bf16(x)), gud = upload(to_bf16(gu)), dd = upload(to_bf16(down)), idd = upload(ids),
         wd = upload(weights), od = upload(out0);
    cuda::DeviceBuffer act(size_t(T * K * inter) * 2);
    cuda::SlotExpertArgs a;
    a.x = xd.as<bf16>();
    a.expert_ids = idd.as<int32_t>();
    a.weights = wd.as<float>();
    a.T = T;
    a.top_k = K;
    a.hidden = hidden;
    a.inter = inter;
    a.w_gu = gud.as<bf16>();
    a.w_down = dd.as<bf16>();
    a.act = act.as<bf16>();
    a.out = od.as<float>();
    cuda::slot_experts_forward(a, nullptr);
    std::vector<double> want(out0.begin(), out0.end());
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < K; ++j) {
        const int e = ids[size_t(t * K + j)];
        std::vector<double> h(static_cast<size_t>(inter));
        for (int r = 0; r < inter; ++r) {
          double g = 0, u = 0;
          for (int k = 0; k < hidden; ++k) {
            g += double(gu[size_t((int64_t(e) * 2 * inter + r) * hidden + k)]) * x[size_t(t * hidden + k)];
            u += double(gu[size_t((int64_t(e) * 2 * inter + inter + r) * hidden + k)]) *
                 x[size_t(t * hidden + k)];
          }
          h[size_t(r)] = g / (1 + std::exp(-g)) * u;
        }
        for (int r = 0; r < hidden; ++r) {
          double y = 0;
          for (int k = 0; k < inter; ++k)
            y += down[size_t((int64_t(e) * hidden + r) * inter + k)] * h[size_t(k)];
          want[size_t(t * hidden + r)] += weights[size_t(t * K + j)] * y;
        }
      }
    const auto got = download<float>(od, want.size());
    std::vector<double> delta(want.size());
    std::vector<float> got_delta(want.size());
    for (size_t i = 0; i < want.size(); ++i) delta[i] = want[i] - out0[i], got_delta[i] = got[i] - out0[i];
    const double e = nmse(got_delta, delta);
    qInfo("NMSE of the experts' sum %.3g", e);
    QVERIFY2(e < 1e-4, qPrintable(QString("NMSE %1").arg(e)));
  }

  // The padded dispatch: each expert's slots in slot order at rows e * capacity + j, every slot's row
  // holding its token's input, the rows past an expert's count untouched; more slots than one round of the
  // block (300 tokens x 2), widths in and off 16-byte pieces, and a capacity too small refused.
  void padded_dispatch_data() {
    QTest::addColumn<int>("dim");
    QTest::newRow("16-byte pieces") << 64;
    QTest::newRow("off the pieces") << 20;
  }
  void padded_dispatch() {
    QFETCH(int, dim);
    const int64_t T = 300, K = 2, E = 7, C = 320;
    std::vector<int32_t> ids(size_t(T * K));
    for (int64_t t = 0; t < T; ++t) {
      ids[size_t(t * K)] = int32_t((t * 5 + 1) % E);
      ids[size_t(t * K + 1)] = int32_t((t * 5 + 1 + 1 + t % (E - 1)) % E);  // never the first choice again
    }
    auto xf = randn(size_t(T * dim), 41);
    auto xd = upload(to_bf16(xf)), idd = upload(ids);  // xf now holds the bf16 values
    std::vector<float> filled(size_t(E * C * dim), -3.0f);
    auto xe = upload(to_bf16(filled));
    auto rows = upload(std::vector<int32_t>(size_t(T * K), -1));
    cuda::moe_dispatch_padded(xe.as<bf16>(), rows.as<int32_t>(), xd.as<bf16>(), idd.as<int32_t>(), T, K, E,
                              dim, C, nullptr);
    const auto got_rows = download<int32_t>(rows, size_t(T * K));
    const auto got_xe = download_bf16(xe, size_t(E * C * dim));
    std::vector<int32_t> next(size_t(E), 0);
    std::vector<bool> used(size_t(E * C), false);
    for (int64_t i = 0; i < T * K; ++i) {
      const int e = ids[size_t(i)];
      const int32_t want = int32_t(e * C + next[size_t(e)]++);
      QCOMPARE(got_rows[size_t(i)], want);
      used[size_t(want)] = true;
      for (int d = 0; d < dim; ++d)
        QCOMPARE(got_xe[size_t(int64_t(want) * dim + d)], xf[size_t((i / K) * dim + d)]);
    }
    for (int64_t r = 0; r < E * C; ++r)
      if (!used[size_t(r)])
        for (int d = 0; d < dim; ++d) QCOMPARE(got_xe[size_t(r * dim + d)], -3.0f);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             cuda::moe_dispatch_padded(xe.as<bf16>(), rows.as<int32_t>(), xd.as<bf16>(),
                                                       idd.as<int32_t>(), T, K, E, dim, T - 1, nullptr));
  }

  void router_logits_in_fp32_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("hidden");
    QTest::addColumn<int>("E");
    QTest::newRow("one block of experts") << 3 << 40 << 6;
    QTest::newRow("DeepSeek-V2-Lite: 64 experts over 8 blocks") << 2 << 2048 << 64;
    QTest::newRow("odd width, 300 experts over 32 blocks, looping") << 2 << 42 << 300;
  }
  void router_logits_in_fp32() {
    QFETCH(int, T);
    QFETCH(int, hidden);
    QFETCH(int, E);
    const auto x = randn(size_t(T * hidden), 41, 3.0f), norm = randn(size_t(hidden), 42),
               w = randn(size_t(E * hidden), 43, 0.02f);
    auto xd = upload(x), nd = upload(norm), wd = upload(w);
    cuda::DeviceBuffer out(size_t(T * E) * 4);
    cuda::router_logits_f32(out.as<float>(), xd.as<float>(), nd.as<float>(), 1e-6f, wd.as<float>(), T, hidden,
                            E, nullptr);
    std::vector<double> want;
    for (int t = 0; t < T; ++t) {
      double ss = 0;
      for (int k = 0; k < hidden; ++k) ss += double(x[size_t(t * hidden + k)]) * x[size_t(t * hidden + k)];
      const double rstd = 1.0 / std::sqrt(ss / hidden + 1e-6);
      for (int e = 0; e < E; ++e) {
        double s = 0;
        for (int k = 0; k < hidden; ++k)
          s += x[size_t(t * hidden + k)] * rstd * norm[size_t(k)] * w[size_t(e * hidden + k)];
        want.push_back(s);
      }
    }
    const double e = nmse(download<float>(out, want.size()), want);
    qInfo("NMSE %.3g", e);
    QVERIFY2(e < 1e-10, qPrintable(QString("NMSE %1").arg(e)));  // fp32 throughout: no bf16 rounding anywhere
  }
};

R1_GPU_TEST_MAIN(TestMlaKernelsCuda)
#include "tst_mla_kernels_cuda.moc"
