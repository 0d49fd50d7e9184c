// Hugging Face safetensors (our own reader/writer on nlohmann_json) and LLaMA model directories.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, then the data.
// Files are read through a read-only mapping (model/io/mapped_file.h), a sharded folder one shard at a time, and
// written a tensor at a time: loading or saving holds the model and little more.
#pragma once
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "model/io/state_dict.h"

namespace wr {

// F32, F16 and BF16 tensors; anything else, or offsets that do not fit the file, is an error naming path.
// sha256, when given, receives the hash of the bytes the tensors were read from. The tensors are views of the
// file's read-only mapping (MappedFile), kept while any of them lives: read them or copy them, never write into
// them.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path, std::string* sha256 = nullptr);
// The dtype a --dtype flag names: f32, bf16 or f16 (or their long names); anything else is an error.
torch::ScalarType dtype_from_flag(const std::string& flag);
// dtype: torch::kFloat32, kFloat16 or kBFloat16.
std::string encode_safetensors(const StateDict& tensors, torch::ScalarType dtype);
// The same bytes written to path (atomically) as they are made, one tensor converted at a time: writing holds one
// converted tensor, not the whole file (save_hf, and so wr-model convert).
void write_safetensors(const std::string& path, const StateDict& tensors, torch::ScalarType dtype);

// A directory (or a model.safetensors inside one) with config.json and model.safetensors or
// model.safetensors.index.json; tokenizer.model is picked up when present.
LoadedModel load_hf(const std::string& path);
void save_hf(const std::string& dir, Llama& model, const std::string& dtype, const std::string& tokenizer_model);

}  // namespace wr
