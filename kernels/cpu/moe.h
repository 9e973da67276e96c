#pragma once
// Mixture of experts (DeepSeek-V2/V3), fp32 activations, expert weights in their stored dtype.
// Routing turns router logits into top-k experts and weights per token; dispatch groups tokens by expert
// (ascending expert, ascending token), runs each expert's SwiGLU MLP once on its gathered rows and
// scatter-adds the weighted result. Forward only; the output accumulates (+=) into `out`.
#include <cstdint>

#include "../common/dtype.h"
#include "linear.h"

namespace r1::cpu {

enum class RouterScoring { Softmax, Sigmoid };  // DeepSeek-V2, DeepSeek-V3
enum class GroupScore { Max, SumTop2 };         // a group's rank: V2 group_limited_greedy, V3

struct RouterConfig {
  int64_t n_experts = 0;
  int64_t top_k = 0;
  RouterScoring scoring = RouterScoring::Softmax;
  // Group-limited selection: experts split into n_group equal groups, only the topk_group best groups
  // compete.
  int64_t n_group = 1;
  int64_t topk_group = 1;
  GroupScore group_score = GroupScore::Max;
  const float* selection_bias =
      nullptr;             // [n_experts] V3 e_score_correction_bias: used to choose, never to weigh
  bool normalize = false;  // norm_topk_prob: weights / (sum + 1e-20)
  float scaling = 1.0f;    // routed_scaling_factor
};

int64_t moe_route_scratch_floats(const RouterConfig& cfg);
// One token's expert scores from its router logits: softmax (V2) or sigmoid (V3).
void moe_router_scores(float* scores, const float* logits, int64_t E, RouterScoring scoring);

// logits [T, n_experts] -> expert_ids [T, top_k] (best first) and weights [T, top_k].
void moe_route_forward(int32_t* expert_ids, float* weights, const float* logits, int64_t T,
                       const RouterConfig& cfg, float* scratch);

struct ExpertMatrices {
  const void* gate;  // [inter, hidden]
  const void* up;    // [inter, hidden]
  const void* down;  // [hidden, inter]
};

struct MoeScratch {
  float* x;            // [T, hidden]: an expert's gathered rows
  float* gate;         // [T, inter]
  float* up;           // [T, inter]
  float* y;            // [T, hidden]
  int32_t* offsets;    // [n_experts + 1]
  int32_t* rows;       // [T * top_k]
  float* row_weights;  // [T * top_k]
  LinearScratch linear;
};

// out[t] += sum_k weights[t, k] * expert_{ids[t, k]}(x[t]), expert(x) = down(silu(gate x) * up x).
// tokens_per_expert[e] += tokens routed to e, when given.
void moe_experts_forward(float* out, const float* x, const int32_t* expert_ids, const float* weights,
                         int64_t T, int64_t top_k, int64_t n_experts, int64_t hidden, int64_t inter,
                         const ExpertMatrices* experts, DType dtype, const MoeScratch& scratch,
                         int64_t* tokens_per_expert);

}  // namespace r1::cpu
