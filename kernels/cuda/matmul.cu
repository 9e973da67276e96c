#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "matmul.h"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t work) {
  return unsigned(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, int64_t(sm_count()) * 16));
}

// y[t, i] += b[i] over VEC consecutive columns (N % VEC == 0, so a vector never straddles two rows). Index
// is uint32_t where T * N allows: a 64-bit modulo per vector would cost more than the memory traffic.
template <int VEC, class Index>
__global__ void bias_add_bf16_kernel(bf16* y, const float* b, int64_t T, int64_t N) {
  const Index vecs = Index(T * N / VEC), n = Index(N);
  for (Index v = Index(blockIdx.x) * blockDim.x + threadIdx.x; v < vecs; v += Index(gridDim.x) * blockDim.x) {
    const Index idx = v * VEC, col = idx % n;
    if constexpr (VEC == 8) {
      Bf16x8 raw = *reinterpret_cast<const Bf16x8*>(y + idx);
      float f[8];
      unpack(raw, f);
      const float4 b0 = *reinterpret_cast<const float4*>(b + col),
                   b1 = *reinterpret_cast<const float4*>(b + col + 4);
      const float bb[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) f[i] += bb[i];
      *reinterpret_cast<Bf16x8*>(y + idx) = pack(f);
    } else {
      y[idx] = __float2bfloat16_rn(__bfloat162float(y[idx]) + b[col]);
    }
  }
}

template <int VEC>
__global__ void bias_add_f32_kernel(float* y, const float* b, int64_t T, int64_t N) {
  const int64_t vecs = T * N / VEC;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < vecs;
       v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t idx = v * VEC, col = idx % N;
    if constexpr (VEC == 4) {
      float4 a = *reinterpret_cast<const float4*>(y + idx);
      const float4 c = *reinterpret_cast<const float4*>(b + col);
      a.x += c.x, a.y += c.y, a.z += c.z, a.w += c.w;
      *reinterpret_cast<float4*>(y + idx) = a;
    } else {
      y[idx] += b[col];
    }
  }
}

// db[c] += Σ_t dy[t, c]. Block: 32 x kDbRows threads; each thread sums a pair of columns over a slice
// of rows, the block folds its rows in shared memory, and slices meet through one atomic per column.
constexpr int kDbRows = 8;
template <bool PAIRS>
__global__ void column_sum_kernel(float* db, const bf16* dy, int64_t T, int64_t N, int64_t rows_per_slice) {
  constexpr int kCols = 32 * (PAIRS ? 2 : 1);
  __shared__ float part[kDbRows][kCols];
  const int64_t c0 = blockIdx.x * int64_t(kCols) + (PAIRS ? 2 : 1) * threadIdx.x;
  const int64_t t_begin = blockIdx.y * rows_per_slice,
                t_end = t_begin + rows_per_slice < T ? t_begin + rows_per_slice : T;
  float s0 = 0, s1 = 0;
  if (c0 < N) {
    for (int64_t t = t_begin + threadIdx.y; t < t_end; t += kDbRows) {
      if constexpr (PAIRS) {
        const float2 p = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(dy + t * N + c0));
        s0 += p.x, s1 += p.y;
      } else {
        s0 += __bfloat162float(dy[t * N + c0]);
      }
    }
  }
  if constexpr (PAIRS) {
    part[threadIdx.y][2 * threadIdx.x] = s0;
    part[threadIdx.y][2 * threadIdx.x + 1] = s1;
  } else {
    part[threadIdx.y][threadIdx.x] = s0;
  }
  __syncthreads();
  for (int c = threadIdx.y * 32 + threadIdx.x; c < kCols; c += 32 * kDbRows) {
    float s = 0;
#pragma unroll
    for (int r = 0; r < kDbRows; ++r) s += part[r][c];
    const int64_t col = blockIdx.x * int64_t(kCols) + c;
    if (col < N) atomicAdd(db + col, s);
  }
}

