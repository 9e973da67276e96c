#include "linear.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "../common/half.h"
#include "parallel.h"

namespace r1::cpu {
namespace {

constexpr int64_t kPanelRows = 256;
constexpr int64_t kGemvMaxTokens = 4;

bool has_avx2() {
  // Every x86 CPU with AVX2 and FMA also has F16C; clang before 16 does not accept "f16c" here.
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const uint16_t* p, DType t) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (t == DType::F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"))) inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

inline float widen(const void* w, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(w)[i];
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
    default:
      return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
  }
}

// Rows [r0, r1) of y for up to kGemvMaxTokens tokens, 16-bit weights, AVX2.
__attribute__((target("avx2,fma,f16c"))) void gemv16_avx2(float* y, const float* x, const uint16_t* w,
                                                          DType t, const float* bias, int64_t T, int64_t in,
                                                          int64_t out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint16_t* row = w + r * in;
    __m256 acc[kGemvMaxTokens];
    for (int64_t k = 0; k < T; ++k) acc[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= in; i += 8) {
      const __m256 wv = load8(row + i, t);
      for (int64_t k = 0; k < T; ++k) acc[k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + k * in + i), acc[k]);
    }
    for (int64_t k = 0; k < T; ++k) {
      float s = hsum(acc[k]);
      for (int64_t j = i; j < in; ++j) s += widen(row, t, j) * x[k * in + j];
      y[k * out + r] = s + (bias ? bias[r] : 0.0f);
    }
  }
}

void gemv_scalar(float* y, const float* x, const void* w, DType t, const float* bias, int64_t T, int64_t in,
                 int64_t out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t k = 0; k < T; ++k) {
      float s = 0;
      for (int64_t j = 0; j < in; ++j) s += widen(w, t, r * in + j) * x[k * in + j];
      y[k * out + r] = s + (bias ? bias[r] : 0.0f);
    }
  }
}

__attribute__((target("avx2,fma,f16c"))) void widen_avx2(float* dst, const uint16_t* src, DType t,
                                                         int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8(src + i, t));
  for (; i < n; ++i) dst[i] = widen(src, t, i);
}

void add_bias(float* y, const float* bias, int64_t T, int64_t out) {
  if (!bias) return;
  for (int64_t k = 0; k < T; ++k)
    for (int64_t r = 0; r < out; ++r) y[k * out + r] += bias[r];
}

}  // namespace

int64_t linear_scratch_floats(int64_t in_features) {
  return kPanelRows * in_features;
}

void widen_row(float* dst, const void* src, DType dtype, int64_t n) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, size_t(n) * 4);
  } else if (has_avx2()) {
    widen_avx2(dst, static_cast<const uint16_t*>(src), dtype, n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = widen(src, dtype, i);
  }
}

void linear_forward(float* y, const float* x, const void* w, DType t, const float* bias, int64_t T,
                    int64_t in, int64_t out, LinearScratch scratch) {
  if (!is_float_weight(t))
    throw std::invalid_argument("linear_forward: weight dtype must be F32, F16 or BF16");
  if (T <= 0) return;
  if (t == DType::F32) {
    if (T == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(out), int(in), 1.0f, static_cast<const float*>(w), int(in),
                  x, 1, 0.0f, y, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(out), int(in), 1.0f, x, int(in),
                  static_cast<const float*>(w), int(in), 0.0f, y, int(out));
    }
    add_bias(y, bias, T, out);
    return;
  }
  if (T <= kGemvMaxTokens) {
    const auto* w16 = static_cast<const uint16_t*>(w);
    parallel_for(
        out,
        [&](int64_t r0, int64_t r1) {
          if (has_avx2()) {
            gemv16_avx2(y, x, w16, t, bias, T, in, out, r0, r1);
          } else {
            gemv_scalar(y, x, w, t, bias, T, in, out, r0, r1);
          }
        },
        16);
    return;
  }
  if (scratch.capacity < linear_scratch_floats(in) || !scratch.panel)
    throw std::invalid_argument("linear_forward: scratch panel too small");
  const auto* w16 = static_cast<const uint16_t*>(w);
  for (int64_t r0 = 0; r0 < out; r0 += kPanelRows) {
    const int64_t rows = std::min(kPanelRows, out - r0);
    parallel_for(rows, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) widen_row(scratch.panel + r * in, w16 + (r0 + r) * in, t, in);
    });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(rows), int(in), 1.0f, x, int(in),
                scratch.panel, int(in), 0.0f, y + r0, int(out));
  }
  add_bias(y, bias, T, out);
}

}  // namespace r1::cpu
