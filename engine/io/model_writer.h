#pragma once
// Writes a model as a Hugging Face folder that transformers loads: model.safetensors (every tensor
// converted to the chosen dtype, "format": "pt" metadata), config.json with its dtype updated, and the
// tokenizer and generation files of the source folder. Everything is written into a temporary folder
// that is renamed into place, so a failure never leaves a half-written model under the final name.
#include <filesystem>

#include "engine/model/model.h"

namespace r1 {

void save_model(const Model& model, const std::filesystem::path& out, DType dtype);

// Converts one tensor's values to another float dtype (F32, F16 or BF16), rounding to nearest even.
std::vector<unsigned char> convert_tensor(const TensorView& t, DType to);

}  // namespace r1
