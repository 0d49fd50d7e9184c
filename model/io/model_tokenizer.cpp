#include "model/io/model_tokenizer.h"

#include <filesystem>

#include "common/error.h"
#include "common/file.h"

namespace wr {

Tokenizer model_tokenizer(const LoadedModel& m, const std::string& model_path, const std::string& tokenizer_path) {
  const auto carried = m.meta.find("tokenizer");  // an HF directory names its tokenizer file
  const std::string source = carried != m.meta.end() && carried->is_string() ? carried->get<std::string>() : model_path;
  auto tok = !tokenizer_path.empty() ? Tokenizer::from_file(tokenizer_path)
             : !m.tokenizer_model.empty() ? Tokenizer::from_bytes(m.tokenizer_model, source)
             : throw Error(model_path + ": carries no tokenizer; pass --tokenizer (a .model, tokenizer.json or HF directory)");
  std::string dir = tokenizer_path;
  if (dir.empty() && m.format == ModelFormat::hf) dir = std::filesystem::path(source).parent_path().string();
  if (is_directory(dir) && file_exists(dir + "/tokenizer_config.json")) tok.read_hf_config(dir + "/tokenizer_config.json");
  if (tok.vocab_size() > m.model->config.vocab_size)
    fail(model_path, ": the tokenizer has ", tok.vocab_size(), " pieces but the model's vocab_size is ",
         m.model->config.vocab_size, " (pass the tokenizer the model was trained with: --tokenizer)");
  return tok;
}

BosRule default_bos(ModelFormat format, const Tokenizer& tok) {
  if (format == ModelFormat::native) return {true, "a wr checkpoint: wr-train starts every document with BOS"};
  if (format == ModelFormat::llama2c) return {true, "a llama2.c model: trained with BOS first"};
  return tok.bos_rule();
}

}  // namespace wr
