#include <algorithm>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "moe_experts.h"

namespace r1::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // one warp per output row
constexpr size_t kMaxStaged = size_t(96) << 10;

// Σ_k w[row, k] * x[k] by one warp, x staged in shared memory as fp32: 16-byte weight loads (eight values a
// lane) when the row allows, one value a lane otherwise.
__device__ __forceinline__ float warp_dot(const bf16* w, const float* x, int64_t n, int lane) {
  float s = 0.0f;
  if (n % 8 == 0 && (reinterpret_cast<uintptr_t>(w) & 15) == 0) {
    for (int64_t k = int64_t(lane) * 8; k < n; k += kWarp * 8) {
      float f[8];
      unpack(*reinterpret_cast<const Bf16x8*>(w + k), f);
      const float4 a = *reinterpret_cast<const float4*>(x + k),
                   b = *reinterpret_cast<const float4*>(x + k + 4);
      s += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z +
           f[7] * b.w;
    }
  } else {
    for (int64_t k = lane; k < n; k += kWarp) s += __bfloat162float(w[k]) * x[k];
  }
  return warp_sum(s);
}

__global__ void gate_up_kernel(SlotExpertArgs a) {
  extern __shared__ float staged[];
  const int64_t slot = blockIdx.y, t = slot / a.top_k, H = a.hidden, I = a.inter;
  for (int64_t k = threadIdx.x; k < H; k += blockDim.x) staged[k] = __bfloat162float(a.x[t * H + k]);
  __syncthreads();
  const int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (r >= I) return;
  const bf16* w = a.w_gu + int64_t(a.expert_ids[slot]) * 2 * I * H;
  const int lane = threadIdx.x % kWarp;
  const float g = warp_dot(w + r * H, staged, H, lane);
  const float u = warp_dot(w + (I + r) * H, staged, H, lane);
  if (lane == 0) a.act[slot * I + r] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
}

// One token per block column: its top_k slots' activations staged, each output row summed over the slots
// in order (deterministic) and added to the residual.
__global__ void down_kernel(SlotExpertArgs a) {
  extern __shared__ float staged[];
  const int64_t t = blockIdx.y, H = a.hidden, I = a.inter, K = a.top_k;
  for (int64_t k = threadIdx.x; k < K * I; k += blockDim.x)
    staged[k] = __bfloat162float(a.act[t * K * I + k]);
  __syncthreads();
  const int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (r >= H) return;
  const int lane = threadIdx.x % kWarp;
  float y = 0.0f;
  for (int64_t j = 0; j < K; ++j) {
    const bf16* w = a.w_down + int64_t(a.expert_ids[t * K + j]) * H * I + r * I;
    y += a.weights[t * K + j] * warp_dot(w, staged + j * I, I, lane);
  }
  if (lane == 0) a.out[t * H + r] += y;
}

// Block (t, y): token t's normed input staged once, then one warp per expert e = 8 y + warp, stepping by
// 8 gridDim.y, so a single token still spreads its router rows over several SMs.
__global__ void router_kernel(float* logits, const float* x, const float* norm_w, float eps, const float* w,
                              int64_t hidden, int64_t experts) {
  extern __shared__ float staged[];
  const int64_t t = blockIdx.x;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  float ss = 0.0f;
  for (int64_t k = threadIdx.x; k < hidden; k += blockDim.x) ss += x[t * hidden + k] * x[t * hidden + k];
  const float rstd = rsqrtf(block_sum(ss) / float(hidden) + eps);
  for (int64_t k = threadIdx.x; k < hidden; k += blockDim.x) staged[k] = x[t * hidden + k] * rstd * norm_w[k];
  __syncthreads();
  const bool vec = hidden % 4 == 0;
  for (int64_t e = int64_t(blockIdx.y) * kRowsPerBlock + warp; e < experts;
       e += int64_t(gridDim.y) * kRowsPerBlock) {
    const float* row = w + e * hidden;
    float s = 0.0f;
    if (vec) {
#pragma unroll 4
      for (int64_t k = int64_t(lane) * 4; k < hidden; k += kWarp * 4) {
        const float4 a = *reinterpret_cast<const float4*>(row + k),
                     b = *reinterpret_cast<const float4*>(staged + k);
        s += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
      }
    } else {
      for (int64_t k = lane; k < hidden; k += kWarp) s += row[k] * staged[k];
    }
    s = warp_sum(s);
    if (lane == 0) logits[t * experts + e] = s;
  }
}

__global__ void count_experts_kernel(unsigned long long* counts, const int32_t* expert_ids, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(counts + expert_ids[i], 1ull);
}

}  // namespace

void count_experts(unsigned long long* counts, const int32_t* expert_ids, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  count_experts_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(counts, expert_ids, n);
  R1_CUDA_LAUNCHED();
}

