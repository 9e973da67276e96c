#pragma once
// Routed experts for a few tokens at a time (decode), without sorting tokens by expert and without a host
// round trip: every (token, choice) slot reads its expert's weights straight from the stacked expert tensors,
// so the step can live in a CUDA graph. Expert e's gate/up is w_gu + e * 2 I H ([gate I rows; up I rows],
// each H wide) and its down is w_down + e * H I. bf16 weights and activations, fp32 accumulation.
#include "cuda_common.h"

namespace r1::cuda {

struct SlotExpertArgs {
  const bf16* x = nullptr;              // [T, H]: the normed input of each token
  const int32_t* expert_ids = nullptr;  // [T, top_k]
  const float* weights = nullptr;       // [T, top_k]: the router's weights
  int64_t T = 0, top_k = 0, hidden = 0, inter = 0;
  const bf16* w_gu = nullptr;    // [E, 2 I, H]
  const bf16* w_down = nullptr;  // [E, H, I]
  bf16* act = nullptr;           // [T, top_k, I] scratch: silu(gate x) * up x of each slot
  float* out = nullptr;          // [T, H]: out += Σ_k weights[t, k] down_k(act[t, k])
};

// Router logits in fp32 throughout: logits[t, e] = Σ_d RMSNorm(x[t])[d] w[e, d], with x the fp32 residual
// stream and norm_w, w fp32. The router picks experts on small score differences (a tiny model's sigmoid
// scores all sit near 0.5), so a bf16 input would flip near ties against the reference.
void router_logits_f32(float* logits, const float* x, const float* norm_w, float eps, const float* w,
                       int64_t T, int64_t hidden, int64_t experts, cudaStream_t stream);

// counts[e] += the number of (token, choice) slots routed to expert e, over n = tokens * top_k slots.
void count_experts(unsigned long long* counts, const int32_t* expert_ids, int64_t n, cudaStream_t stream);

// Decode of many rows, with about as many (token, choice) slots as experts or more: each expert's slots
// gathered into that expert's own block of `capacity` rows (in slot order), so that one strided-batched GEMM
// per projection reads every expert's weights once instead of once per slot. xe: [n_experts, capacity, dim];
// slot_row[i] = e * capacity + j for slot i, the j-th of expert e. Rows past an expert's count keep what
// they held (keep the buffer finite: zero it once); nothing reads their outputs. Each expert takes at most
// T slots (a token picks an expert once), so capacity >= T.
void moe_dispatch_padded(bf16* xe, int32_t* slot_row, const bf16* x, const int32_t* expert_ids, int64_t T,
                         int64_t top_k, int64_t n_experts, int64_t dim, int64_t capacity,
                         cudaStream_t stream);

// Whether the kernels take these widths (their inputs are staged in shared memory).
bool slot_experts_supported(int64_t top_k, int64_t hidden, int64_t inter);
void slot_experts_forward(const SlotExpertArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
