#include "model_writer.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "kernels/common/half.h"
#include "safetensors.h"

namespace r1 {
namespace {

float load_as_float(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32:
      return static_cast<const float*>(t.data)[i];
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
    default:
      return bf16_to_f32(static_cast<const uint16_t*>(t.data)[i]);
  }
}

const char* torch_dtype_name(DType t) {
  return t == DType::F32 ? "float32" : t == DType::F16 ? "float16" : "bfloat16";
}

}  // namespace

std::vector<unsigned char> convert_tensor(const TensorView& t, DType to) {
  if (!is_float_weight(t.dtype) || !is_float_weight(to))
    fail("convert: only F32, F16 and BF16 tensors convert");
  std::vector<unsigned char> out(size_t(t.numel()) * dtype_size(to));
  if (t.dtype == to) {
    std::copy_n(static_cast<const unsigned char*>(t.data), out.size(), out.begin());
    return out;
  }
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = load_as_float(t, i);
    if (to == DType::F32) {
      reinterpret_cast<float*>(out.data())[i] = v;
    } else {
      reinterpret_cast<uint16_t*>(out.data())[i] = to == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
    }
  }
  return out;
}

void save_model(const Model& model, const std::filesystem::path& out, DType dtype) {
  namespace fs = std::filesystem;
  if (!is_float_weight(dtype)) fail("save: the dtype must be F32, F16 or BF16");
  if (fs::exists(out)) fail(out.string(), ": already exists; choose a new folder");
  if (model.dir.empty()) fail("save: the model has no source folder for its config.json");
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    std::vector<std::vector<unsigned char>> data;
    std::vector<TensorToWrite> tensors;
    const auto names = model.store->names();
    data.reserve(names.size());
    for (const auto& name : names) {
      const TensorView t = model.store->find(name);
      const DType target = is_float_weight(t.dtype) ? dtype : t.dtype;
      data.push_back(is_float_weight(t.dtype) ? convert_tensor(t, dtype)
                                              : std::vector<unsigned char>(
                                                    static_cast<const unsigned char*>(t.data),
                                                    static_cast<const unsigned char*>(t.data) + t.nbytes()));
      tensors.push_back({name, TensorView{data.back().data(), target, t.shape}});
    }
    write_safetensors(tmp / "model.safetensors", tensors, {{"format", "pt"}});
    nlohmann::ordered_json config;
    const fs::path src_config = model.dir / "config.json";
    try {
      config = nlohmann::ordered_json::parse(read_text_file(src_config));
    } catch (const nlohmann::json::exception& ex) {
      fail(src_config.string(), ": not valid JSON: ", ex.what());
    }
    config["dtype"] = torch_dtype_name(dtype);
    if (config.contains("torch_dtype")) config["torch_dtype"] = torch_dtype_name(dtype);
    write_text_file_atomic(tmp / "config.json", config.dump(2) + "\n");
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                          "special_tokens_map.json", "chat_template.jinja"}) {
      if (fs::exists(model.dir / f)) fs::copy_file(model.dir / f, tmp / f);
    }
    fs::rename(tmp, out);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp);
    fail(out.string(), ": ", e.what());
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
}

}  // namespace r1
