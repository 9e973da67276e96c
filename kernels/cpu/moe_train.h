#pragma once
// Mixture-of-experts training ops (DeepSeek-V2/V3), fp32: the router with what its backward needs, and the
// dispatch/combine that let each expert's SwiGLU MLP run as plain GEMMs on one contiguous block of rows.
//
// Layout: R = T * top_k routed rows. Slot s = t * top_k + j is token t's j-th choice. The expert blocks are
// ordered by expert, then by token: rows offsets[e] .. offsets[e + 1] belong to expert e, row r holds token
// row_token[r], and slot_row[s] is the row that slot s went to (the inverse map, so that every backward is a
// gather and needs no atomics).
//
// Activation gradients assign (=); combine_forward adds (+=) into the residual stream it is given.
#include <cstdint>

#include "moe.h"

namespace r1::cpu {

// expert_ids, weights: as moe_route_forward (the same selection rules, ties to the lower index).
// scores [T, n_experts]: softmax or sigmoid of the logits, kept for the backward. scratch: at least
// moe_route_scratch_floats(cfg) floats.
void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                        const RouterConfig& cfg, float* scratch);
// dlogits [T, n_experts] from dweights [T, top_k]. The choice of experts (and the selection bias, which only
// steers it) is piecewise constant, so the gradient reaches the logits only through the chosen experts'
// scores: scaling, the optional renormalisation over the chosen, then the sigmoid of each or the softmax
// over all experts.
void moe_router_backward(float* dlogits, const float* dweights, const int32_t* expert_ids,
                         const float* scores, int64_t T, const RouterConfig& cfg);

// Groups the routed rows by expert: offsets [n_experts + 1], row_token [R], slot_row [R], and
// xe[r] = x[row_token[r]] ([R, dim]).
void moe_dispatch_forward(float* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row, const float* x,
                          const int32_t* expert_ids, int64_t T, int64_t top_k, int64_t n_experts,
                          int64_t dim);
// dx[t] = Σ_j dxe[slot_row[t * top_k + j]].
void moe_dispatch_backward(float* dx, const float* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                           int64_t dim);

// out[t] += Σ_j weights[t, j] ye[slot_row[t * top_k + j]].
void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                         int64_t T, int64_t top_k, int64_t dim);
// dye[slot_row[t, j]] = weights[t, j] dy[t];  dweights[t, j] = <dy[t], ye[slot_row[t, j]]>.
void moe_combine_backward(float* dye, float* dweights, const float* dy, const float* ye, const float* weights,
                          const int32_t* slot_row, int64_t T, int64_t top_k, int64_t dim);

}  // namespace r1::cpu
