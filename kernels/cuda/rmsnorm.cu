#include <algorithm>
#include <stdexcept>

#include "device_utils.cuh"
#include "rmsnorm.h"

namespace r1::cuda {
namespace {

__global__ void rmsnorm_kernel(bf16* y, const float* x, const bf16* w, int64_t dim, float eps,
                               const int32_t* row_index) {
  const int64_t r = blockIdx.x;
  const float* xr = x + (row_index ? int64_t(row_index[r]) : r) * dim;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  __shared__ float partial[32];
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float inv = rsqrtf(partial[0] / float(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    y[r * dim + i] = __float2bfloat16_rn(xr[i] * inv * __bfloat162float(w[i]));
}

// One row per block with the row held in registers (kRegChunks float4 pieces per thread): one round trip
// for x and w, a block sum, the stores. For dims that are multiples of 4.
constexpr int kRegChunks = 2;

__global__ void rmsnorm_reg_kernel(bf16* y, const float* x, const bf16* w, int64_t dim, float eps,
                                   const int32_t* row_index) {
  const int64_t r = blockIdx.x, n = dim / 4;
  const auto* xr = reinterpret_cast<const float4*>(x + (row_index ? int64_t(row_index[r]) : r) * dim);
  float v[kRegChunks][4], wf[kRegChunks][4];
  float ss = 0;
#pragma unroll
  for (int u = 0; u < kRegChunks; ++u) {
    const int64_t i = threadIdx.x + int64_t(u) * blockDim.x;
    if (i >= n) continue;
    const float4 xv = xr[i];
    v[u][0] = xv.x, v[u][1] = xv.y, v[u][2] = xv.z, v[u][3] = xv.w;
    load_vec<4>(w + 4 * i, wf[u]);
    ss += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
  }
  const float inv = rsqrtf(block_sum(ss) / float(dim) + eps);
#pragma unroll
  for (int u = 0; u < kRegChunks; ++u) {
    const int64_t i = threadIdx.x + int64_t(u) * blockDim.x;
    if (i >= n) continue;
    float o[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) o[e] = v[u][e] * inv * wf[u][e];
    store_vec<4>(y + r * dim + 4 * i, o);
  }
}

// VEC consecutive elements: float4 and four bf16 in one 8-byte word, or single elements.
template <int VEC>
struct Vec;
template <>
struct Vec<4> {
  static __device__ void load(const float* p, float (&f)[4]) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
  }
  static __device__ void store(float* p, const float (&f)[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(f[0], f[1], f[2], f[3]);
  }
  static __device__ void load(const bf16* p, float (&f)[4]) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
  }
  static __device__ void store(bf16* p, const float (&f)[4]) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(f[0], f[1]), b = __floats2bfloat162_rn(f[2], f[3]);
    uint2 raw;
    raw.x = *reinterpret_cast<const uint32_t*>(&a);
    raw.y = *reinterpret_cast<const uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = raw;
  }
};
template <>
struct Vec<1> {
  static __device__ void load(const float* p, float (&f)[1]) { f[0] = *p; }
  static __device__ void store(float* p, const float (&f)[1]) { *p = f[0]; }
  static __device__ void load(const bf16* p, float (&f)[1]) { f[0] = __bfloat162float(*p); }
  static __device__ void store(bf16* p, const float (&f)[1]) { *p = __float2bfloat16_rn(f[0]); }
};

// One block per row.
template <int VEC>
__global__ void rmsnorm_train_kernel(bf16* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x,
                                     const float* w, int64_t dim, float eps, float* x_copy) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * ld_x;
  float ss = 0;
  for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += int64_t(blockDim.x) * VEC) {
    float f[VEC];
    Vec<VEC>::load(xr + i, f);
    if (x_copy) Vec<VEC>::store(x_copy + r * ld_x + i, f);
#pragma unroll
    for (int k = 0; k < VEC; ++k) ss += f[k] * f[k];
  }
  const float inv = rsqrtf(block_sum(ss) / float(dim) + eps);
  if (threadIdx.x == 0) rstd[r] = inv;
  for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += int64_t(blockDim.x) * VEC) {
    float f[VEC], g[VEC];
    Vec<VEC>::load(xr + i, f);
    Vec<VEC>::load(w + i, g);
#pragma unroll
    for (int k = 0; k < VEC; ++k) f[k] *= inv * g[k];
    Vec<VEC>::store(y + r * ld_y + i, f);
  }
}

