// The LLaMA architecture as plain numbers, read from and written to JSON (configs/model/*.json).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace wr {

struct ModelConfig {
  int64_t dim = 256;          // hidden size (d_model)
  int64_t n_layers = 4;       // decoder layers
  int64_t n_heads = 8;        // query heads; head_dim = dim / n_heads
  int64_t n_kv_heads = 8;     // key/value heads (< n_heads: grouped-query attention)
  int64_t ffn_dim = 688;      // SwiGLU hidden size (gate/up rows, down columns)
  int64_t vocab_size = 32000;
  int64_t max_seq_len = 512;  // longest sequence the model is trained or evaluated on
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;     // RMSNorm epsilon
  bool tie_embeddings = false;  // lm_head shares embed_tokens.weight

  int64_t head_dim() const { return dim / n_heads; }
  int64_t n_params() const;  // parameters counted once when tied
  // Throws wr::Error naming `source` when a field is out of range or inconsistent.
  void validate(const std::string& source) const;
};

// Reads our field names; unknown keys are an error naming `source`.
ModelConfig config_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json config_to_json(const ModelConfig& c);
ModelConfig load_config_file(const std::string& path);

// Hugging Face LlamaConfig (config.json) field names.
ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& source);
nlohmann::json config_to_hf_json(const ModelConfig& c);

}  // namespace wr
