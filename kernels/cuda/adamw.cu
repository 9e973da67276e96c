#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "adamw.h"
#include "device_utils.cuh"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;

// Step constants as torch.optim.AdamW (foreach=False, fused=False) forms them: in double on the host, then
// rounded once to the fp32 the tensor ops use.
struct Coeffs {
  float grad_scale, decay_factor, lerp_weight, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
};

__device__ __forceinline__ void adamw_one(float& w, float& m, float& v, float grad, const Coeffs& c,
                                          bool decay) {
  const float g = grad * c.grad_scale;
  if (decay) w *= c.decay_factor;
  m += c.lerp_weight * (g - m);  // exp_avg.lerp_(grad, 1 - beta1)
  v = v * c.beta2 + c.one_minus_beta2 * g * g;
  const float denom = sqrtf(v) / c.bc2_sqrt + c.eps;
  w += c.neg_step_size * (m / denom);
}

// Four elements a thread over n / 4 vectors; the last n % 4 elements by the first threads of the grid.
template <int VEC>
__global__ void adamw_kernel(float* w, bf16* w_compute, float* m, float* v, const float* grad, int64_t n,
                             const Coeffs c, bool decay) {
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x,
                stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t vecs = n / VEC;
  for (int64_t i = first; i < vecs; i += stride) {
    if constexpr (VEC == 4) {
      float4 wv = reinterpret_cast<const float4*>(w)[i], mv = reinterpret_cast<const float4*>(m)[i];
      float4 vv = reinterpret_cast<const float4*>(v)[i];
      const float4 gv = reinterpret_cast<const float4*>(grad)[i];
      adamw_one(wv.x, mv.x, vv.x, gv.x, c, decay);
      adamw_one(wv.y, mv.y, vv.y, gv.y, c, decay);
      adamw_one(wv.z, mv.z, vv.z, gv.z, c, decay);
      adamw_one(wv.w, mv.w, vv.w, gv.w, c, decay);
      reinterpret_cast<float4*>(w)[i] = wv;
      reinterpret_cast<float4*>(m)[i] = mv;
      reinterpret_cast<float4*>(v)[i] = vv;
      if (w_compute) {
        const __nv_bfloat162 a = __floats2bfloat162_rn(wv.x, wv.y), b = __floats2bfloat162_rn(wv.z, wv.w);
        uint2 raw;
        raw.x = *reinterpret_cast<const uint32_t*>(&a);
        raw.y = *reinterpret_cast<const uint32_t*>(&b);
        reinterpret_cast<uint2*>(w_compute)[i] = raw;
      }
    } else {
      adamw_one(w[i], m[i], v[i], grad[i], c, decay);
      if (w_compute) w_compute[i] = __float2bfloat16_rn(w[i]);
    }
  }
  const int64_t i = vecs * VEC + first;
  if (i < n) {
    adamw_one(w[i], m[i], v[i], grad[i], c, decay);
    if (w_compute) w_compute[i] = __float2bfloat16_rn(w[i]);
  }
}

template <int VEC>
__global__ void sum_squares_kernel(double* acc, const float* x, int64_t n) {
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x,
                stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t vecs = n / VEC;
  // fp32 within a vector, fp64 across them: the sum of a whole model stays exact to fp32 rounding.
  double local = 0;
  for (int64_t i = first; i < vecs; i += stride) {
    if constexpr (VEC == 4) {
      const float4 a = reinterpret_cast<const float4*>(x)[i];
      local += double(a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w);
    } else {
      local += double(x[i]) * x[i];
    }
  }
  const int64_t tail = vecs * VEC + first;
  if (tail < n) local += double(x[tail]) * x[tail];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  __shared__ double part[kThreads / 32];
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int i = 0; i < kThreads / 32; ++i) s += part[i];
    atomicAdd(acc, s);
  }
}

}  // namespace

void adamw_update(float* w, bf16* w_compute, float* m, float* v, const float* grad, int64_t n,
                  const AdamWStep& s, bool decay, cudaStream_t stream) {
  if (s.t < 1) throw std::invalid_argument("adamw_update: the step count t is 1-based");
  if (n <= 0) return;
  const double bc1 = 1.0 - std::pow(double(s.beta1), double(s.t));
  const double bc2 = 1.0 - std::pow(double(s.beta2), double(s.t));
  Coeffs c;
  c.grad_scale = s.grad_scale;
  c.decay_factor = float(1.0 - double(s.lr) * double(s.weight_decay));
  c.lerp_weight = float(1.0 - double(s.beta1));
  c.beta2 = s.beta2;
  c.one_minus_beta2 = float(1.0 - double(s.beta2));
  c.bc2_sqrt = float(std::sqrt(bc2));
  c.eps = s.eps;
  c.neg_step_size = float(-double(s.lr) / bc1);
  const bool vec = aligned(w, 16) && aligned(m, 16) && aligned(v, 16) && aligned(grad, 16) &&
                   (!w_compute || aligned(w_compute, 8));
  const int64_t work = vec ? std::max<int64_t>(n / 4, n % 4) : n;
  const unsigned grid =
      unsigned(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, int64_t(sm_count()) * 16));
  if (vec) {
    adamw_kernel<4><<<grid, kThreads, 0, stream>>>(w, w_compute, m, v, grad, n, c, decay);
  } else {
    adamw_kernel<1><<<grid, kThreads, 0, stream>>>(w, w_compute, m, v, grad, n, c, decay);
  }
  R1_CUDA_LAUNCHED();
}

void sum_squares_accumulate(double* acc, const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned(x, 16);
  const int64_t work = vec ? std::max<int64_t>(n / 4, n % 4) : n;
  const unsigned grid =
      unsigned(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, int64_t(sm_count()) * 8));
  if (vec) {
    sum_squares_kernel<4><<<grid, kThreads, 0, stream>>>(acc, x, n);
  } else {
    sum_squares_kernel<1><<<grid, kThreads, 0, stream>>>(acc, x, n);
  }
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
