#include "rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

constexpr int64_t kColumnBlock = 32;  // weight-gradient columns summed together by one thread

void check_layout(const char* op, int64_t rows, int64_t dim, int64_t ld_a, int64_t ld_b) {
  if (rows < 0 || dim <= 0 || ld_a < dim || ld_b < dim)
    throw std::invalid_argument(
        std::string(op) +
        ": need rows >= 0, dim > 0 and row strides >= dim, got rows=" + std::to_string(rows) +
        " dim=" + std::to_string(dim) + " strides=" + std::to_string(ld_a) + "," + std::to_string(ld_b));
}

}  // namespace

void rmsnorm_forward(float* y, const float* x, const float* w, int64_t rows, int64_t dim, float eps) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * dim;
          float* yr = y + r * dim;
          double ss = 0;
          for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
          const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
          for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * w[i];
        }
      },
      64);
}

void rmsnorm_forward_train(float* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                           int64_t rows, int64_t dim, float eps) {
  check_layout("rmsnorm_forward_train", rows, dim, ld_x, ld_y);
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * ld_x;
          float* yr = y + r * ld_y;
          double ss = 0;
          for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
          // Same rounding as rmsnorm_forward, so inference and training see identical activations.
          const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
          rstd[r] = inv;
          for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * w[i];
        }
      },
      64);
}

// With y = x r w and r = (mean(x^2) + eps)^-1/2:
//   dx = r (w dy) - r^3 / dim * x * Σ_j w_j dy_j x_j,   dw += Σ_rows dy x r.
void rmsnorm_backward(float* dx, float* dw, const float* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                      const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx) {
  check_layout("rmsnorm_backward", rows, dim, ld_x, ld_dy);
  // dw first and split by columns: each sum stays in one thread (deterministic, no partial buffers), and
  // x is read before dx could overwrite it.
  if (dw) {
    const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
    parallel_for(blocks, [&](int64_t b0, int64_t b1) {
      double acc[kColumnBlock];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
        std::fill_n(acc, c1 - c0, 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = x + r * ld_x;
          const float* dyr = dy + r * ld_dy;
          const double rs = rstd[r];
          for (int64_t i = c0; i < c1; ++i) acc[i - c0] += double(dyr[i]) * xr[i] * rs;
        }
        for (int64_t i = c0; i < c1; ++i) dw[i] += float(acc[i - c0]);
      }
    });
  }
  if (!dx) return;
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * ld_x;
          const float* dyr = dy + r * ld_dy;
          float* dxr = dx + r * ld_x;
          double dot = 0;
          for (int64_t i = 0; i < dim; ++i) dot += double(w[i]) * dyr[i] * xr[i];
          const double inv = rstd[r];
          const float coef = float(inv * inv * inv * dot / double(dim));
          const float rs = rstd[r];
          for (int64_t i = 0; i < dim; ++i) {
            const float g = rs * w[i] * dyr[i] - coef * xr[i];
            dxr[i] = accumulate_dx ? dxr[i] + g : g;
          }
        }
      },
      16);
}

}  // namespace r1::cpu
