#include "model/io/model_file.h"

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "model/io/llama2c.h"
#include "model/io/native.h"
#include "model/io/safetensors.h"

namespace wr {

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
