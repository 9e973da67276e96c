// The CUDA mixture-of-experts training ops against their CPU references (kernels/cpu/moe_train.h) on the same
// inputs: bf16 inputs are rounded first and the CPU runs in fp32 on those exact values. Routing decisions and
// the dispatch's index maps must agree exactly; values within the tolerances of tst_train_ops_cuda:
//   kF32  2e-5   fp32 element-wise outputs and short fp32 sums
//   kDot  1e-4   fp32 dot products over a row (warp order against the CPU's double)
//   kBf16 6e-3   an output rounded once to bf16
// Shapes cover several dispatch chunks and more experts than one chunk's slots (chunk = E).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <random>

#include "kernels/common/half.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/moe_train.h"
#include "kernels/cuda/moe_train.h"
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
using Ids = std::vector<int32_t>;

constexpr double kF32 = 2e-5, kDot = 1e-4, kBf16 = 6e-3;

struct RouterCase {
  const char* name;
  cpu::RouterScoring scoring;
  int64_t n_experts, top_k, n_group, topk_group;
  cpu::GroupScore group_score;
  bool bias, normalize;
  float scaling;
};

const RouterCase kRouterCases[] = {
    {"v3: 256 experts, 8 of 8 groups, top 8", cpu::RouterScoring::Sigmoid, 256, 8, 8, 4,
     cpu::GroupScore::SumTop2, true, true, 2.5f},
    {"v3: 4 experts, one group", cpu::RouterScoring::Sigmoid, 4, 2, 1, 1, cpu::GroupScore::SumTop2, true,
     true, 2.5f},
    {"sigmoid, 40 experts, not normalized", cpu::RouterScoring::Sigmoid, 40, 3, 1, 1, cpu::GroupScore::Max,
     false, false, 1.5f},
    {"v2: softmax greedy, 64 experts", cpu::RouterScoring::Softmax, 64, 6, 1, 1, cpu::GroupScore::Max, false,
     false, 1.0f},
    {"v2: softmax group-limited", cpu::RouterScoring::Softmax, 40, 3, 8, 3, cpu::GroupScore::Max, false,
     false, 16.0f},
};

cpu::RouterConfig router_config(const RouterCase& c, const float* bias) {
  cpu::RouterConfig rc;
  rc.n_experts = c.n_experts, rc.top_k = c.top_k, rc.scoring = c.scoring;
  rc.n_group = c.n_group, rc.topk_group = c.topk_group, rc.group_score = c.group_score;
  rc.selection_bias = c.bias ? bias : nullptr;
  rc.normalize = c.normalize, rc.scaling = c.scaling;
  return rc;
}

// Random logits whose routing is stable: a token is drawn again while nudging its logits by a few 1e-5
// changes the CPU's choice, so that the device's last-bit differences in exp cannot either.
Vec stable_logits(int64_t T, const cpu::RouterConfig& rc, uint32_t seed) {
  const int64_t E = rc.n_experts, K = rc.top_k;
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.5f), nudge(0.0f, 3e-5f);
  Vec z(static_cast<size_t>(T * E)), row(static_cast<size_t>(E)), moved(row.size());
  Vec scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc))), w(static_cast<size_t>(K));
  Ids ids(static_cast<size_t>(K)), ids_moved(ids.size());
  for (int64_t t = 0; t < T; ++t) {
    for (bool stable = false; !stable;) {
      for (float& x : row) x = d(g);
      cpu::moe_route_forward(ids.data(), w.data(), row.data(), 1, rc, scratch.data());
      stable = true;
      for (int trial = 0; trial < 4 && stable; ++trial) {
        for (size_t e = 0; e < row.size(); ++e) moved[e] = row[e] + nudge(g);
        cpu::moe_route_forward(ids_moved.data(), w.data(), moved.data(), 1, rc, scratch.data());
        stable = ids_moved == ids;
      }
    }
    std::copy(row.begin(), row.end(), z.begin() + t * E);
  }
  return z;
}

