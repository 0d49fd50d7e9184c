#include "model/io/safetensors.h"

#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "model/io/mapped_file.h"
#include "model/io/safetensors_table.h"
#include "model/tokenizer/tokenizer.h"

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

// Tensors a checkpoint may carry that are no parameters: a tied model's copy of the embeddings, RoPE tables.
void drop_non_parameters(std::map<std::string, torch::Tensor>& tensors, const ModelConfig& config) {
  if (config.tie_embeddings) tensors.erase("lm_head.weight");
  tensors.erase("model.rotary_emb.inv_freq");
  for (int64_t i = 0; i < config.n_layers; ++i)
    tensors.erase("model.layers." + std::to_string(i) + ".self_attn.rotary_emb.inv_freq");
}

// A sharded folder, one shard at a time: each is mapped, its tensors copied into the model and the mapping
// dropped before the next, so that the load holds the model and about one tensor of one shard.
void load_shards(const fs::path& dir, const std::string& index_path, const ModelConfig& config, Llama& model) {
  auto index = read_json(index_path);
  if (!index.contains("weight_map") || !index["weight_map"].is_object()) fail(index_path, ": no weight_map");
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) fail(index_path, ": weight_map[\"", name, "\"] is ", file.dump(), ", expected a file name");
    shards.insert(file.get<std::string>());
  }
  model = Llama(config, WeightInit::none);
  StateDictLoader loader(model);
  std::set<std::string> read;
  for (const auto& shard : shards) {
    const std::string shard_path = (dir / shard).string();
    auto tensors = read_safetensors(shard_path);
    for (const auto& [name, t] : tensors) read.insert(name);
    drop_non_parameters(tensors, config);
    loader.copy(tensors, shard_path);
  }
  for (const auto& [name, file] : index["weight_map"].items())
    if (!read.count(name)) fail(index_path, ": tensor ", name, " is listed for ", file.get<std::string>(), " but not in it");
  loader.finish(index_path);
}

// The 8-byte length and the JSON table of a safetensors file holding tensors in dtype, in order, end to end.
std::string safetensors_header(const StateDict& tensors, torch::ScalarType dtype) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * c10::elementSize(dtype);
    header[name] = {{"dtype", dtype_name(dtype)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

// Each tensor's bytes in dtype, one tensor converted at a time.
void for_each_tensor_bytes(const StateDict& tensors, torch::ScalarType dtype, const std::function<void(std::string_view)>& f) {
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).to(dtype).contiguous();
    f(std::string_view(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel()) * c.element_size()));
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
  const auto file = MappedFile::open(path);
  if (sha256) *sha256 = file->sha256();
  const SafetensorsTable table = read_safetensors_table(file->bytes(), path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : table.entries) {
    const auto type = parse_dtype(e.dtype, path + " tensor " + e.name);
    const uint64_t offset = table.data_start + e.begin;
    if (offset % c10::elementSize(type) == 0) {
      out[e.name] = file->view(offset, e.shape, type);
    } else {  // a header whose length is no multiple of the element size: this tensor is copied out
      auto t = torch::empty(e.shape, torch::TensorOptions().dtype(type));
      std::memcpy(t.data_ptr(), file->bytes().data() + offset, e.end - e.begin);
      file->release(offset, e.end - e.begin);
      out[e.name] = t;
    }
  }
  return out;
}

std::string encode_safetensors(const StateDict& tensors, torch::ScalarType dtype) {
  std::string out = safetensors_header(tensors, dtype);
  for_each_tensor_bytes(tensors, dtype, [&](std::string_view bytes) { out.append(bytes); });
  return out;
}

void write_safetensors(const std::string& path, const StateDict& tensors, torch::ScalarType dtype) {
  AtomicFile file(path);
  file.write(safetensors_header(tensors, dtype));
  for_each_tensor_bytes(tensors, dtype, [&](std::string_view bytes) { file.write(bytes); });
  file.commit();
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

  // One file: its tensors are views of its mapping, copied into the model one at a time (load_state_dict).
  auto load_file = [&](const std::string& file, std::string* sha256) {
    auto tensors = read_safetensors(file, sha256);
    drop_non_parameters(tensors, config);
    out.model = Llama(config, WeightInit::none);
    load_state_dict(out.model, tensors, file);
  };
  if (!fs::is_directory(path)) {
    load_file(path, &out.sha256);
  } else if (file_exists((dir / "model.safetensors").string())) {
    load_file((dir / "model.safetensors").string(), nullptr);
  } else if (file_exists((dir / "model.safetensors.index.json").string())) {
    load_shards(dir, (dir / "model.safetensors.index.json").string(), config, out.model);
  } else {
    fail(dir.string(), ": no model.safetensors or model.safetensors.index.json");
  }
  if (const std::string tokenizer = folder_tokenizer(dir.string()); !tokenizer.empty()) {
    out.tokenizer_model = read_file(tokenizer);
    out.meta["tokenizer"] = tokenizer;
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
  write_safetensors((fs::path(dir) / "model.safetensors").string(), state_dict(model), type);
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  // The folder's tokenizer is the one this model carries, or none: a tokenizer left by an earlier model would be
  // loaded with these weights (wr and transformers read tokenizer.json first, then tokenizer.model).
  const std::string written = tokenizer_model.empty() ? "" : tokenizer_file_name(tokenizer_format(tokenizer_model));
  for (const char* stale : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
    if (written != stale) remove_durably((fs::path(dir) / stale).string());
  if (!written.empty()) write_file_atomic((fs::path(dir) / written).string(), tokenizer_model);
}

}  // namespace wr