// A block walks a slice of rows; each thread owns the same columns in every row, so its dw partials live in
// shared memory without barriers and reach dw through one atomic per column per block. dx may alias x: each
// element is read before the thread that reads it writes it, and the row's sum is complete before.
template <int VEC>
__global__ void rmsnorm_backward_kernel(float* dx, float* dw, const bf16* dy, int64_t ld_dy, const float* x,
                                        int64_t ld_x, const float* w, const float* rstd, int64_t rows,
                                        int64_t dim, bool accumulate_dx, bf16* dx_bf16) {
  extern __shared__ float dw_part[];
  const int64_t step = int64_t(blockDim.x) * VEC;
  if (dw)
    for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += step)
#pragma unroll
      for (int k = 0; k < VEC; ++k) dw_part[i + k] = 0.0f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * ld_x;
    const bf16* dyr = dy + r * ld_dy;
    const float inv = rstd[r];
    float dot = 0;
    for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += step) {
      float xv[VEC], gv[VEC], wv[VEC];
      Vec<VEC>::load(xr + i, xv);
      Vec<VEC>::load(dyr + i, gv);
      Vec<VEC>::load(w + i, wv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) dot += gv[k] * wv[k] * xv[k];
    }
    // mean over the row of (dy * w) * n, with n = x * rstd
    const float c = block_sum(dot) * inv / float(dim);
    for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += step) {
      float xv[VEC], gv[VEC], wv[VEC], out[VEC];
      Vec<VEC>::load(xr + i, xv);
      Vec<VEC>::load(dyr + i, gv);
      Vec<VEC>::load(w + i, wv);
      if (accumulate_dx && dx) {
        Vec<VEC>::load(dx + r * ld_x + i, out);
      } else {
#pragma unroll
        for (int k = 0; k < VEC; ++k) out[k] = 0.0f;
      }
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        const float n = xv[k] * inv;
        out[k] += inv * (gv[k] * wv[k] - n * c);
        if (dw) dw_part[i + k] += gv[k] * n;
      }
      if (dx) Vec<VEC>::store(dx + r * ld_x + i, out);
      if (dx_bf16) Vec<VEC>::store(dx_bf16 + r * ld_x + i, out);
    }
  }
  if (!dw) return;
  for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += step)
#pragma unroll
    for (int k = 0; k < VEC; ++k) atomicAdd(dw + i + k, dw_part[i + k]);
}

// The same backward with each row held in registers: kRowThreads threads cover a row in CH float4 chunks
// each, x and dy of the next row are requested before this row's sum is reduced, and the dw partials stay
// in registers until one atomic per column per block at the end. For rows of up to 3 072 (the usual hidden
// sizes), with 16-byte alignment.
constexpr int kRowThreads = 128;
constexpr int kMaxRowChunks = 6;

template <int CH>
struct RowRegs {
  float x[CH][4], g[CH][4], acc[CH][4];
};

template <int CH>
__device__ __forceinline__ void load_row(RowRegs<CH>& v, const float* xr, const bf16* dyr, const float* dxr,
                                         int64_t dim) {
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int64_t i = (int64_t(c) * kRowThreads + threadIdx.x) * 4;
    if (i >= dim) continue;
    Vec<4>::load(xr + i, v.x[c]);
    Vec<4>::load(dyr + i, v.g[c]);
    if (dxr) Vec<4>::load(dxr + i, v.acc[c]);
  }
}

