#pragma once
// Model configuration read from a Hugging Face config.json. Only data; parsing lives in hf_config.cpp.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace r1 {

enum class Arch { Llama, Qwen2, Qwen3, DeepseekV2, DeepseekV3 };

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

// Multi-head Latent Attention (DeepSeek-V2/V3). Keys and values are rebuilt per head from a shared latent of
// kv_lora_rank values; a decoupled rope part of qk_rope_head_dim is shared by all heads.
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: a direct q_proj (config.json null)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool rope_interleave = true;  // adjacent-pair rope on the decoupled part; DeepSeek-V2 always

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t latent_dim() const { return kv_lora_rank + qk_rope_head_dim; }  // cached per token per layer
};

// Mixture of experts (DeepSeek-V2/V3): dense MLP below first_k_dense_replace, then routed + shared experts.
enum class MoeScoring { Softmax, Sigmoid };                        // V2, V3
enum class MoeTopkMethod { Greedy, GroupLimitedGreedy, NoAuxTc };  // NoAuxTc: V3's biased group-limited top-k

struct MoeConfig {
  int64_t n_routed_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_shared_experts = 0;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  MoeScoring scoring = MoeScoring::Softmax;
  MoeTopkMethod topk_method = MoeTopkMethod::Greedy;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
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
  int64_t head_dim = 0;  // DeepSeek: qk_rope_head_dim, the rotary part (as transformers sets it)
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 0;
  RopeConfig rope;
  bool qkv_bias = false;  // Qwen2 always; Llama/Qwen3 with attention_bias
  bool o_bias = false;    // Llama/Qwen3 with attention_bias
  bool mlp_bias = false;  // Llama mlp_bias
  bool qk_norm = false;   // Qwen3
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;
  MlaConfig mla;           // DeepSeek only
  MoeConfig moe;           // DeepSeek only
  int64_t mtp_layers = 0;  // num_nextn_predict_layers: multi-token-prediction layers, not loaded

  bool is_deepseek() const { return arch == Arch::DeepseekV2 || arch == Arch::DeepseekV3; }
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
