#include "gradient_sync.h"

#include <algorithm>
#include <string>

#include "engine/core/error.h"
#include "team.h"

namespace r1 {

std::vector<GradBucket> gradient_buckets(const ParamLayout& layout) {
  const int64_t n_layers = int64_t(layout.layers.size());
  std::vector<int64_t> lo(size_t(n_layers), layout.total), hi(size_t(n_layers), 0);
  const std::string prefix = "model.layers.";
  for (const ParamTensor& t : layout.tensors) {
    if (t.name.rfind(prefix, 0) != 0) continue;
    const int64_t l = std::stoll(t.name.substr(prefix.size()));
    if (l < 0 || l >= n_layers) fail("parameter '", t.name, "' names a layer outside the model");
    lo[size_t(l)] = std::min(lo[size_t(l)], t.offset);
    hi[size_t(l)] = std::max(hi[size_t(l)], t.offset + t.numel());
  }
  if (n_layers == 0) return {{0, layout.total}};
  for (int64_t l = 1; l < n_layers; ++l)
    if (lo[size_t(l)] != hi[size_t(l - 1)])
      fail("decoder layers ", l - 1, " and ", l, " are not adjacent in the parameter block");
  std::vector<GradBucket> out;
  out.push_back({hi.back(), layout.total - hi.back()});  // final norm, untied LM head
  for (int64_t l = n_layers - 1; l >= 0; --l) out.push_back({lo[size_t(l)], hi[size_t(l)] - lo[size_t(l)]});
  out.push_back({0, lo.front()});  // embedding (and a tied LM head)
  return out;
}

namespace {

class HostGradientSync final : public GradientSync {
 public:
  HostGradientSync(Team& team, int rank) : team_(team), rank_(rank) {}
  void attach(float* grads, std::vector<GradBucket> buckets, void*) override {
    grads_ = grads;
    total_ = 0;
    for (const GradBucket& b : buckets) total_ += b.count;
  }
  void bucket_ready(size_t) override {}
  void finish() override {
    armed_ = false;
    const std::vector<float*> all = team_.all_gather(rank_, grads_);
    const int n = team_.size();
    const int64_t lo = total_ * rank_ / n, hi = total_ * (rank_ + 1) / n;
    for (int64_t i = lo; i < hi; ++i) {
      float s = 0;
      for (float* g : all) s += g[i];
      for (float* g : all) g[i] = s;
    }
    team_.barrier(rank_);  // every slice written before any rank reads its block
  }

 private:
  Team& team_;
  const int rank_;
  float* grads_ = nullptr;
  int64_t total_ = 0;
};

}  // namespace

std::unique_ptr<GradientSync> make_host_gradient_sync(Team& team, int rank) {
  return std::make_unique<HostGradientSync>(team, rank);
}

}  // namespace r1
