#include <stdexcept>

#include "gemv.h"
#include "gemv_parts.cuh"

namespace r1::cuda {

bool gemv_supports(int64_t batch, int64_t k) {
  return batch >= 1 && batch <= kGemvMaxBatch && k % 8 == 0 && batch * k * 2 <= 200 * 1024;
}

int64_t gemv_blocks(const GemvArgs& a) {
  if (a.batch != 1) throw std::invalid_argument("gemv_blocks: one vector only");
  return a.n <= 0 ? 0 : gemv_fma_blocks(a);
}

void gemv(const GemvArgs& a, cudaStream_t s) {
  if (!gemv_supports(a.batch, a.k))
    throw std::invalid_argument("gemv: unsupported batch or k (k must be a multiple of 8)");
  if (a.output == GemvOutput::SwiGluBf16 && a.n % 2)
    throw std::invalid_argument("gemv: a SwiGLU output needs an even number of rows (gate then up)");
  if (a.best && (a.batch != 1 || a.output != GemvOutput::F32))
    throw std::invalid_argument("gemv: block bests are kept for one vector and an F32 output only");
  if (a.n <= 0) return;
  switch (a.batch) {
    case 1:
      return gemv_fma<1>(a, s);
    case 2:
      return gemv_fma<2>(a, s);
    case 3:
      return gemv_mma<3>(a, s);
    case 4:
      return gemv_mma<4>(a, s);
    case 5:
      return gemv_mma<5>(a, s);
    case 6:
      return gemv_mma<6>(a, s);
    case 7:
      return gemv_mma<7>(a, s);
    default:
      return gemv_mma<8>(a, s);
  }
}

}  // namespace r1::cuda
