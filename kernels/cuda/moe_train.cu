#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "moe_train.h"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int64_t kMinDispatchChunk = 1024;  // slots ranked by one warp of the dispatch sort

unsigned grid_for(int64_t work) {
  return unsigned(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, 1 << 20));
}

void check_routing(const char* op, int64_t T, int64_t top_k, int64_t n_experts, int64_t dim) {
  if (T < 0 || top_k <= 0 || n_experts <= 0 || top_k > n_experts || dim <= 0 || T * top_k > INT32_MAX)
    throw std::invalid_argument(std::string(op) +
                                ": needs 0 <= T * top_k < 2^31, 0 < top_k <= n_experts and " +
                                "dim > 0, got T=" + std::to_string(T) + " top_k=" + std::to_string(top_k) +
                                " n_experts=" + std::to_string(n_experts) + " dim=" + std::to_string(dim));
}

// Ops that see only the slots (not which experts they chose).
void check_slots(const char* op, int64_t T, int64_t top_k, int64_t dim) {
  check_routing(op, T, top_k, top_k, dim);
}

void check_router(const char* op, int64_t T, const RouterConfig& c) {
  check_routing(op, T, c.top_k, c.n_experts, 1);
  const int64_t G = c.n_group;
  if (G <= 0 || c.n_experts % G != 0 || c.topk_group <= 0 || c.topk_group > G ||
      c.top_k > c.topk_group * (c.n_experts / G))
    throw std::invalid_argument(std::string(op) + ": bad router configuration (n_group " + std::to_string(G) +
                                ", topk_group " + std::to_string(c.topk_group) + ")");
}

// The dispatch chunk: at least as many slots as experts, so the per-chunk histograms stay within R + E ints.
int64_t dispatch_chunk(int64_t n_experts) {
  return std::max(kMinDispatchChunk, (n_experts + kWarp - 1) / kWarp * kWarp);
}

constexpr float kExcluded = -INFINITY;

// The index of the largest of v[0, n) on every lane of the warp, the lowest index on ties (as the CPU's
// first-wins scan); kExcluded values never win; -1 when all are excluded.
__device__ int warp_argmax(const float* v, int n) {
  const int lane = threadIdx.x % kWarp;
  int best = -1;
  float bv = kExcluded;
  for (int i = lane; i < n; i += kWarp)
    if (v[i] != kExcluded && (best < 0 || v[i] > bv)) best = i, bv = v[i];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const int ob = __shfl_xor_sync(0xffffffffu, best, o);
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    if (ob >= 0 && (best < 0 || ov > bv || (ov == bv && ob < best))) best = ob, bv = ov;
  }
  return best;
}

// One warp per token. Shared: scores [E], sel [E], group [G]. The steps and float operations of
// cpu::moe_route_forward, so both pick the same experts from the same scores.
__global__ void router_forward_kernel(int32_t* expert_ids, float* weights, float* scores, const float* logits,
                                      RouterConfig c) {
  extern __shared__ float sh[];
  const int E = int(c.n_experts), G = int(c.n_group), K = int(c.top_k), per_group = E / G;
  float* sc = sh;
  float* sel = sh + E;
  float* group = sh + 2 * E;
  const int64_t t = blockIdx.x;
  const int lane = threadIdx.x;
  const float* z = logits + t * E;
  if (c.scoring == cpu::RouterScoring::Softmax) {
    float m = kExcluded;
    for (int e = lane; e < E; e += kWarp) m = fmaxf(m, z[e]);
    m = warp_max(m);
    float sum = 0;
    for (int e = lane; e < E; e += kWarp) sum += sc[e] = expf(z[e] - m);
    sum = warp_sum(sum);
    for (int e = lane; e < E; e += kWarp) sc[e] /= sum;
  } else {
    for (int e = lane; e < E; e += kWarp) sc[e] = 1.0f / (1.0f + expf(-z[e]));
  }
  for (int e = lane; e < E; e += kWarp) {
    scores[t * E + e] = sc[e];
    sel[e] = sc[e] + (c.selection_bias ? c.selection_bias[e] : 0.0f);
  }
  __syncwarp();
  if (c.topk_group < G) {
    for (int g = lane; g < G; g += kWarp) {
      float first = kExcluded, second = kExcluded;
      for (int i = g * per_group; i < (g + 1) * per_group; ++i) {
        if (sel[i] > first) {
          second = first;
          first = sel[i];
        } else if (sel[i] > second) {
          second = sel[i];
        }
      }
      group[g] = c.group_score == cpu::GroupScore::Max ? first : first + second;
    }
    __syncwarp();
    // The kept groups are marked by excluding them from `group`; every other group's experts drop out.
    for (int kept = 0; kept < c.topk_group; ++kept) {
      const int g = warp_argmax(group, G);
      __syncwarp();
      if (lane == 0) group[g] = kExcluded;
      __syncwarp();
    }
    for (int e = lane; e < E; e += kWarp)
      if (group[e / per_group] != kExcluded) sel[e] = kExcluded;
    __syncwarp();
  }
  int32_t* ids = expert_ids + t * K;
  float* w = weights + t * K;
  for (int k = 0; k < K; ++k) {
    const int e = warp_argmax(sel, E);
    __syncwarp();
    if (lane == 0) {
      sel[e] = kExcluded;
      ids[k] = e;
      w[k] = sc[e];
    }
    __syncwarp();
  }
  if (lane == 0) {
    float sum = 0;
    for (int k = 0; k < K; ++k) sum += w[k];
    const float norm = c.normalize ? 1.0f / (sum + 1e-20f) : 1.0f;
    for (int k = 0; k < K; ++k) w[k] = w[k] * norm * c.scaling;
  }
}

