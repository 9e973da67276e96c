#include "grad_zeroing.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace r1 {

GradZeroPlan::GradZeroPlan(const ParamLayout& layout, const TrainDims& d) {
  const auto add = [&](int64_t offset, int64_t rows, int64_t cols) {
    if (offset >= 0 && rows > 0 && cols > 0) assigned_.push_back({offset, rows * cols});
  };
  // Exactly the dW products backward_layer() and moe_backward() run once per backward, whatever the batch.
  for (const LayerParams& p : layout.layers) {
    if (!d.mla) {
      add(p.wqkv, d.qkv_dim, d.C);
    } else {
      add(p.w_a, d.a_dim, d.C);
      add(p.wq_b, d.q_in_dim(), d.q_lora ? d.ql : d.C);
      add(p.wkv_b, d.kv_in_dim(), d.kvl);
    }
    add(p.wo, d.C, d.att_dim());
    if (p.is_moe()) add(p.router, d.E, d.C);
    if (p.mlp_inter > 0) {
      add(p.w_gate_up, 2 * p.mlp_inter, d.C);
      add(p.w_down, d.C, p.mlp_inter);
    }
  }
  // An untied LM head: its first chunk with a loss term assigns, or lm_head() zeroes it when none had one.
  if (layout.lm_head != layout.embed) add(layout.lm_head, d.V, d.C);
  std::sort(assigned_.begin(), assigned_.end(),
            [](const GradRange& a, const GradRange& b) { return a.offset < b.offset; });
  int64_t at = 0;
  for (const GradRange& r : assigned_) {
    if (r.offset < at) throw std::logic_error("GradZeroPlan: overlapping weight gradients");
    if (r.offset > at) cleared_.push_back({at, r.offset - at});
    at = r.offset + r.count;
  }
  if (at > layout.total) throw std::logic_error("GradZeroPlan: a weight gradient runs past the block");
  if (at < layout.total) cleared_.push_back({at, layout.total - at});
}

bool GradZeroPlan::assigns(int64_t offset, int64_t count) const {
  const auto it = std::lower_bound(assigned_.begin(), assigned_.end(), offset,
                                   [](const GradRange& r, int64_t o) { return r.offset < o; });
  if (it == assigned_.end() || it->offset != offset) return false;
  if (it->count != count)
    throw std::logic_error("GradZeroPlan: the product at offset " + std::to_string(offset) + " writes " +
                           std::to_string(count) + " gradients, the plan has " + std::to_string(it->count));
  return true;
}

}  // namespace r1
