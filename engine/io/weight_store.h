#pragma once
// Named tensors of a model, wherever their bytes live: the safetensors files of a Hugging Face folder
// (single file or sharded through model.safetensors.index.json, memory-mapped), or buffers owned in memory
// (random weights for benchmarks, tests).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/io/safetensors.h"

namespace r1 {

class WeightStore {
 public:
  virtual ~WeightStore() = default;
  virtual TensorView find(std::string_view name) const = 0;  // empty view when absent
  virtual std::vector<std::string> names() const = 0;
  virtual std::string origin(std::string_view name) const = 0;  // the file a tensor comes from, for errors
};

class SafetensorsStore final : public WeightStore {
 public:
  // Opens every shard of the folder; validates the index (shards exist, every listed tensor is in its shard).
  explicit SafetensorsStore(const std::filesystem::path& model_dir);

  TensorView find(std::string_view name) const override;
  std::vector<std::string> names() const override;
  std::string origin(std::string_view name) const override;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t, std::less<>> file_of_;
};

class MemoryStore final : public WeightStore {
 public:
  // Allocates a zero-filled tensor and returns its bytes to fill.
  void* add(const std::string& name, DType dtype, const Shape& shape);

  TensorView find(std::string_view name) const override;
  std::vector<std::string> names() const override;
  std::string origin(std::string_view) const override { return "memory"; }

 private:
  struct Owned {
    std::unique_ptr<unsigned char[]> bytes;
    TensorView view;
  };
  std::map<std::string, Owned, std::less<>> tensors_;
};

}  // namespace r1