template <int CH>
__global__ void __launch_bounds__(kRowThreads)
    rmsnorm_backward_rows_kernel(float* dx, float* dw, const bf16* dy, int64_t ld_dy, const float* x,
                                 int64_t ld_x, const float* w, const float* rstd, int64_t rows, int64_t dim,
                                 bool accumulate_dx, bf16* dx_bf16) {
  float wv[CH][4], dwp[CH][4];
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int64_t i = (int64_t(c) * kRowThreads + threadIdx.x) * 4;
#pragma unroll
    for (int k = 0; k < 4; ++k) dwp[c][k] = 0.0f, wv[c][k] = 0.0f;
    if (i < dim) Vec<4>::load(w + i, wv[c]);
  }
  const bool acc_dx = accumulate_dx && dx;
  RowRegs<CH> cur, nxt;
  int64_t r = blockIdx.x;
  if (r < rows) load_row(cur, x + r * ld_x, dy + r * ld_dy, acc_dx ? dx + r * ld_x : nullptr, dim);
  for (; r < rows; r += gridDim.x) {
    const int64_t rn = r + gridDim.x;
    if (rn < rows) load_row(nxt, x + rn * ld_x, dy + rn * ld_dy, acc_dx ? dx + rn * ld_x : nullptr, dim);
    const float inv = rstd[r];
    float dot = 0;
#pragma unroll
    for (int c = 0; c < CH; ++c)
      if ((int64_t(c) * kRowThreads + threadIdx.x) * 4 < dim)
#pragma unroll
        for (int k = 0; k < 4; ++k) dot += cur.g[c][k] * wv[c][k] * cur.x[c][k];
    // mean over the row of (dy * w) * n, with n = x * rstd
    const float mean = block_sum(dot) * inv / float(dim);
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int64_t i = (int64_t(c) * kRowThreads + threadIdx.x) * 4;
      if (i >= dim) continue;
      float out[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float n = cur.x[c][k] * inv;
        out[k] = (acc_dx ? cur.acc[c][k] : 0.0f) + inv * (cur.g[c][k] * wv[c][k] - n * mean);
        dwp[c][k] += cur.g[c][k] * n;
      }
      if (dx) Vec<4>::store(dx + r * ld_x + i, out);
      if (dx_bf16) Vec<4>::store(dx_bf16 + r * ld_x + i, out);
    }
    cur = nxt;
  }
  if (!dw) return;
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int64_t i = (int64_t(c) * kRowThreads + threadIdx.x) * 4;
    if (i < dim)
#pragma unroll
      for (int k = 0; k < 4; ++k) atomicAdd(dw + i + k, dwp[c][k]);
  }
}

// The same forward with a warp per row held in registers (CH float4 chunks a lane): no block barriers, and
// eight rows a block in flight together. For rows of up to 2 048 with 16-byte alignment.
constexpr int kWarpRowChunks = 16;

template <int CH>
__global__ void __launch_bounds__(256)
    rmsnorm_train_warp_kernel(bf16* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x,
                              const float* w, int64_t rows, int64_t dim, float eps, float* x_copy) {
  const int lane = threadIdx.x & 31;
  const int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const float* xr = x + r * ld_x;
  float v[CH][4];
  float ss = 0;
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int64_t i = (int64_t(c) * 32 + lane) * 4;
    if (i >= dim) continue;
    Vec<4>::load(xr + i, v[c]);
    if (x_copy) Vec<4>::store(x_copy + r * ld_x + i, v[c]);
#pragma unroll
    for (int k = 0; k < 4; ++k) ss += v[c][k] * v[c][k];
  }
  const float inv = rsqrtf(warp_sum(ss) / float(dim) + eps);
  if (lane == 0) rstd[r] = inv;
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int64_t i = (int64_t(c) * 32 + lane) * 4;
    if (i >= dim) continue;
    float g[4];
    Vec<4>::load(w + i, g);
#pragma unroll
    for (int k = 0; k < 4; ++k) v[c][k] *= inv * g[k];
    Vec<4>::store(y + r * ld_y + i, v[c]);
  }
}

}  // namespace

void rmsnorm_forward(bf16* y, const float* x, const bf16* w, int64_t rows, int64_t dim, float eps,
                     cudaStream_t stream, const int32_t* row_index) {
  if (rows <= 0) return;
  const int64_t chunks = dim / 4;
  if (dim % 4 == 0 && chunks <= 1024 * kRegChunks && aligned(x, 16) && aligned(w, 8) && aligned(y, 8)) {
    const int64_t threads = ((chunks + kRegChunks - 1) / kRegChunks + 31) / 32 * 32;
    rmsnorm_reg_kernel<<<unsigned(rows), unsigned(threads), 0, stream>>>(y, x, w, dim, eps, row_index);
  } else {
    rmsnorm_kernel<<<unsigned(rows), 256, 0, stream>>>(y, x, w, dim, eps, row_index);
  }
  R1_CUDA_LAUNCHED();
}

