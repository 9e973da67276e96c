#pragma once
// Model configuration read from a Hugging Face config.json. Only data; parsing lives in hf_config.cpp.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace r1 {

enum class Arch { Llama, Qwen2, Qwen3 };

enum class RopeType { Default, Linear, Llama3, Yarn };

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position = 0;
  // yarn
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 0.0, mscale_all_dim = 0.0;
  double attention_factor = 0.0;  // 0: derived from factor / mscale
  bool truncate = true;
  double partial_rotary_factor = 1.0;
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string architecture;  // as written in config.json
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 0;
  RopeConfig rope;
  bool qkv_bias = false;   // Qwen2 always; Llama/Qwen3 with attention_bias
  bool o_bias = false;     // Llama/Qwen3 with attention_bias
  bool mlp_bias = false;   // Llama mlp_bias
  bool qk_norm = false;    // Qwen3
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;

  int64_t rotary_dim() const { return int64_t(double(head_dim) * rope.partial_rotary_factor); }
  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

const char* arch_name(Arch a);
const char* rope_type_name(RopeType t);

// Parses and checks config.json text; `origin` names the file in errors.
ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin);
ModelConfig load_hf_config(const std::filesystem::path& model_dir);

// The architectures this build loads, as config.json names them.
std::vector<std::string> supported_architectures();

}  // namespace r1
