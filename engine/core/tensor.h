#pragma once
// A non-owning view of a tensor's bytes (memory-mapped weights, owned buffers), with its dtype and shape.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/dtype.h"

namespace r1 {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s);

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;

  int64_t numel() const { return r1::numel(shape); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  explicit operator bool() const { return data != nullptr; }
};

}  // namespace r1
