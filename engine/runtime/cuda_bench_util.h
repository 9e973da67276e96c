#pragma once
// What the CUDA benchmarks (bench ops: cuda_op_bench.cpp, cuda_gemm_bench.cpp) share: the bf16 peak they
// report fractions of, random operands, and event timing.
#include <functional>

#include "kernels/cuda/cuda_common.h"

namespace r1 {

constexpr double kBf16PeakTflops = 989.0;  // dense bf16, H100/H200 datasheet

// A device buffer of n random values (bf16, or fp32 when f32 is set), uniform in [-0.5, 0.5).
cuda::DeviceBuffer random_device_buffer(int64_t n, bool f32, uint32_t seed);

// Times a sequence of GPU work with CUDA events on the default stream: `warmup` untimed runs, then `runs`
// timed ones; returns the median in microseconds, or the fastest when `fastest` is set (clock changes only
// ever slow a run down, so comparisons of near-equal candidates use the fastest).
double event_time_us(const std::function<void()>& op, int warmup, int runs, bool fastest = false);

}  // namespace r1
