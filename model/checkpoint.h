// Model files in three formats, behind one load/save pair:
//   native      ckpt.pt: PyTorch zip/pickle that Python torch.load opens as a dict
//               {"format": "wr", "version": 1, "config": {...}, "model": {hf_name: tensor}, "meta": {...},
//                "tokenizer": uint8 tensor of the tokenizer file: SentencePiece model or tokenizer.json (optional)}
//   hf          a Hugging Face LLaMA directory: config.json + model.safetensors (or a sharded index)
//   llama2c     llama2.c .bin (legacy v0 header and v1 "ak42")
// Every reader checks names, shapes and sizes and throws wr::Error naming the file and what was wrong.
#pragma once
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"

namespace wr {

enum class ModelFormat { native, hf, llama2c };

// From an explicit name ("native", "hf", "llama2c") or, when name is empty, from the path:
// *.pt native, *.bin llama2c, a directory, *.safetensors or a name without extension hf.
ModelFormat model_format(const std::string& path, const std::string& name = "");
const char* format_name(ModelFormat f);

using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;  // Hugging Face names, in module order
StateDict state_dict(Llama& model);  // tied models have no lm_head.weight
// Copies every tensor into the model (converting dtype to the model's); a missing or unexpected name or a
// shape mismatch is an error naming source. A tensor that is a view of a mapped file (the readers' tensors) gives
// its pages back once copied, so that a load holds the model and about one tensor of the file.
void load_state_dict(Llama& model, const std::map<std::string, torch::Tensor>& tensors, const std::string& source);

// load_state_dict for tensors that come in parts (a sharded folder, one shard at a time; a llama2.c file, one
// layer at a time): copy() checks and copies one part (an unexpected name, a dtype or shape mismatch is an error
// naming source), finish() fails naming source when a parameter got no tensor.
class StateDictLoader {
 public:
  explicit StateDictLoader(Llama& model);
  void copy(const std::map<std::string, torch::Tensor>& part, const std::string& source);
  bool copied(const std::string& name) const { return copied_.count(name) > 0; }
  void finish(const std::string& source) const;

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;  // in the model's order
  std::set<std::string> copied_;
};

struct LoadedModel {
  Llama model{nullptr};
  nlohmann::json meta = nlohmann::json::object();  // step, run name, tokenizer path, ...
  std::string tokenizer_model;                      // tokenizer file bytes (either format), when the file carries them
  ModelFormat format = ModelFormat::native;
  // sha256 of the bytes the weights were read from, when MODEL names one file (empty for a directory): the file
  // under that path may be replaced while a run scores what it loaded.
  std::string sha256;
};

LoadedModel load_model(const std::string& path, const std::string& format_name = "");
// Writes atomically. dtype applies to safetensors ("f32", "bf16", "f16"); native and llama2c are f32.
void save_model(Llama& model, const std::string& path, ModelFormat format, const nlohmann::json& meta = {},
                const std::string& tokenizer_model = "", const std::string& dtype = "f32");

// torch::pickle_save(value)'s bytes (torch.save's zip: archive/data.pkl and a record per storage), written to path
// atomically as they are made: pickle_save builds the archive in one growing buffer, which held two to three
// models' worth of memory beside the model while save_native wrote a checkpoint.
void write_pickle_archive(const std::string& path, const c10::IValue& value);

// Native ckpt.pt. `extra` holds further entries (optimizer state, RNG) that the trainer stores next to the model.
void save_native(const std::string& path, Llama& model, const nlohmann::json& meta, const std::string& tokenizer_model,
                 const std::map<std::string, torch::Tensor>& extra = {});
LoadedModel load_native(const std::string& path, std::map<std::string, torch::Tensor>* extra = nullptr);
// A native checkpoint's entries without building a model from them, checked as load_native checks them: what
// the trainer restores into the model it is training. The tensors of weights and extra are views of the file's
// read-only mapping (MappedFile), kept while any of them lives: read them or copy them, never write into them.
struct NativeCheckpoint {
  ModelConfig config;
  std::map<std::string, torch::Tensor> weights;  // Hugging Face names
  nlohmann::json meta;
  std::string tokenizer_model;
  std::map<std::string, torch::Tensor> extra;
  std::string sha256;  // of the file's bytes as read
};
NativeCheckpoint read_native(const std::string& path);

}  // namespace wr
