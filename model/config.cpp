#include "model/config.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/json_number.h"

namespace wr {

namespace {

// In doubles, so that absurd sizes do not wrap around before validate() can refuse them.
double parameter_count(const ModelConfig& c) {
  const double dim = static_cast<double>(c.dim), kv = static_cast<double>(c.n_kv_heads) * static_cast<double>(c.head_dim());
  const double per_layer = dim * dim * 2 + dim * kv * 2 + 3 * dim * static_cast<double>(c.ffn_dim) + 2 * dim;
  return static_cast<double>(c.vocab_size) * dim * (c.tie_embeddings ? 1 : 2) + static_cast<double>(c.n_layers) * per_layer + dim;
}

// 10^15 parameters (16 PB to train in f32 with AdamW): far beyond any machine, and exact in a double.
constexpr double kMaxParameters = 1e15;

}  // namespace

int64_t ModelConfig::n_params() const { return static_cast<int64_t>(parameter_count(*this)); }

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) fail(source, ": ", name, " must be positive, got ", v);
  };
  positive("dim", dim);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("ffn_dim", ffn_dim);
  positive("vocab_size", vocab_size);
  positive("max_seq_len", max_seq_len);
  if (dim % n_heads != 0) fail(source, ": dim ", dim, " is not divisible by n_heads ", n_heads);
  if (head_dim() % 2 != 0) fail(source, ": head_dim ", head_dim(), " must be even for RoPE");
  if (n_heads % n_kv_heads != 0) fail(source, ": n_heads ", n_heads, " is not a multiple of n_kv_heads ", n_kv_heads);
  if (!(rope_theta > 0)) fail(source, ": rope_theta must be positive");
  if (!(norm_eps > 0)) fail(source, ": norm_eps must be positive");
  if (parameter_count(*this) > kMaxParameters)
    fail(source, ": dim ", dim, ", n_layers ", n_layers, ", ffn_dim ", ffn_dim, " and vocab_size ", vocab_size, " make ",
         parameter_count(*this), " parameters, more than the 1e15 wr accepts");
}

ModelConfig config_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source, ": model config must be a JSON object");
  ModelConfig c;
  for (const auto& [key, v] : j.items()) {
    try {
      if (key == "dim") c.dim = json_integer(v, source + ": dim");
      else if (key == "n_layers") c.n_layers = json_integer(v, source + ": n_layers");
      else if (key == "n_heads") c.n_heads = json_integer(v, source + ": n_heads");
      else if (key == "n_kv_heads") c.n_kv_heads = json_integer(v, source + ": n_kv_heads");
      else if (key == "ffn_dim") c.ffn_dim = json_integer(v, source + ": ffn_dim");
      else if (key == "vocab_size") c.vocab_size = json_integer(v, source + ": vocab_size");
      else if (key == "max_seq_len") c.max_seq_len = json_integer(v, source + ": max_seq_len");
      else if (key == "rope_theta") c.rope_theta = v.get<double>();
      else if (key == "norm_eps") c.norm_eps = v.get<double>();
      else if (key == "tie_embeddings") c.tie_embeddings = v.get<bool>();
      else if (key == "comment") continue;
      else fail(source, ": unknown model config key '", key, "'");
    } catch (const nlohmann::json::exception& e) {
      fail(source, ": model config key '", key, "' has the wrong type (", v.dump(), ")");
    }
  }
  c.validate(source);
  return c;
}

nlohmann::json config_to_json(const ModelConfig& c) {
  return {{"dim", c.dim},           {"n_layers", c.n_layers},     {"n_heads", c.n_heads},
          {"n_kv_heads", c.n_kv_heads}, {"ffn_dim", c.ffn_dim},   {"vocab_size", c.vocab_size},
          {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta}, {"norm_eps", c.norm_eps},
          {"tie_embeddings", c.tie_embeddings}};
}

ModelConfig load_config_file(const std::string& path) {
  nlohmann::json j;
  try {
    j = parse_json(read_file(path));
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    fail(path, ": invalid JSON: ", e.what());
  }
  return config_from_json(j, path);
}

ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& source) {
  auto need = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) fail(source, ": missing field '", key, "'");
    return j.at(key);
  };
  try {
    if (j.contains("model_type") && j.at("model_type") != "llama")
      fail(source, ": model_type is ", j.at("model_type").dump(), ", expected \"llama\"");
    if (j.value("hidden_act", std::string("silu")) != "silu")
      fail(source, ": hidden_act ", j.at("hidden_act").dump(), " is not supported (expected \"silu\")");
    ModelConfig c;
    c.dim = json_integer(need("hidden_size"), source + ": hidden_size");
    c.n_layers = json_integer(need("num_hidden_layers"), source + ": num_hidden_layers");
    c.n_heads = json_integer(need("num_attention_heads"), source + ": num_attention_heads");
    c.n_kv_heads = j.contains("num_key_value_heads") ? json_integer(j.at("num_key_value_heads"), source + ": num_key_value_heads") : c.n_heads;
    c.ffn_dim = json_integer(need("intermediate_size"), source + ": intermediate_size");
    c.vocab_size = json_integer(need("vocab_size"), source + ": vocab_size");
    c.max_seq_len = j.contains("max_position_embeddings") ? json_integer(j.at("max_position_embeddings"), source + ": max_position_embeddings") : 2048;
    c.rope_theta = j.value("rope_theta", 10000.0);
    c.norm_eps = j.value("rms_norm_eps", 1e-6);
    c.tie_embeddings = j.value("tie_word_embeddings", false);
    if (j.contains("rope_scaling") && !j.at("rope_scaling").is_null())
      fail(source, ": rope_scaling is not supported");
    c.validate(source);
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail(source, ": malformed Hugging Face config: ", e.what());
  }
}

nlohmann::json config_to_hf_json(const ModelConfig& c) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_act", "silu"},
          {"hidden_size", c.dim},
          {"intermediate_size", c.ffn_dim},
          {"num_attention_heads", c.n_heads},
          {"num_hidden_layers", c.n_layers},
          {"num_key_value_heads", c.n_kv_heads},
          {"vocab_size", c.vocab_size},
          {"max_position_embeddings", c.max_seq_len},
          {"rms_norm_eps", c.norm_eps},
          {"rope_theta", c.rope_theta},
          {"tie_word_embeddings", c.tie_embeddings},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"torch_dtype", "float32"}};
}

}  // namespace wr