// One warp per token; see cpu::moe_router_backward for the derivation.
__global__ void router_backward_kernel(bf16* dlogits, const float* dweights, const int32_t* expert_ids,
                                       const float* scores, RouterConfig c) {
  const int E = int(c.n_experts), K = int(c.top_k);
  const int64_t t = blockIdx.x;
  const int32_t* ids = expert_ids + t * K;
  const float* g = dweights + t * K;
  const float* q = scores + t * E;
  double sum = 0, dot = 0;
  for (int j = 0; j < K; ++j) {
    sum += q[ids[j]];
    dot += double(g[j]) * q[ids[j]];
  }
  const double S = sum + 1e-20, s = c.scaling;
  double inner = 0;  // Σ_j dp_j q_j, for the softmax
  for (int j = 0; j < K; ++j) {
    const double dp = c.normalize ? s / S * (double(g[j]) - dot / S) : s * double(g[j]);
    inner += dp * q[ids[j]];
  }
  for (int e = threadIdx.x; e < E; e += kWarp) {
    const double p = q[e];
    double dz = c.scoring == cpu::RouterScoring::Softmax ? -p * inner : 0.0;
    for (int j = 0; j < K; ++j) {
      if (ids[j] != e) continue;
      const double dp = c.normalize ? s / S * (double(g[j]) - dot / S) : s * double(g[j]);
      dz += c.scoring == cpu::RouterScoring::Softmax ? p * dp : dp * p * (1.0 - p);
    }
    dlogits[t * E + e] = __float2bfloat16_rn(float(dz));
  }
}

// Dispatch, step 1: one warp ranks a chunk of slots in order. local_rank[s] = how many earlier slots of the
// chunk chose the same expert; chunk_count[chunk, e] = the chunk's slots for expert e.
__global__ void rank_in_chunk_kernel(int32_t* local_rank, int32_t* chunk_count, const int32_t* expert_ids,
                                     int64_t R, int64_t chunk, int E) {
  extern __shared__ int32_t hist[];
  const int lane = threadIdx.x;
  for (int e = lane; e < E; e += kWarp) hist[e] = 0;
  __syncwarp();
  const int64_t begin = blockIdx.x * chunk, end = begin + chunk < R ? begin + chunk : R;
  for (int64_t base = begin; base < end; base += kWarp) {
    const int64_t s = base + lane;
    const bool valid = s < end;
    const int e = valid ? expert_ids[s] : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, e);
    const int rank = __popc(peers & ((1u << lane) - 1u));
    if (valid) local_rank[s] = hist[e] + rank;
    __syncwarp();
    if (valid && rank == 0) hist[e] += __popc(peers);
    __syncwarp();
  }
  for (int e = lane; e < E; e += kWarp) chunk_count[blockIdx.x * int64_t(E) + e] = hist[e];
}

