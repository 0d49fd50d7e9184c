#include "model/checkpoint.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "model/llama2c.h"
#include "model/safetensors.h"
#include "model/torch_archive.h"

namespace wr {
namespace {

// JSON <-> IValue, so that config and meta pickle as plain Python dicts, lists and numbers.
c10::IValue to_ivalue(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return c10::IValue();
    case nlohmann::json::value_t::boolean: return j.get<bool>();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return j.get<int64_t>();
    case nlohmann::json::value_t::number_float: return j.get<double>();
    case nlohmann::json::value_t::string: return j.get<std::string>();
    case nlohmann::json::value_t::array: {
      c10::impl::GenericList list(c10::AnyType::get());
      for (const auto& x : j) list.push_back(to_ivalue(x));
      return list;
    }
    case nlohmann::json::value_t::object: {
      c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
      for (const auto& [k, v] : j.items()) dict.insert(k, to_ivalue(v));
      return dict;
    }
    default: fail("cannot store JSON value ", j.dump(), " in a checkpoint");
  }
}

nlohmann::json to_json(const c10::IValue& v, const std::string& where) {
  if (v.isNone()) return nullptr;
  if (v.isBool()) return v.toBool();
  if (v.isInt()) return v.toInt();
  if (v.isDouble()) return v.toDouble();
  if (v.isString()) return v.toStringRef();
  if (v.isList()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v.toListRef()) out.push_back(to_json(x, where));
    return out;
  }
  if (v.isGenericDict()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : v.toGenericDict()) {
      if (!kv.key().isString()) fail(where, ": non-string key in a dictionary");
      out[kv.key().toStringRef()] = to_json(kv.value(), where);
    }
    return out;
  }
  fail(where, ": unexpected value of type ", v.tagKind());
}

c10::impl::GenericDict tensor_dict(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  // contiguous clones on the CPU, so each tensor pickles only its own storage
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  return dict;
}

std::map<std::string, torch::Tensor> tensors_of(const c10::IValue& v, const std::string& where) {
  if (!v.isGenericDict()) fail(where, " is not a dictionary of tensors");
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) fail(where, " holds a non-tensor entry");
    out[kv.key().toStringRef()] = kv.value().toTensor();
  }
  return out;
}

// An in-memory ckpt.pt for LibTorch's zip reader (miniz). torch::pickle_load's own adapter copies whatever range
// miniz asks for, even past the end of the buffer, which a damaged central directory makes it do (found by
// fuzz_checkpoint): this one returns only the bytes there are, and miniz refuses the archive.
class BoundedReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::string& data) : data_(data) {}
  size_t size() const override { return data_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= data_.size()) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos));
    std::memcpy(buf, data_.data() + pos, n);
    return n;
  }

 private:
  const std::string& data_;
};

// What torch::pickle_load does (torch.save's archive "data" and its tensors), through BoundedReader.
c10::IValue unpickle(const std::string& data) {
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(data));
  return torch::jit::readArchiveAndTensors("data", "", "", {}, {}, {}, reader);
}

// LibTorch sizes each storage by what the pickle declares and reads that many bytes from its zip record, even
// when the record is shorter (a truncated or edited file): the weights would be whatever follows. Every storage
// is one record, so the multiset of the loaded storages' sizes must be the multiset of the records' sizes.
void check_storage_records(const TorchArchive& archive, const std::vector<torch::Tensor>& tensors, const std::string& path) {
  const std::multiset<uint64_t> records(archive.storage_record_sizes.begin(), archive.storage_record_sizes.end());
  std::multiset<uint64_t> storages;
  std::set<const void*> seen;
  for (const auto& t : tensors)
    if (t.has_storage() && seen.insert(t.storage().data()).second) storages.insert(t.storage().nbytes());
  if (storages == records) return;
  std::vector<uint64_t> declared_only, stored_only;
  std::set_difference(storages.begin(), storages.end(), records.begin(), records.end(), std::back_inserter(declared_only));
  std::set_difference(records.begin(), records.end(), storages.begin(), storages.end(), std::back_inserter(stored_only));
  fail(path, ": its tensors' storages and its data records differ (", declared_only.empty() ? 0 : declared_only[0],
       " bytes declared, ", stored_only.empty() ? 0 : stored_only[0], " stored); truncated or edited?");
}

}  // namespace

ModelFormat model_format(const std::string& path, const std::string& name) {
  if (name == "native" || name == "pt") return ModelFormat::native;
  if (name == "hf" || name == "safetensors") return ModelFormat::hf;
  if (name == "llama2c" || name == "bin") return ModelFormat::llama2c;
  if (!name.empty()) fail("unknown model format '", name, "' (expected native, hf or llama2c)");
  if (ends_with(path, ".pt")) return ModelFormat::native;
  if (ends_with(path, ".bin")) return ModelFormat::llama2c;
  if (ends_with(path, ".safetensors") || ends_with(path, "/") || is_directory(path)) return ModelFormat::hf;
  const std::string base = path.substr(path.find_last_of('/') + 1);
  if (base.find('.') == std::string::npos) return ModelFormat::hf;  // a directory-to-be
  fail(path, ": cannot tell the model format from the name (use .pt, .bin, a directory, or --format)");
}

const char* format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::native: return "native";
    case ModelFormat::hf: return "hf";
    case ModelFormat::llama2c: return "llama2c";
  }
  return "?";
}

