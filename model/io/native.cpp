#include "model/io/native.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <iterator>
#include <set>
#include <string_view>
#include <tuple>

#include "common/error.h"
#include "common/file.h"
#include "model/io/mapped_file.h"
#include "model/io/torch_archive.h"

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

// Whether t is all of its storage, in order: what the pickler writes for a tensor is its whole storage.
bool is_whole_storage(const torch::Tensor& t) {
  return t.device().is_cpu() && t.is_contiguous() && t.storage_offset() == 0 &&
         t.storage().nbytes() == static_cast<size_t>(t.numel()) * t.element_size();
}

c10::impl::GenericDict tensor_dict(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  // Each tensor pickles only its own storage: a view of a larger one (or a tensor elsewhere than the CPU) as a
  // contiguous CPU clone; a model's parameters are their own storages already, and a copy of the weights here
  // would be one more model in memory while a checkpoint is written.
  for (const auto& [name, t] : tensors)
    dict.insert(name, is_whole_storage(t) ? t.detach() : t.detach().to(torch::kCPU).contiguous().clone());
  return dict;
}

// Whether a tensor's elements all lie in its storage: LibTorch's unpickler sets the shape and strides a pickle
// declares without checking them against the storage, which is a view of the file here.
bool fits_storage(const torch::Tensor& t) {
  if (t.numel() == 0) return true;
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0) return false;
    last += (t.size(d) - 1) * t.stride(d);
  }
  return t.storage_offset() >= 0 && static_cast<uint64_t>(last) < t.storage().nbytes() / t.element_size();
}

std::map<std::string, torch::Tensor> tensors_of(const c10::IValue& v, const std::string& where) {
  if (!v.isGenericDict()) fail(where, " is not a dictionary of tensors");
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) fail(where, " holds a non-tensor entry");
    const auto& t = kv.value().toTensor();
    if (!fits_storage(t))
      fail(where, " tensor ", kv.key().toStringRef(), ": shape ", t.sizes(), " and strides ", t.strides(),
           " reach past its storage of ", t.storage().nbytes(), " bytes; truncated or edited?");
    out[kv.key().toStringRef()] = t;
  }
  return out;
}

// A ckpt.pt in memory (the file's mapping) for LibTorch's zip reader (miniz). torch::pickle_load's own adapter
// copies whatever range miniz asks for, even past the end of the buffer, which a damaged central directory makes
// it do (found by fuzz_checkpoint): this one returns only the bytes there are, and miniz refuses the archive.
class BoundedReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(std::string_view data) : data_(data) {}
  size_t size() const override { return data_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= data_.size()) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos));
    std::memcpy(buf, data_.data() + pos, n);
    return n;
  }

 private:
  std::string_view data_;
};

// What torch::pickle_load does (torch.save's archive "data" and its tensors, as readArchiveAndTensors reads
// them), through BoundedReader, except that a storage whose record is stored uncompressed at a 64-byte boundary
// (every record torch.save and save_native write) is a view of the mapped file, not a copy read out of it.
// Any other record is read by LibTorch's zip reader as before.
c10::IValue unpickle(const MappedFile& file, const TorchArchive& archive) {
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(file.bytes()));
  at::DataPtr pickle;
  size_t pickle_size = 0, pickle_read = 0;
  std::tie(pickle, pickle_size) = reader.getRecord("data.pkl");
  auto read_pickle = [&](char* buf, size_t n) -> size_t {
    n = std::min(n, pickle_size - pickle_read);
    std::memcpy(buf, static_cast<const char*>(pickle.get()) + pickle_read, n);
    pickle_read += n;
    return n;
  };
  auto read_record = [&](const std::string& key) -> at::DataPtr {
    const std::string name = "data/" + key;
    if (const auto it = archive.stored_records.find(name); it != archive.stored_records.end()) {
      const uint64_t offset = reader.getRecordOffset(name), size = file.bytes().size();
      if (offset % 64 == 0 && offset <= size && it->second <= size - offset) return file.data_ptr(offset);
    }
    return std::get<0>(reader.getRecord(name));
  };
  torch::jit::Unpickler unpickler(read_pickle, nullptr, nullptr, read_record, {});
  unpickler.set_version(reader.version());
  return unpickler.parse_ivalue();
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

void write_pickle_archive(const std::string& path, const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); });
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  AtomicFile file(path);
  // A failed write is not thrown through the zip writer's C code, nor reported to it (its destructor would throw
  // finishing the archive): the rest of the archive goes nowhere, and the error is thrown once the writer is done.
  std::exception_ptr failed;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) -> size_t {
      if (failed) return n;
      try {
        file.write(std::string_view(static_cast<const char*>(bytes), n));
      } catch (...) {
        failed = std::current_exception();
      }
      return n;
    });
    try {
      torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
      writer.writeEndOfFile();
    } catch (const std::exception& e) {
      if (failed) std::rethrow_exception(failed);
      fail("cannot write ", path, ": ", std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
    }
  }
  if (failed) std::rethrow_exception(failed);
  file.commit();
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
  write_pickle_archive(path, ckpt);
}

NativeCheckpoint read_native(const std::string& path) {
  const auto file = MappedFile::open(path);
  const std::string sha256 = file->sha256();
  const TorchArchive archive = check_torch_archive(file->bytes(), path);
  // Reading the zip's headers maps a page cache block (up to 2 MB on this kernel) around each: given back here and
  // after the unpickler's reads, so that what the checks touched is not held while the model is copied.
  file->release(0, file->bytes().size());
  c10::IValue root;
  try {
    root = unpickle(*file, archive);
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
  if (dict.contains("tokenizer")) {
    const auto& t = dict.at("tokenizer");
    if (!t.isTensor() || !fits_storage(t.toTensor())) fail(path, ": its tokenizer entry is not a tensor of bytes within its storage");
    all.push_back(t.toTensor());
  }
  for (const auto& [name, t] : out.extra) all.push_back(t);
  check_storage_records(archive, all, path);
  if (dict.contains("tokenizer")) {
    auto t = dict.at("tokenizer").toTensor().contiguous();
    out.tokenizer_model.assign(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
  }
  file->release(0, file->bytes().size());
  return out;
}

LoadedModel load_native(const std::string& path, std::map<std::string, torch::Tensor>* extra) {
  NativeCheckpoint ckpt = read_native(path);
  LoadedModel out;
  out.format = ModelFormat::native;
  out.model = Llama(ckpt.config, WeightInit::none);
  load_state_dict(out.model, ckpt.weights, path);
  out.meta = std::move(ckpt.meta);
  out.tokenizer_model = std::move(ckpt.tokenizer_model);
  out.sha256 = std::move(ckpt.sha256);
  if (extra) *extra = std::move(ckpt.extra);
  return out;
}

}  // namespace wr