// Step 2, one block: chunk_count becomes each chunk's first rank within its expert; offsets by expert.
__global__ void expert_offsets_kernel(int32_t* offsets, int32_t* chunk_count, int64_t chunks, int E) {
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    int32_t run = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      const int32_t n = chunk_count[c * E + e];
      chunk_count[c * E + e] = run;
      run += n;
    }
    offsets[e + 1] = run;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    offsets[0] = 0;
    for (int e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  }
}

// Step 3: every slot's row.
__global__ void place_kernel(int32_t* row_token, int32_t* slot_row, const int32_t* offsets,
                             const int32_t* chunk_first, const int32_t* local_rank, const int32_t* expert_ids,
                             int64_t R, int64_t top_k, int64_t chunk, int E) {
  for (int64_t s = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; s < R;
       s += int64_t(gridDim.x) * blockDim.x) {
    const int e = expert_ids[s];
    const int32_t row = offsets[e] + chunk_first[(s / chunk) * E + e] + local_rank[s];
    slot_row[s] = row;
    row_token[row] = int32_t(s / top_k);
  }
}

// Step 4: xe[r] = x[row_token[r]], VEC bf16 at a time.
template <int VEC>
__global__ void gather_kernel(bf16* xe, const bf16* x, const int32_t* row_token, int64_t R, int64_t dim) {
  const int64_t per_row = dim / VEC, total = R * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / per_row, col = (i % per_row) * VEC;
    const bf16* src = x + int64_t(row_token[r]) * dim + col;
    bf16* dst = xe + r * dim + col;
    if constexpr (VEC == 8) {
      *reinterpret_cast<Bf16x8*>(dst) = *reinterpret_cast<const Bf16x8*>(src);
    } else {
      *dst = *src;
    }
  }
}

__global__ void dispatch_backward_kernel(float* dx, const bf16* dxe, const int32_t* slot_row, int64_t T,
                                         int64_t top_k, int64_t dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < T * dim;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / dim, col = i % dim;
    float acc = 0;
    for (int64_t j = 0; j < top_k; ++j)
      acc += __bfloat162float(dxe[int64_t(slot_row[t * top_k + j]) * dim + col]);
    dx[i] = acc;
  }
}

__global__ void combine_forward_kernel(float* out, const float* ye, const float* weights,
                                       const int32_t* slot_row, int64_t T, int64_t top_k, int64_t dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < T * dim;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / dim, col = i % dim;
    float acc = out[i];
    for (int64_t j = 0; j < top_k; ++j)
      acc += weights[t * top_k + j] * ye[int64_t(slot_row[t * top_k + j]) * dim + col];
    out[i] = acc;
  }
}

// One warp per slot: the weighted gradient to its row, and the weight's gradient as a warp-reduced dot
// product.
__global__ void combine_backward_kernel(bf16* dye, float* dweights, const float* dy, const float* ye,
                                        const float* weights, const int32_t* slot_row, int64_t R,
                                        int64_t top_k, int64_t dim) {
  const int64_t s = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (s >= R) return;
  const int64_t t = s / top_k, row = slot_row[s];
  const float w = weights[s];
  const float* g = dy + t * dim;
  const float* y = ye + row * dim;
  bf16* d = dye + row * dim;
  float dot = 0;
  for (int64_t c = lane; c < dim; c += kWarp) {
    dot += g[c] * y[c];
    d[c] = __float2bfloat16_rn(w * g[c]);
  }
  dot = warp_sum(dot);
  if (lane == 0) dweights[s] = dot;
}

}  // namespace

void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                        const RouterConfig& cfg, cudaStream_t stream) {
  check_router("moe_router_forward", T, cfg);
  if (T == 0) return;
  const size_t shared = size_t(2 * cfg.n_experts + cfg.n_group) * sizeof(float);
  router_forward_kernel<<<unsigned(T), kWarp, shared, stream>>>(expert_ids, weights, scores, logits, cfg);
  R1_CUDA_LAUNCHED();
}

