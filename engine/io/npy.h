#pragma once
// NumPy .npy files (format 1.0, little-endian, C order): float32 / int32 / int64 arrays.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "engine/core/tensor.h"

namespace r1 {

void write_npy(const std::filesystem::path& path, const TensorView& t);

struct NpyArray {
  DType dtype = DType::F32;
  Shape shape;
  std::vector<unsigned char> bytes;

  const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
  std::vector<int64_t> to_i64() const;  // I32 or I64 widened
};

NpyArray read_npy(const std::filesystem::path& path);

}  // namespace r1