Ids random_choices(int64_t T, int64_t K, int64_t E, uint32_t seed) {
  std::mt19937 g(seed);
  Ids ids;
  for (int64_t t = 0; t < T; ++t) {
    // K distinct experts per token, as a router chooses.
    while (int64_t(ids.size()) < (t + 1) * K) {
      const int32_t e = int32_t(g() % uint32_t(E));
      if (std::find(ids.begin() + t * K, ids.end(), e) == ids.end()) ids.push_back(e);
    }
  }
  return ids;
}

}  // namespace

class TestMoeTrainOpsCuda : public QObject {
  Q_OBJECT

 private slots:
  void router_data() {
    QTest::addColumn<int>("which");
    for (int i = 0; i < int(std::size(kRouterCases)); ++i) QTest::newRow(kRouterCases[i].name) << i;
  }

  void router_forward_matches_cpu_data() { router_data(); }
  void router_forward_matches_cpu() {
    QFETCH(int, which);
    const RouterCase& c = kRouterCases[which];
    const int64_t T = 300, E = c.n_experts, K = c.top_k;
    const Vec bias = randn(size_t(E), 2, 0.1f);
    const cpu::RouterConfig host_rc = router_config(c, bias.data());
    const Vec z = stable_logits(T, host_rc, 3 + uint32_t(which));
    Vec scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(host_rc)));
    Ids ids(static_cast<size_t>(T * K));
    Vec w(ids.size()), scores(z.size());
    cpu::moe_router_forward(ids.data(), w.data(), scores.data(), z.data(), T, host_rc, scratch.data());

    auto gz = upload(z), gbias = upload(bias);
    cuda::DeviceBuffer gids(ids.size() * 4), gw(w.size() * 4), gscores(scores.size() * 4);
    cuda::moe_router_forward(gids.as<int32_t>(), gw.as<float>(), gscores.as<float>(), gz.as<float>(), T,
                             router_config(c, gbias.as<float>()), nullptr);
    QCOMPARE(download<int32_t>(gids, ids.size()), ids);
    EXPECT_CLOSE("weights", download<float>(gw, w.size()), w, kF32);
    EXPECT_CLOSE("scores", download<float>(gscores, scores.size()), scores, kF32);
  }

  void router_backward_matches_cpu_data() { router_data(); }
  void router_backward_matches_cpu() {
    QFETCH(int, which);
    const RouterCase& c = kRouterCases[which];
    const int64_t T = 300, E = c.n_experts, K = c.top_k;
    const Vec bias = randn(size_t(E), 4, 0.1f);
    const cpu::RouterConfig host_rc = router_config(c, bias.data());
    const Vec z = randn(size_t(T * E), 5, 1.5f), dw = randn(size_t(T * K), 6);
    Vec scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(host_rc)));
    Ids ids(static_cast<size_t>(T * K));
    Vec w(ids.size()), scores(z.size()), dz(z.size());
    cpu::moe_router_forward(ids.data(), w.data(), scores.data(), z.data(), T, host_rc, scratch.data());
    cpu::moe_router_backward(dz.data(), dw.data(), ids.data(), scores.data(), T, host_rc);

    auto gids = upload(ids), gscores = upload(scores), gdw = upload(dw), gbias = upload(bias);
    cuda::DeviceBuffer gdz(dz.size() * 2);
    cuda::moe_router_backward(gdz.as<bf16>(), gdw.as<float>(), gids.as<int32_t>(), gscores.as<float>(), T,
                              router_config(c, gbias.as<float>()), nullptr);
    EXPECT_CLOSE("dlogits", download_bf16(gdz, dz.size()), dz, kBf16);
  }

  void dispatch_and_combine_match_cpu_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("K");
    QTest::addColumn<int>("E");
    QTest::addColumn<int>("C");
    QTest::newRow("several chunks, vector rows") << 3000 << 3 << 16 << 24;
    QTest::newRow("more experts than a chunk's slots, odd rows") << 700 << 2 << 1100 << 13;
    QTest::newRow("one token") << 1 << 1 << 4 << 8;
  }
  void dispatch_and_combine_match_cpu() {
    QFETCH(int, T);
    QFETCH(int, K);
    QFETCH(int, E);
    QFETCH(int, C);
    const int64_t R = int64_t(T) * K;
    const Ids ids = random_choices(T, K, E, 7);
    Vec x = randn(size_t(T) * C, 8);
    const auto xb = to_bf16(x);
    Ids offsets(static_cast<size_t>(E + 1)), row_token(static_cast<size_t>(R)), slot_row(row_token.size());
    Vec xe(static_cast<size_t>(R * C));
    cpu::moe_dispatch_forward(xe.data(), offsets.data(), row_token.data(), slot_row.data(), x.data(),
                              ids.data(), T, K, E, C);

    auto gids = upload(ids), gx = upload(xb);
    cuda::DeviceBuffer goffsets(offsets.size() * 4), grow_token(row_token.size() * 4),
        gslot_row(slot_row.size() * 4), gxe(xe.size() * 2);
    const int64_t scratch_ints = 2 * R + E;
    QVERIFY(cuda::moe_dispatch_scratch_ints(T, K, E) <= scratch_ints);
    cuda::DeviceBuffer gscratch(size_t(scratch_ints) * 4);
    QVERIFY_THROWS_EXCEPTION(
        std::invalid_argument,
        cuda::moe_dispatch_forward(gxe.as<bf16>(), goffsets.as<int32_t>(), grow_token.as<int32_t>(),
                                   gslot_row.as<int32_t>(), gscratch.as<int32_t>(), R - 1, gx.as<bf16>(),
                                   gids.as<int32_t>(), T, K, E, C, nullptr));
    cuda::moe_dispatch_forward(gxe.as<bf16>(), goffsets.as<int32_t>(), grow_token.as<int32_t>(),
                               gslot_row.as<int32_t>(), gscratch.as<int32_t>(), scratch_ints, gx.as<bf16>(),
                               gids.as<int32_t>(), T, K, E, C, nullptr);
    QCOMPARE(download<int32_t>(goffsets, offsets.size()), offsets);
    QCOMPARE(download<int32_t>(grow_token, row_token.size()), row_token);
    QCOMPARE(download<int32_t>(gslot_row, slot_row.size()), slot_row);
    QCOMPARE(download_bf16(gxe, xe.size()), xe);

    // Dispatch backward: dx = Σ over a token's slots.
    Vec dxe = randn(xe.size(), 9);
    const auto dxeb = to_bf16(dxe);
    Vec dx(x.size());
    cpu::moe_dispatch_backward(dx.data(), dxe.data(), slot_row.data(), T, K, C);
    auto gdxe = upload(dxeb);
    cuda::DeviceBuffer gdx(dx.size() * 4);
    cuda::moe_dispatch_backward(gdx.as<float>(), gdxe.as<bf16>(), gslot_row.as<int32_t>(), T, K, C, nullptr);
    EXPECT_CLOSE("dispatch dx", download<float>(gdx, dx.size()), dx, kF32);

    // Combine, seeded so that "=" instead of "+=" fails.
    const Vec ye = randn(xe.size(), 10), w = randn(size_t(R), 11), out0 = randn(x.size(), 12),
              dy = randn(x.size(), 13);
    Vec out = out0, dye(ye.size()), dw(w.size());
    cpu::moe_combine_forward(out.data(), ye.data(), w.data(), slot_row.data(), T, K, C);
    cpu::moe_combine_backward(dye.data(), dw.data(), dy.data(), ye.data(), w.data(), slot_row.data(), T, K,
                              C);
    auto gye = upload(ye), gw = upload(w), gout = upload(out0), gdy = upload(dy);
    cuda::DeviceBuffer gdye(dye.size() * 2), gdw(dw.size() * 4);
    cuda::moe_combine_forward(gout.as<float>(), gye.as<float>(), gw.as<float>(), gslot_row.as<int32_t>(), T,
                              K, C, nullptr);
    cuda::moe_combine_backward(gdye.as<bf16>(), gdw.as<float>(), gdy.as<float>(), gye.as<float>(),
                               gw.as<float>(), gslot_row.as<int32_t>(), T, K, C, nullptr);
    EXPECT_CLOSE("combine out", download<float>(gout, out.size()), out, kF32);
    EXPECT_CLOSE("combine dye", download_bf16(gdye, dye.size()), dye, kBf16);
    EXPECT_CLOSE("combine dweights", download<float>(gdw, dw.size()), dw, kDot);
  }
};

R1_GPU_TEST_MAIN(TestMoeTrainOpsCuda)
#include "tst_moe_train_ops_cuda.moc"
