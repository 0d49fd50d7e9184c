#include "model/tokenizer.h"

#include "common/error.h"
#include "common/file.h"
#include "model/hf_tokenizer.h"

namespace wr {

Tokenizer Tokenizer::from_file(const std::string& path) {
  if (!is_directory(path)) return from_bytes(read_file(path), path);
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (file_exists(path + "/" + name)) return from_file(path + "/" + name);
  fail(path, ": a directory without tokenizer.json or tokenizer.model");
}

TokenizerFormat tokenizer_format(const std::string& bytes) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  return first != std::string::npos && bytes[first] == '{' ? TokenizerFormat::hf_json : TokenizerFormat::sentencepiece;
}

Tokenizer Tokenizer::from_bytes(const std::string& model_bytes, const std::string& source) {
  Tokenizer t;
  t.format_ = tokenizer_format(model_bytes);
  t.impl_ = t.format_ == TokenizerFormat::hf_json ? load_hf_tokenizer(model_bytes, source)
                                                  : load_sentencepiece(model_bytes, source);
  t.bytes_ = model_bytes;
  t.source_ = source;
  return t;
}

int Tokenizer::bos_id() const {
  const int id = impl_->bos_id();
  if (id < 0) fail(source_, ": the tokenizer names no BOS token (wanted for --bos and document starts)");
  return id;
}

int Tokenizer::eos_id() const {
  const int id = impl_->eos_id();
  if (id < 0) fail(source_, ": the tokenizer names no EOS token (wanted for --eos and generation)");
  return id;
}

}  // namespace wr
