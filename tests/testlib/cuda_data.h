#pragma once
// Random inputs and host <-> device copies for the CUDA op tests.
#include <cuda_runtime_api.h>
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cuda/cuda_common.h"
#include "testlib/test_support.h"

namespace r1::test {

// Rounds to bf16 in place and returns the bits.
inline std::vector<uint16_t> to_bf16(std::vector<float>& v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    b[i] = f32_to_bf16(v[i]);
    v[i] = bf16_to_f32(b[i]);
  }
  return b;
}

template <typename T>
cuda::DeviceBuffer upload(const std::vector<T>& v) {
  cuda::DeviceBuffer d(std::max<size_t>(v.size(), 1) * sizeof(T));
  if (!v.empty()) R1_CUDA_CHECK(cudaMemcpy(d.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> download(const cuda::DeviceBuffer& d, size_t n) {
  std::vector<T> v(n);
  R1_CUDA_CHECK(cudaDeviceSynchronize());
  R1_CUDA_CHECK(cudaMemcpy(v.data(), d.get(), n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

inline std::vector<float> widen(const std::vector<uint16_t>& b) {
  std::vector<float> v(b.size());
  for (size_t i = 0; i < b.size(); ++i) v[i] = bf16_to_f32(b[i]);
  return v;
}

// n bf16 values from the device, widened to fp32.
inline std::vector<float> download_bf16(const cuda::DeviceBuffer& d, size_t n) {
  return widen(download<uint16_t>(d, n));
}

// Normalised mean squared error; NaN counts as failure.
inline double nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return num / std::max(den, 1e-30);
}

// |got - want| / |want| over the whole tensor; a NaN or size mismatch counts as infinitely wrong.
inline double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace r1::test

// In a Qt Test function: fails when rel_error(got, want) is not below tol, and logs the error.
#define EXPECT_CLOSE(what, got, want, tol)                                                      \
  do {                                                                                          \
    const double r1_err = r1::test::rel_error(got, want);                                       \
    qInfo("%s: relative error %.3g", what, r1_err);                                             \
    QVERIFY2(r1_err < (tol),                                                                    \
             qPrintable(QString("%1: relative error %2 > %3").arg(what).arg(r1_err).arg(tol))); \
  } while (0)
