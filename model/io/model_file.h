// Model files in three formats, behind one load/save pair:
//   native      ckpt.pt (native.h)
//   hf          a Hugging Face LLaMA directory: config.json + model.safetensors or a sharded index (safetensors.h)
//   llama2c     llama2.c .bin, legacy v0 header and v1 "ak42" (llama2c.h)
// Every reader checks names, shapes and sizes and throws wr::Error naming the file and what was wrong.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "model/io/state_dict.h"

namespace wr {

// From an explicit name ("native", "hf", "llama2c") or, when name is empty, from the path:
// *.pt native, *.bin llama2c, a directory, *.safetensors or a name without extension hf.
ModelFormat model_format(const std::string& path, const std::string& name = "");
const char* format_name(ModelFormat f);

LoadedModel load_model(const std::string& path, const std::string& format_name = "");
// Writes atomically. dtype applies to safetensors ("f32", "bf16", "f16"); native and llama2c are f32.
void save_model(Llama& model, const std::string& path, ModelFormat format, const nlohmann::json& meta = {},
                const std::string& tokenizer_model = "", const std::string& dtype = "f32");

}  // namespace wr