void rmsnorm_forward_train(bf16* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                           int64_t rows, int64_t dim, float eps, cudaStream_t stream, float* x_copy) {
  if (dim <= 0 || ld_x < dim || ld_y < dim)
    throw std::invalid_argument("rmsnorm_forward_train: dim must be positive and ld_x, ld_y >= dim");
  if (rows <= 0) return;
  const bool vec = dim % 4 == 0 && ld_x % 4 == 0 && ld_y % 4 == 0 && aligned(x, 16) && aligned(w, 16) &&
                   aligned(y, 8) && (!x_copy || aligned(x_copy, 16));
  const int64_t chunks = (dim + 127) / 128;
  if (vec && chunks <= kWarpRowChunks) {
    const unsigned blocks = unsigned((rows + 7) / 8);
    const auto warp_launch = [&](auto kernel) {
      kernel<<<blocks, 256, 0, stream>>>(y, ld_y, rstd, x, ld_x, w, rows, dim, eps, x_copy);
    };
    if (chunks <= 4) {
      warp_launch(rmsnorm_train_warp_kernel<4>);
    } else if (chunks <= 8) {
      warp_launch(rmsnorm_train_warp_kernel<8>);
    } else if (chunks <= 12) {
      warp_launch(rmsnorm_train_warp_kernel<12>);
    } else {
      warp_launch(rmsnorm_train_warp_kernel<16>);
    }
  } else if (vec) {
    rmsnorm_train_kernel<4><<<unsigned(rows), 256, 0, stream>>>(y, ld_y, rstd, x, ld_x, w, dim, eps, x_copy);
  } else {
    rmsnorm_train_kernel<1><<<unsigned(rows), 256, 0, stream>>>(y, ld_y, rstd, x, ld_x, w, dim, eps, x_copy);
  }
  R1_CUDA_LAUNCHED();
}

void rmsnorm_backward(float* dx, float* dw, const bf16* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                      const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx,
                      bf16* dx_bf16, cudaStream_t stream) {
  if (dim <= 0 || ld_x < dim || ld_dy < dim)
    throw std::invalid_argument("rmsnorm_backward: dim must be positive and ld_x, ld_dy >= dim");
  if (rows <= 0 || (!dx && !dw)) return;
  const size_t smem = dw ? size_t(dim) * sizeof(float) : 0;
  static const int smem_max = [] {
    int dev = 0, bytes = 0;
    R1_CUDA_CHECK(cudaGetDevice(&dev));
    R1_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return bytes;
  }();
  if (smem > size_t(smem_max))
    throw std::invalid_argument("rmsnorm_backward: dim too large for the shared-memory dw partials");
  const bool vec = dim % 4 == 0 && ld_x % 4 == 0 && ld_dy % 4 == 0 && aligned(x, 16) && aligned(dx, 16) &&
                   aligned(w, 16) && aligned(dy, 8) && aligned(dx_bf16, 8);
  // At least 16 rows a block keeps the dw atomics a small fraction of the traffic.
  const unsigned blocks = unsigned(std::clamp<int64_t>((rows + 15) / 16, 1, int64_t(sm_count()) * 4));
  const int64_t chunks = (dim + 4 * kRowThreads - 1) / (4 * kRowThreads);
  if (vec && chunks <= kMaxRowChunks) {
    const auto rows_launch = [&](auto kernel) {
      kernel<<<blocks, kRowThreads, 0, stream>>>(dx, dw, dy, ld_dy, x, ld_x, w, rstd, rows, dim,
                                                 accumulate_dx, dx_bf16);
    };
    if (chunks == 1) {
      rows_launch(rmsnorm_backward_rows_kernel<1>);
    } else if (chunks == 2) {
      rows_launch(rmsnorm_backward_rows_kernel<2>);
    } else if (chunks == 3) {
      rows_launch(rmsnorm_backward_rows_kernel<3>);
    } else if (chunks == 4) {
      rows_launch(rmsnorm_backward_rows_kernel<4>);
    } else {
      rows_launch(rmsnorm_backward_rows_kernel<6>);
    }
    R1_CUDA_LAUNCHED();
    return;
  }
  const auto launch = [&](auto kernel) {
    if (smem > 48 * 1024)
      R1_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    kernel<<<blocks, 256, smem, stream>>>(dx, dw, dy, ld_dy, x, ld_x, w, rstd, rows, dim, accumulate_dx,
                                          dx_bf16);
  };
  if (vec) {
    launch(rmsnorm_backward_kernel<4>);
  } else {
    launch(rmsnorm_backward_kernel<1>);
  }
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
