#pragma once
// safetensors: u64 little-endian header length N, N bytes of JSON, then the tensor bytes. Reading validates
// everything before any tensor is used: the header length against the file size, the JSON, each dtype and
// shape, each data_offsets pair (inside the buffer, matching numel * dtype size, no overlaps, no holes).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/files.h"
#include "engine/core/tensor.h"

namespace r1 {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the start of the byte buffer
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in file order of data
  std::map<std::string, std::string> metadata;
  uint64_t buffer_offset = 0;  // 8 + N
};

// Validates a whole safetensors image held in memory; `origin` names it in errors.
SafetensorsHeader parse_safetensors(const unsigned char* data, size_t size, std::string_view origin);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsEntry* find(std::string_view name) const;
  TensorView view(const SafetensorsEntry& e) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;
};

struct TensorToWrite {
  std::string name;
  TensorView tensor;
};

// Writes atomically; the header is padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace r1