void moe_router_backward(bf16* dlogits, const float* dweights, const int32_t* expert_ids, const float* scores,
                         int64_t T, const RouterConfig& cfg, cudaStream_t stream) {
  check_router("moe_router_backward", T, cfg);
  if (T == 0) return;
  router_backward_kernel<<<unsigned(T), kWarp, 0, stream>>>(dlogits, dweights, expert_ids, scores, cfg);
  R1_CUDA_LAUNCHED();
}

int64_t moe_dispatch_scratch_ints(int64_t T, int64_t top_k, int64_t n_experts) {
  const int64_t R = T * top_k, chunk = dispatch_chunk(n_experts);
  return R + (R + chunk - 1) / chunk * n_experts;
}

void moe_dispatch_forward(bf16* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row, int32_t* scratch,
                          int64_t scratch_ints, const bf16* x, const int32_t* expert_ids, int64_t T,
                          int64_t top_k, int64_t n_experts, int64_t dim, cudaStream_t stream) {
  check_routing("moe_dispatch_forward", T, top_k, n_experts, dim);
  const int64_t need = moe_dispatch_scratch_ints(T, top_k, n_experts);
  if (scratch_ints < need)
    throw std::invalid_argument("moe_dispatch_forward: scratch holds " + std::to_string(scratch_ints) +
                                " ints, needs " + std::to_string(need));
  const int64_t R = T * top_k, chunk = dispatch_chunk(n_experts), chunks = (R + chunk - 1) / chunk;
  const int E = int(n_experts);
  int32_t* local_rank = scratch;
  int32_t* chunk_count = scratch + R;
  if (R == 0) {
    R1_CUDA_CHECK(cudaMemsetAsync(offsets, 0, size_t(n_experts + 1) * sizeof(int32_t), stream));
    return;
  }
  rank_in_chunk_kernel<<<unsigned(chunks), kWarp, size_t(E) * sizeof(int32_t), stream>>>(
      local_rank, chunk_count, expert_ids, R, chunk, E);
  R1_CUDA_LAUNCHED();
  expert_offsets_kernel<<<1, kThreads, 0, stream>>>(offsets, chunk_count, chunks, E);
  R1_CUDA_LAUNCHED();
  place_kernel<<<grid_for(R), kThreads, 0, stream>>>(row_token, slot_row, offsets, chunk_count, local_rank,
                                                     expert_ids, R, top_k, chunk, E);
  R1_CUDA_LAUNCHED();
  if (dim % 8 == 0 && aligned(xe, 16) && aligned(x, 16)) {
    gather_kernel<8><<<grid_for(R * dim / 8), kThreads, 0, stream>>>(xe, x, row_token, R, dim);
  } else {
    gather_kernel<1><<<grid_for(R * dim), kThreads, 0, stream>>>(xe, x, row_token, R, dim);
  }
  R1_CUDA_LAUNCHED();
}

void moe_dispatch_backward(float* dx, const bf16* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                           int64_t dim, cudaStream_t stream) {
  check_slots("moe_dispatch_backward", T, top_k, dim);
  if (T == 0) return;
  dispatch_backward_kernel<<<grid_for(T * dim), kThreads, 0, stream>>>(dx, dxe, slot_row, T, top_k, dim);
  R1_CUDA_LAUNCHED();
}

void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                         int64_t T, int64_t top_k, int64_t dim, cudaStream_t stream) {
  check_slots("moe_combine_forward", T, top_k, dim);
  if (T == 0) return;
  combine_forward_kernel<<<grid_for(T * dim), kThreads, 0, stream>>>(out, ye, weights, slot_row, T, top_k,
                                                                     dim);
  R1_CUDA_LAUNCHED();
}

void moe_combine_backward(bf16* dye, float* dweights, const float* dy, const float* ye, const float* weights,
                          const int32_t* slot_row, int64_t T, int64_t top_k, int64_t dim,
                          cudaStream_t stream) {
  check_slots("moe_combine_backward", T, top_k, dim);
  const int64_t R = T * top_k;
  if (R == 0) return;
  const unsigned blocks = unsigned((R * kWarp + kThreads - 1) / kThreads);
  combine_backward_kernel<<<blocks, kThreads, 0, stream>>>(dye, dweights, dy, ye, weights, slot_row, R, top_k,
                                                           dim);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
