#include "cuda_weights.h"

#include <algorithm>
#include <functional>

#include "kernels/cuda/convert.h"

namespace r1 {
namespace {

constexpr int64_t kAlign = 256;

int64_t aligned(int64_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

// Walks every device tensor in a fixed order; `place` receives its element count and the host parts that
// fill it, in order (a concatenated tensor has several parts).
void walk(const Model& m,
          const std::function<void(cuda::bf16**, int64_t, std::vector<const TensorView*>)>& place,
          CudaWeights* w) {
  const ModelWeights& W = m.weights;
  const auto one = [&](cuda::bf16** dst, const TensorView& t) {
    if (t) place(dst, t.numel(), {&t});
  };
  const auto cat = [&](cuda::bf16** dst, std::vector<const TensorView*> parts) {
    if (!*parts.front()) return;
    int64_t n = 0;
    for (const auto* p : parts) n += p->numel();
    place(dst, n, std::move(parts));
  };
  one(&w->embed, W.embed);
  one(&w->final_norm, W.final_norm);
  if (W.lm_head.data != W.embed.data) one(&w->lm_head, W.lm_head);
  w->mla_layers.resize(m.deepseek_layers.size());
  for (size_t l = 0; l < m.deepseek_layers.size(); ++l) {
    const DeepseekLayerWeights& L = m.deepseek_layers[l];
    CudaMlaLayerWeights& D = w->mla_layers[l];
    one(&D.attn_norm, L.attn_norm);
    one(&D.q_proj, L.q_proj);
    one(&D.q_a, L.q_a_proj);
    one(&D.q_a_norm, L.q_a_norm);
    one(&D.q_b, L.q_b_proj);
    one(&D.kv_a, L.kv_a_proj);
    one(&D.kv_a_norm, L.kv_a_norm);
    one(&D.kv_b, L.kv_b_proj);
    one(&D.o_proj, L.o_proj);
    one(&D.mlp_norm, L.mlp_norm);
    cat(&D.wgu, {&L.dense.gate, &L.dense.up});
    one(&D.wdown, L.dense.down);
    one(&D.router, L.router);
    std::vector<const TensorView*> gu, down;
    for (const ExpertWeights& e : L.experts) {
      gu.insert(gu.end(), {&e.gate, &e.up});
      down.push_back(&e.down);
    }
    if (!gu.empty()) {
      cat(&D.experts_gu, gu);
      cat(&D.experts_down, down);
    }
    cat(&D.shared_gu, {&L.shared.gate, &L.shared.up});
    one(&D.shared_down, L.shared.down);
  }
  w->layers.resize(W.layers.size());
  for (size_t l = 0; l < W.layers.size(); ++l) {
    const LayerWeights& L = W.layers[l];
    CudaLayerWeights& D = w->layers[l];
    one(&D.attn_norm, L.attn_norm);
    cat(&D.wqkv, {&L.wq, &L.wk, &L.wv});
    cat(&D.bqkv, {&L.bq, &L.bk, &L.bv});
    one(&D.q_norm, L.q_norm);
    one(&D.k_norm, L.k_norm);
    one(&D.wo, L.wo);
    one(&D.bo, L.bo);
    one(&D.mlp_norm, L.mlp_norm);
    cat(&D.wgu, {&L.w_gate, &L.w_up});
    cat(&D.bgu, {&L.b_gate, &L.b_up});
    one(&D.wdown, L.w_down);
    one(&D.bdown, L.b_down);
  }
}

}  // namespace

int64_t cuda_weight_bytes(const Model& m) {
  int64_t total = 0;
  CudaWeights scratch;
  walk(
      m, [&](cuda::bf16**, int64_t n, std::vector<const TensorView*>) { total += aligned(n * 2); }, &scratch);
  return total;
}

CudaWeights upload_weights(const Model& m, cudaStream_t stream) {
  CudaWeights w;
  w.bytes = cuda_weight_bytes(m);
  w.block.allocate(size_t(w.bytes));
  // Staging for one host tensor in its stored dtype; converted to bf16 on the device.
  int64_t staging_bytes = 0;
  walk(
      m,
      [&](cuda::bf16**, int64_t, std::vector<const TensorView*> parts) {
        for (const auto* p : parts) staging_bytes = std::max<int64_t>(staging_bytes, int64_t(p->nbytes()));
      },
      &w);
  cuda::DeviceBuffer staging(static_cast<size_t>(staging_bytes));
  auto* base = w.block.as<unsigned char>();
  int64_t offset = 0;
  walk(
      m,
      [&](cuda::bf16** dst, int64_t n, std::vector<const TensorView*> parts) {
        *dst = reinterpret_cast<cuda::bf16*>(base + offset);
        int64_t at = 0;
        for (const auto* p : parts) {
          R1_CUDA_CHECK(cudaMemcpyAsync(staging.get(), p->data, p->nbytes(), cudaMemcpyHostToDevice, stream));
          cuda::convert_to_bf16(*dst + at, staging.get(), p->dtype, p->numel(), stream);
          R1_CUDA_CHECK(cudaStreamSynchronize(stream));  // the staging buffer is reused by the next part
          at += p->numel();
        }
        offset += aligned(n * 2);
      },
      &w);
  if (!w.lm_head) w.lm_head = w.embed;
  return w;
}

}  // namespace r1
