// What every model file format shares: the Hugging Face names of a model's tensors (StateDict), copying read
// tensors into a model with every name, dtype and shape checked (StateDictLoader), and what a reader returns
// (LoadedModel). The formats (native.h, safetensors.h, llama2c.h) build on this; model_file.h picks one by name.
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

}  // namespace wr
