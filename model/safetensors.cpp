#include "model/safetensors.h"

#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "model/safetensors_table.h"
#include "model/tokenizer.h"

namespace wr {
namespace {

namespace fs = std::filesystem;

struct DType {
  const char* name;
  torch::ScalarType type;
};
const DType kDTypes[] = {{"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16}};

torch::ScalarType parse_dtype(const std::string& name, const std::string& where) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.type;
  fail(where, ": unsupported dtype '", name, "' (expected F32, F16 or BF16)");
}

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDTypes)
    if (t == d.type) return d.name;
  fail("safetensors: cannot write dtype ", t);
}

nlohmann::json read_json(const std::string& path) {
  try {
    return parse_json(read_file(path));
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    fail(path, ": invalid JSON: ", e.what());
  }
}

}  // namespace

torch::ScalarType dtype_from_flag(const std::string& flag) {
  if (flag == "f32" || flag == "float32") return torch::kFloat32;
  if (flag == "bf16" || flag == "bfloat16") return torch::kBFloat16;
  if (flag == "f16" || flag == "float16") return torch::kFloat16;
  fail("unknown dtype '", flag, "' (expected f32, bf16 or f16)");
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path, std::string* sha256) {
  const std::string data = read_file(path);
  if (sha256) *sha256 = sha256_hex(data);
  const SafetensorsTable table = read_safetensors_table(data, path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : table.entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(parse_dtype(e.dtype, path + " tensor " + e.name)));
    std::memcpy(t.data_ptr(), data.data() + table.data_start + e.begin, e.end - e.begin);
    out[e.name] = t;
  }
  return out;
}

std::string encode_safetensors(const StateDict& tensors, torch::ScalarType dtype) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<torch::Tensor> converted;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).to(dtype).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(dtype)}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    converted.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& c : converted) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return out;
}

LoadedModel load_hf(const std::string& path) {
  const bool is_dir = fs::is_directory(path);
  if (!is_dir && (path.size() < 12 || path.compare(path.size() - 12, 12, ".safetensors") != 0))
    fail(path, ": not a model (expected a .pt checkpoint, a llama2.c .bin, a .safetensors file or a Hugging Face "
         "directory)");
  fs::path dir = is_dir ? fs::path(path) : fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const std::string config_path = (dir / "config.json").string();
  if (!file_exists(config_path))
    fail(is_dir ? dir.string() + ": no config.json (expected a Hugging Face LLaMA directory)"
                : path + ": no config.json beside it (a .safetensors file is read with its Hugging Face directory's config)");
  LoadedModel out;
  out.format = ModelFormat::hf;
  ModelConfig config = config_from_hf_json(read_json(config_path), config_path);

  std::map<std::string, torch::Tensor> tensors;
  std::string source;
  if (!fs::is_directory(path)) {
    source = path;
    tensors = read_safetensors(path, &out.sha256);
  } else if (file_exists((dir / "model.safetensors").string())) {
    source = (dir / "model.safetensors").string();
    tensors = read_safetensors(source);
  } else if (file_exists((dir / "model.safetensors.index.json").string())) {
    source = (dir / "model.safetensors.index.json").string();
    auto index = read_json(source);
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) fail(source, ": no weight_map");
    std::set<std::string> shards;
    for (const auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string()) fail(source, ": weight_map[\"", name, "\"] is ", file.dump(), ", expected a file name");
      shards.insert(file.get<std::string>());
    }
    for (const auto& shard : shards)
      for (auto& [name, t] : read_safetensors((dir / shard).string())) tensors[name] = t;
    for (const auto& [name, file] : index["weight_map"].items())
      if (!tensors.count(name)) fail(source, ": tensor ", name, " is listed for ", file.get<std::string>(), " but not in it");
  } else {
    fail(dir.string(), ": no model.safetensors or model.safetensors.index.json");
  }
  if (config.tie_embeddings) tensors.erase("lm_head.weight");  // tied checkpoints may carry a copy
  tensors.erase("model.rotary_emb.inv_freq");
  for (int64_t i = 0; i < config.n_layers; ++i)
    tensors.erase("model.layers." + std::to_string(i) + ".self_attn.rotary_emb.inv_freq");
  out.model = Llama(config);
  load_state_dict(out.model, tensors, source);
  for (const char* name : {"tokenizer.json", "tokenizer.model"})  // the fast tokenizer first, as transformers does
    if (file_exists((dir / name).string())) {
      out.tokenizer_model = read_file((dir / name).string());
      out.meta["tokenizer"] = (dir / name).string();
      break;
    }
  return out;
}

void save_hf(const std::string& dir, Llama& model, const std::string& dtype, const std::string& tokenizer_model) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory ", dir, ": ", ec.message());
  auto config = config_to_hf_json(model->config);
  auto type = dtype_from_flag(dtype);
  config["torch_dtype"] = type == torch::kFloat32 ? "float32" : type == torch::kBFloat16 ? "bfloat16" : "float16";
  write_file_atomic((fs::path(dir) / "model.safetensors").string(), encode_safetensors(state_dict(model), type));
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  // The folder's tokenizer is the one this model carries, or none: a tokenizer left by an earlier model would be
  // loaded with these weights (wr and transformers read tokenizer.json first, then tokenizer.model).
  const std::string written = tokenizer_model.empty() ? "" : tokenizer_file_name(tokenizer_format(tokenizer_model));
  for (const char* stale : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
    if (written != stale) remove_durably((fs::path(dir) / stale).string());
  if (!written.empty()) write_file_atomic((fs::path(dir) / written).string(), tokenizer_model);
}

}  // namespace wr
