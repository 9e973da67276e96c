#pragma once
// Finite-difference checks shared by the CPU training-op suites: the dot product their scalar losses
// L = sum r * y are built from, and the central-difference gradient check with its bounds.
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace r1::test {

using Vec = std::vector<float>;

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Central differences of loss() with respect to x[i], for every i with i % ld in [first, first + width)
// (ld = 0: every i), against `analytic`. The forwards run in fp32 with a step of 1e-2 on O(1) inputs: the
// truncation error h^2 f'''/6 is ~2e-5 of the gradient, and fp32 rounding of the outputs that x[i] moves adds
// ~1e-7 |y| / h ~ 1e-5; the worst seen in tst_train_ops_cpu is 7e-5 (rmsnorm dx). The bounds, 2e-3 over the
// whole gradient and 1e-2 of the largest entry for any single one, keep a 20x margin and stay far below the
// errors of 0.1 and more that a wrong term, a lost row or head, or = instead of += produce.
inline QString grad_mismatch(const char* name, Vec& x, const Vec& analytic,
                             const std::function<double()>& loss, int64_t ld = 0, int64_t first = 0,
                             int64_t width = 0) {
  constexpr float h = 1e-2f;
  double num2 = 0, den2 = 0, worst = 0, largest = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (ld > 0 && (int64_t(i) % ld < first || int64_t(i) % ld >= first + width)) continue;
    const float saved = x[i];
    const float up = saved + h, down = saved - h;
    x[i] = up;
    const double l_up = loss();
    x[i] = down;
    const double l_down = loss();
    x[i] = saved;
    const double numeric = (l_up - l_down) / (double(up) - double(down));
    const double diff = std::abs(numeric - analytic[i]);
    num2 += diff * diff;
    den2 += numeric * numeric;
    largest = std::max(largest, std::abs(numeric));
    if (diff > worst) {
      worst = diff;
      worst_at = i;
    }
  }
  const double rel = std::sqrt(num2 / std::max(den2, 1e-30));
  if (den2 > 0 && rel < 2e-3 && worst <= 1e-2 * largest) return {};
  return QString("%1: relative error %2, worst at %3 (analytic %4, off by %5, largest %6)")
      .arg(name)
      .arg(rel)
      .arg(worst_at)
      .arg(double(analytic[worst_at]))
      .arg(worst)
      .arg(largest);
}

}  // namespace r1::test

#define CHECK_GRAD(...)                                          \
  do {                                                           \
    const QString r1_msg = r1::test::grad_mismatch(__VA_ARGS__); \
    QVERIFY2(r1_msg.isEmpty(), qPrintable(r1_msg));              \
  } while (0)