void bias_add(void* y, GemmOutput out, const float* b, int64_t T, int64_t N, cudaStream_t stream) {
  const int64_t n = T * N;
  if (out == GemmOutput::Bf16) {
    bf16* yb = static_cast<bf16*>(y);
    const bool small = n < int64_t(1) << 31;
    if (N % 8 == 0 && aligned(yb, 16) && aligned(b, 16)) {
      if (small) {
        bias_add_bf16_kernel<8, uint32_t><<<grid_for(n / 8), kThreads, 0, stream>>>(yb, b, T, N);
      } else {
        bias_add_bf16_kernel<8, int64_t><<<grid_for(n / 8), kThreads, 0, stream>>>(yb, b, T, N);
      }
    } else {
      bias_add_bf16_kernel<1, int64_t><<<grid_for(n), kThreads, 0, stream>>>(yb, b, T, N);
    }
  } else {
    float* yf = static_cast<float*>(y);
    if (N % 4 == 0 && aligned(yf, 16) && aligned(b, 16)) {
      bias_add_f32_kernel<4><<<grid_for(n / 4), kThreads, 0, stream>>>(yf, b, T, N);
    } else {
      bias_add_f32_kernel<1><<<grid_for(n), kThreads, 0, stream>>>(yf, b, T, N);
    }
  }
  R1_CUDA_LAUNCHED();
}

void column_sum(float* db, const bf16* dy, int64_t T, int64_t N, cudaStream_t stream) {
  const bool pairs = N % 2 == 0 && aligned(dy, 4);
  const int64_t cols = pairs ? 64 : 32;
  const int64_t col_blocks = (N + cols - 1) / cols;
  // Enough row slices to give every SM a few blocks, but at least 64 rows each so the atomics stay rare.
  const int64_t want = std::max<int64_t>(1, int64_t(sm_count()) * 4 / col_blocks);
  const int64_t slices = std::clamp<int64_t>((T + 63) / 64, 1, std::min<int64_t>(want, 65535));
  const int64_t rows_per_slice = (T + slices - 1) / slices;
  const dim3 grid(unsigned(col_blocks), unsigned((T + rows_per_slice - 1) / rows_per_slice));
  const dim3 block(32, kDbRows);
  if (pairs) {
    column_sum_kernel<true><<<grid, block, 0, stream>>>(db, dy, T, N, rows_per_slice);
  } else {
    column_sum_kernel<false><<<grid, block, 0, stream>>>(db, dy, T, N, rows_per_slice);
  }
  R1_CUDA_LAUNCHED();
}

void check_dims(const char* op, int64_t T, int64_t K, int64_t N) {
  if (T < 0 || K <= 0 || N < 0 || T > INT32_MAX || K > INT32_MAX || N > INT32_MAX)
    throw std::invalid_argument(std::string(op) + ": needs 0 < K and 0 <= T, N, all below 2^31");
}

}  // namespace

void matmul_forward(Blas& blas, void* y, GemmOutput out, const bf16* x, const bf16* w, const float* b,
                    int64_t T, int64_t K, int64_t N, cudaStream_t stream) {
  check_dims("matmul_forward", T, K, N);
  if (T == 0 || N == 0) return;
  blas.set_stream(stream);
  gemm(blas, y, out, x, w, T, K, N);
  if (b) bias_add(y, out, b, T, N, stream);
}

void matmul_backward(Blas& blas, void* dx, GemmOutput dx_out, float* dw, float* db, const bf16* dy,
                     const bf16* x, const bf16* w, int64_t T, int64_t K, int64_t N, cudaStream_t stream,
                     bool assign_dw) {
  check_dims("matmul_backward", T, K, N);
  if (dw && assign_dw && (T == 0 || N == 0) && K > 0)
    R1_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(N * K) * sizeof(float), stream));
  if (T == 0) return;
  if (N == 0) {
    if (dx && dx_out != GemmOutput::F32Accumulate)
      R1_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(T * K) * (dx_out == GemmOutput::Bf16 ? 2 : 4), stream));
    return;
  }
  blas.set_stream(stream);
  if (dx) {
    // Column-major view: dx^T [K, T] = W^T [K, N] (W as stored) times dy^T [N, T].
    LtShape s;
    s.ta = false, s.tb = false, s.m = K, s.n = T, s.k = N, s.lda = K, s.ldb = N, s.ldc = K;
    s.ctype = dx_out == GemmOutput::Bf16 ? CUDA_R_16BF : CUDA_R_32F;
    s.accumulate = dx_out == GemmOutput::F32Accumulate;
    blas.run(s, w, dy, dx);
  }
  if (dw) {
    // dW^T [K, N] += x^T [K, T] (x as stored) times dy [T, N] (dy^T as stored, transposed).
    LtShape s;
    s.ta = false, s.tb = true, s.m = K, s.n = N, s.k = T, s.lda = K, s.ldb = N, s.ldc = K;
    s.ctype = CUDA_R_32F, s.accumulate = !assign_dw;
    blas.run(s, x, dy, dw);
  }
  if (db) column_sum(db, dy, T, N, stream);
}

}  // namespace r1::cuda
