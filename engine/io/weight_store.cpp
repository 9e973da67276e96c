#include "weight_store.h"

#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/core/files.h"

namespace r1 {

SafetensorsStore::SafetensorsStore(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  std::map<std::string, std::string> listed;  // tensor -> shard file name
  std::vector<std::string> shards;
  if (fs::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(index));
    } catch (const nlohmann::json::exception& ex) {
      fail(index.string(), ": not valid JSON: ", ex.what());
    }
    const auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object()) fail(index.string(), ": missing \"weight_map\" object");
    std::set<std::string> seen;
    for (const auto& [tensor, file] : wm->items()) {
      if (!file.is_string()) fail(index.string(), ": weight_map entry \"", tensor, "\" is not a file name");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f == ".." || f.empty())
        fail(index.string(), ": weight_map entry \"", tensor, "\" names \"", f,
             "\", which is not a file in the folder");
      listed[tensor] = f;
      if (seen.insert(f).second) shards.push_back(f);
    }
  } else if (fs::exists(single)) {
    shards.push_back("model.safetensors");
  } else {
    fail(dir.string(), ": no model.safetensors or model.safetensors.index.json in the folder");
  }
  for (const auto& name : shards) {
    const fs::path p = dir / name;
    if (!fs::exists(p)) fail(index.string(), ": shard \"", name, "\" is listed but missing");
    files_.push_back(std::make_unique<SafetensorsFile>(p));
    for (const auto& e : files_.back()->entries()) {
      if (!file_of_.emplace(e.name, files_.size() - 1).second)
        fail(p.string(), ": tensor '", e.name, "' is also in ", files_[file_of_.at(e.name)]->path().string());
    }
  }
  for (const auto& [tensor, file] : listed) {
    const auto it = file_of_.find(tensor);
    if (it == file_of_.end() || files_[it->second]->path().filename() != file)
      fail(index.string(), ": tensor '", tensor, "' is listed in shard \"", file, "\" but not found there");
  }
}

TensorView SafetensorsStore::find(std::string_view name) const {
  const auto it = file_of_.find(name);
  if (it == file_of_.end()) return {};
  const auto& f = *files_[it->second];
  return f.view(*f.find(name));
}

std::vector<std::string> SafetensorsStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : file_of_) out.push_back(n);
  return out;
}

std::string SafetensorsStore::origin(std::string_view name) const {
  const auto it = file_of_.find(name);
  if (it != file_of_.end()) return files_[it->second]->path().string();
  return files_.size() == 1 ? files_[0]->path().string() : files_[0]->path().parent_path().string();
}

void* MemoryStore::add(const std::string& name, DType dtype, const Shape& shape) {
  Owned o;
  const size_t bytes = size_t(numel(shape)) * dtype_size(dtype);
  o.bytes.reset(new unsigned char[bytes == 0 ? 1 : bytes]());
  o.view = TensorView{o.bytes.get(), dtype, shape};
  void* p = o.bytes.get();
  tensors_[name] = std::move(o);
  return p;
}

TensorView MemoryStore::find(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? TensorView{} : it->second.view;
}

std::vector<std::string> MemoryStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : tensors_) out.push_back(n);
  return out;
}

}  // namespace r1
