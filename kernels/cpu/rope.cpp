#include "rope.h"

#include "parallel.h"

namespace r1::cpu {

void rope_forward(float* x, const int32_t* positions, const float* cos_sin, int64_t T, int64_t heads,
                  int64_t head_dim, int64_t rot_dim, bool interleaved) {
  const int64_t half = rot_dim / 2;
  parallel_for(
      T * heads,
      [&](int64_t a, int64_t b) {
        for (int64_t row = a; row < b; ++row) {
          const int64_t t = row / heads;
          float* v = x + row * head_dim;
          rope_rotate(v, cos_sin + int64_t(positions[t]) * rot_dim, half, interleaved);
        }
      },
      16);
}

}  // namespace r1::cpu
