#pragma once
// The CUDA form of kernels/cpu/adamw.h. Also refreshes the bf16 compute copy of the weights (when given)
// in the same pass.
#include <vector>

#include "cuda_common.h"
#include "kernels/cpu/adamw.h"

namespace r1::cuda {

using cpu::AdamWSegment;
using cpu::AdamWStep;

void adamw_update(float* w, bf16* w_compute, float* m, float* v, const float* grad, int64_t n,
                  const AdamWStep& s, bool decay, cudaStream_t stream);

// A whole parameter block in one launch: the segments' table lives on the device, and each block of threads
// takes fixed units of 4 096 elements, finding its segment by binary search. One launch per tensor costs
// hundreds of launches a step (most of them norms and biases of a few thousand elements), each with its
// ramp and tail.
class AdamWBlock {
 public:
  AdamWBlock() = default;
  // Throws std::invalid_argument for empty, unsorted or overlapping segments.
  explicit AdamWBlock(const std::vector<AdamWSegment>& segments);
  void update(float* w, bf16* w_compute, float* m, float* v, const float* grad, const AdamWStep& s,
              cudaStream_t stream) const;

 private:
  DeviceBuffer table_;
  int segments_ = 0;
  int64_t units_ = 0;
};

// *acc += Σ x^2 (fp64 on the device).
void sum_squares_accumulate(double* acc, const float* x, int64_t n, cudaStream_t stream);

}  // namespace r1::cuda
