// wr's native ckpt.pt: a PyTorch zip/pickle that Python torch.load opens as a dict
//   {"format": "wr", "version": 1, "config": {...}, "model": {hf_name: tensor}, "meta": {...},
//    "tokenizer": uint8 tensor of the tokenizer file: SentencePiece model or tokenizer.json (optional),
//    "extra": {name: tensor} (the trainer's optimizer state and RNG, optional)}
// read through a read-only mapping, its zip and pickle checked (torch_archive.h) before LibTorch's unpickler runs.
#pragma once
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "model/io/state_dict.h"

namespace wr {

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