StateDict state_dict(Llama& model) {
  StateDict out;
  for (const auto& p : model->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

void load_state_dict(Llama& model, const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::set<std::string> seen;
  for (auto& p : model->named_parameters()) {
    auto it = tensors.find(p.key());
    if (it == tensors.end()) fail(source, ": missing tensor ", p.key());
    const auto& t = it->second;
    if (!t.is_floating_point())  // copy_ would convert integers silently
      fail(source, ": tensor ", p.key(), " has dtype ", t.dtype(), ", expected floating point weights");
    if (t.sizes() != p.value().sizes())
      fail(source, ": tensor ", p.key(), " has shape ", t.sizes(), ", the config implies ", p.value().sizes());
    p.value().copy_(t);
    seen.insert(p.key());
  }
  for (const auto& [name, t] : tensors)
    if (!seen.count(name)) fail(source, ": unexpected tensor ", name, " (not part of this model config)");
}

void save_native(const std::string& path, Llama& model, const nlohmann::json& meta, const std::string& tokenizer_model,
                 const std::map<std::string, torch::Tensor>& extra) {
  c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
  ckpt.insert("format", std::string("wr"));
  ckpt.insert("version", int64_t{1});
  ckpt.insert("config", to_ivalue(config_to_json(model->config)));
  ckpt.insert("model", tensor_dict(state_dict(model)));
  ckpt.insert("meta", to_ivalue(meta.is_null() ? nlohmann::json::object() : meta));
  if (!tokenizer_model.empty()) {
    auto bytes = torch::empty({static_cast<int64_t>(tokenizer_model.size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), tokenizer_model.data(), tokenizer_model.size());
    ckpt.insert("tokenizer", bytes);
  }
  if (!extra.empty()) ckpt.insert("extra", tensor_dict({extra.begin(), extra.end()}));
  std::vector<char> bytes = torch::pickle_save(ckpt);
  write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

NativeCheckpoint read_native(const std::string& path) {
  std::string data = read_file(path);
  const std::string sha256 = sha256_hex(data);
  const TorchArchive archive = check_torch_archive(data, path);
  c10::IValue root;
  try {
    root = unpickle(data);
  } catch (const std::exception& e) {
    std::string what = e.what();
    fail(path, ": not a readable ckpt.pt (truncated or corrupt zip/pickle): ", what.substr(0, what.find('\n')));
  }
  if (!root.isGenericDict()) fail(path, ": not a wr checkpoint (top level is not a dict)");
  auto dict = root.toGenericDict();
  auto get = [&](const char* key) -> c10::IValue {
    if (!dict.contains(key)) fail(path, ": not a wr checkpoint (no '", key, "' entry)");
    return dict.at(key);
  };
  if (!get("format").isString() || get("format").toStringRef() != "wr") fail(path, ": not a wr checkpoint");
  if (get("version").toInt() != 1) fail(path, ": unsupported checkpoint version ", get("version").toInt());
  NativeCheckpoint out;
  out.sha256 = sha256;
  out.config = config_from_json(to_json(get("config"), path), path + " config");
  out.weights = tensors_of(get("model"), path + " model");
  out.meta = to_json(get("meta"), path);
  if (dict.contains("extra")) out.extra = tensors_of(dict.at("extra"), path + " extra");
  std::vector<torch::Tensor> all;
  for (const auto& [name, t] : out.weights) all.push_back(t);
  if (dict.contains("tokenizer")) all.push_back(dict.at("tokenizer").toTensor());
  for (const auto& [name, t] : out.extra) all.push_back(t);
  check_storage_records(archive, all, path);
  if (dict.contains("tokenizer")) {
    auto t = dict.at("tokenizer").toTensor().contiguous();
    out.tokenizer_model.assign(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
  }
  return out;
}

LoadedModel load_native(const std::string& path, std::map<std::string, torch::Tensor>* extra) {
  NativeCheckpoint ckpt = read_native(path);
  LoadedModel out;
  out.format = ModelFormat::native;
  out.model = Llama(ckpt.config);
  load_state_dict(out.model, ckpt.weights, path);
  out.meta = std::move(ckpt.meta);
  out.tokenizer_model = std::move(ckpt.tokenizer_model);
  out.sha256 = std::move(ckpt.sha256);
  if (extra) *extra = std::move(ckpt.extra);
  return out;
}

LoadedModel load_model(const std::string& path, const std::string& format) {
  if (!file_exists(path)) fail(path, ": no such file or directory");
  switch (model_format(path, format)) {
    case ModelFormat::native: return load_native(path);
    case ModelFormat::hf: return load_hf(path);
    case ModelFormat::llama2c: return load_llama2c(path);
  }
  fail("unreachable");
}

void save_model(Llama& model, const std::string& path, ModelFormat format, const nlohmann::json& meta,
                const std::string& tokenizer_model, const std::string& dtype) {
  // Before anything is written, and for every format: only safetensors store other dtypes than f32.
  if (dtype_from_flag(dtype) != torch::kFloat32 && format != ModelFormat::hf)
    fail("dtype ", dtype, ": only Hugging Face safetensors are written in other dtypes; ", format_name(format), " files hold f32");
  switch (format) {
    case ModelFormat::native: return save_native(path, model, meta, tokenizer_model);
    case ModelFormat::hf: return save_hf(path, model, dtype, tokenizer_model);
    case ModelFormat::llama2c: return save_llama2c(path, model);
  }
}

}  // namespace wr
