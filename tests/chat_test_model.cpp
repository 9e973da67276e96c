#include "chat_test_model.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/core/files.h"
#include "engine/io/safetensors.h"
#include "engine/model/model.h"
#include "testlib/test_support.h"

namespace r1::test {

std::filesystem::path chat_fixture_model() {
  return fixtures() / "models" / "qwen2-tied";
}

std::filesystem::path write_slow_chat_model(const std::filesystem::path& dir, int hidden, int layers,
                                            int max_context) {
  std::filesystem::create_directories(dir);
  const auto fixture = chat_fixture_model();
  nlohmann::json config = nlohmann::json::parse(read_text_file(fixture / "config.json"));
  config["hidden_size"] = hidden;
  config["intermediate_size"] = hidden * 3;
  config["num_hidden_layers"] = layers;
  config["num_attention_heads"] = hidden / 64;
  config["num_key_value_heads"] = 2;
  config["max_position_embeddings"] = max_context;
  config["tie_word_embeddings"] = false;
  config.erase("layer_types");
  std::ofstream(dir / "config.json") << config.dump(2);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    std::filesystem::copy_file(fixture / f, dir / f, std::filesystem::copy_options::overwrite_existing);

  const ModelConfig c = parse_hf_config(config.dump(), (dir / "config.json").string());
  const auto model = random_model(c, DType::F32, 1234, 0.05f);
  std::vector<std::vector<float>> owned;
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : model->store->names()) {
    const TensorView t = model->store->find(name);
    owned.emplace_back(size_t(t.numel()));
    std::memcpy(owned.back().data(), t.data, t.nbytes());
    if (name == "lm_head.weight") {
      // A peaked output distribution over every token but <|im_end|> (id 2), whose logit stays 0.
      for (float& v : owned.back()) v *= 40.0f;
      std::fill_n(owned.back().begin() + 2 * c.hidden_size, c.hidden_size, 0.0f);
    }
    tensors.push_back({name, TensorView{owned.back().data(), t.dtype, t.shape}});
  }
  write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

}  // namespace r1::test
