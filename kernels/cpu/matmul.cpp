#include "matmul.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

constexpr int64_t kColumnBlock = 256;  // bias-gradient columns summed together in double

void check_dims(const char* op, int64_t T, int64_t K, int64_t N) {
  if (T < 0 || K < 0 || N < 0 || T > INT_MAX || K > INT_MAX || N > INT_MAX)
    throw std::invalid_argument(std::string(op) + ": T, K and N must be in [0, 2^31), got T=" +
                                std::to_string(T) + " K=" + std::to_string(K) + " N=" + std::to_string(N));
}

}  // namespace

void matmul_forward(float* y, const float* x, const float* w, const float* b, int64_t T, int64_t K, int64_t N,
                    bool accumulate) {
  check_dims("matmul_forward", T, K, N);
  if (T == 0 || N == 0) return;
  const float beta = accumulate ? 1.0f : 0.0f;
  if (K > 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(N), int(K), 1.0f, x, int(K), w, int(K),
                beta, y, int(N));
  } else if (!accumulate) {
    std::fill_n(y, T * N, 0.0f);
  }
  if (!b) return;
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t n = 0; n < N; ++n) y[t * N + n] += b[n];
      },
      16);
}

void matmul_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     int64_t T, int64_t K, int64_t N, bool accumulate_dx, bool assign_dw) {
  check_dims("matmul_backward", T, K, N);
  if (dx && T > 0 && K > 0) {
    if (N > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(K), int(N), 1.0f, dy, int(N), w,
                  int(K), accumulate_dx ? 1.0f : 0.0f, dx, int(K));
    } else if (!accumulate_dx) {
      std::fill_n(dx, T * K, 0.0f);
    }
  }
  if (dw && T > 0 && K > 0 && N > 0)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(N), int(K), int(T), 1.0f, dy, int(N), x, int(K),
                assign_dw ? 0.0f : 1.0f, dw, int(K));
  else if (dw && assign_dw)
    std::fill_n(dw, N * K, 0.0f);
  if (db && T > 0 && N > 0) {
    // Column blocks keep each sum in one thread, so db is the same for any thread count.
    const int64_t blocks = (N + kColumnBlock - 1) / kColumnBlock;
    parallel_for(blocks, [&](int64_t b0, int64_t b1) {
      double acc[kColumnBlock];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t n0 = blk * kColumnBlock, n1 = std::min(N, n0 + kColumnBlock);
        std::fill_n(acc, n1 - n0, 0.0);
        for (int64_t t = 0; t < T; ++t) {
          const float* row = dy + t * N;
          for (int64_t n = n0; n < n1; ++n) acc[n - n0] += row[n];
        }
        for (int64_t n = n0; n < n1; ++n) db[n] += float(acc[n - n0]);
      }
    });
  }
}

}  // namespace r1::cpu