void router_logits_f32(float* logits, const float* x, const float* norm_w, float eps, const float* w,
                       int64_t T, int64_t hidden, int64_t experts, cudaStream_t stream) {
  if (size_t(hidden) * 4 > kMaxStaged)
    throw std::invalid_argument("router_logits_f32: hidden " + std::to_string(hidden) +
                                " is too wide to stage");
  if (T <= 0) return;
  set_max_dynamic_smem(reinterpret_cast<const void*>(router_kernel), int(kMaxStaged));
  const dim3 grid(unsigned(T),
                  unsigned(std::min<int64_t>((experts + kRowsPerBlock - 1) / kRowsPerBlock, 32)));
  router_kernel<<<grid, kRowsPerBlock * kWarp, size_t(hidden) * 4, stream>>>(logits, x, norm_w, eps, w,
                                                                             hidden, experts);
  R1_CUDA_LAUNCHED();
}

namespace {

// One block per expert: its slots found in slot order (a ballot per warp, the warps' counts added in order),
// then the rows copied.
constexpr int kDispatchThreads = 256, kMaxCapacity = 1024;

__global__ void __launch_bounds__(kDispatchThreads)
    dispatch_padded_kernel(bf16* xe, int32_t* slot_row, const bf16* x, const int32_t* expert_ids, int64_t n,
                           int64_t top_k, int64_t dim, int64_t capacity) {
  __shared__ int warp_counts[kDispatchThreads / kWarp];
  __shared__ int token_of[kMaxCapacity];
  const int e = int(blockIdx.x), lane = int(threadIdx.x) % kWarp, warp = int(threadIdx.x) / kWarp;
  int count = 0;  // this expert's slots before the current round, the same in every thread
  for (int64_t i0 = 0; i0 < n; i0 += kDispatchThreads) {
    const int64_t i = i0 + threadIdx.x;
    const bool mine = i < n && expert_ids[i] == e;
    const unsigned ballot = __ballot_sync(0xffffffffu, mine);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int before = count;
    for (int w = 0; w < kDispatchThreads / kWarp; ++w) {
      if (w < warp) before += warp_counts[w];
      count += warp_counts[w];
    }
    if (mine) {
      const int j = before + __popc(ballot & ((1u << lane) - 1u));
      slot_row[i] = int32_t(int64_t(e) * capacity + j);
      token_of[j] = int(i / top_k);
    }
    __syncthreads();  // warp_counts is rewritten next round; token_of is read below
  }
  bf16* dst = xe + int64_t(e) * capacity * dim;
  if (dim % 8 == 0) {
    const int64_t pieces = dim / 8;
    for (int64_t k = threadIdx.x; k < count * pieces; k += kDispatchThreads) {
      const int64_t j = k / pieces, c = (k % pieces) * 8;
      *reinterpret_cast<Bf16x8*>(dst + j * dim + c) =
          *reinterpret_cast<const Bf16x8*>(x + int64_t(token_of[j]) * dim + c);
    }
  } else {
    for (int64_t k = threadIdx.x; k < count * dim; k += kDispatchThreads)
      dst[k] = x[int64_t(token_of[k / dim]) * dim + k % dim];
  }
}

}  // namespace

void moe_dispatch_padded(bf16* xe, int32_t* slot_row, const bf16* x, const int32_t* expert_ids, int64_t T,
                         int64_t top_k, int64_t n_experts, int64_t dim, int64_t capacity,
                         cudaStream_t stream) {
  if (capacity < T || capacity > kMaxCapacity || top_k < 1 || n_experts < 1 || dim < 1)
    throw std::invalid_argument("moe_dispatch_padded: capacity " + std::to_string(capacity) + " for " +
                                std::to_string(T) + " tokens (at most " + std::to_string(kMaxCapacity) + ")");
  if (T <= 0) return;
  dispatch_padded_kernel<<<unsigned(n_experts), kDispatchThreads, 0, stream>>>(
      xe, slot_row, x, expert_ids, T * top_k, top_k, dim, capacity);
  R1_CUDA_LAUNCHED();
}

bool slot_experts_supported(int64_t top_k, int64_t hidden, int64_t inter) {
  return size_t(hidden) * 4 <= kMaxStaged && size_t(top_k * inter) * 4 <= kMaxStaged;
}

void slot_experts_forward(const SlotExpertArgs& a, cudaStream_t stream) {
  if (!slot_experts_supported(a.top_k, a.hidden, a.inter))
    throw std::invalid_argument("slot_experts_forward: hidden " + std::to_string(a.hidden) +
                                " or top_k x inter " + std::to_string(a.top_k * a.inter) +
                                " is too wide to stage");
  if (a.T <= 0) return;
  const size_t gu_smem = size_t(a.hidden) * 4, down_smem = size_t(a.top_k * a.inter) * 4;
  set_max_dynamic_smem(reinterpret_cast<const void*>(gate_up_kernel), int(kMaxStaged));
  set_max_dynamic_smem(reinterpret_cast<const void*>(down_kernel), int(kMaxStaged));
  const dim3 gu_grid(unsigned((a.inter + kRowsPerBlock - 1) / kRowsPerBlock), unsigned(a.T * a.top_k));
  gate_up_kernel<<<gu_grid, kRowsPerBlock * kWarp, gu_smem, stream>>>(a);
  R1_CUDA_LAUNCHED();
  const dim3 down_grid(unsigned((a.hidden + kRowsPerBlock - 1) / kRowsPerBlock), unsigned(a.T));
  down_kernel<<<down_grid, kRowsPerBlock * kWarp, down_smem, stream>>>(a);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
