#include "model/tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "model/tokenizer/hf_tokenizer.h"

namespace wr {

Tokenizer Tokenizer::from_file(const std::string& path) {
  if (!is_directory(path)) return from_bytes(read_file(path), path);
  const std::string file = folder_tokenizer(path);
  if (file.empty()) fail(path, ": a directory without tokenizer.json or tokenizer.model");
  return from_file(file);
}

std::string folder_tokenizer(const std::string& dir) {
  const std::string json = dir + "/tokenizer.json", spm = dir + "/tokenizer.model";
  const bool has_json = file_exists(json), has_spm = file_exists(spm);
  if (!has_json || !has_spm) return has_json ? json : has_spm ? spm : "";
  const Tokenizer a = Tokenizer::from_file(json), b = Tokenizer::from_file(spm);
  std::string difference;
  if (a.vocab_size() != b.vocab_size()) {
    difference = std::to_string(a.vocab_size()) + " pieces against " + std::to_string(b.vocab_size());
  } else {
    for (int id = 0; id < a.vocab_size() && difference.empty(); ++id)
      if (a.piece(id) != b.piece(id))
        difference = "id " + std::to_string(id) + " is '" + a.piece(id) + "' against '" + b.piece(id) + "'";
  }
  if (!difference.empty())
    fail(json, " and ", spm, " describe different vocabularies (", difference, "): one of them is not this folder's",
         " tokenizer; remove it, or name the right one with --tokenizer");
  return json;
}

void Tokenizer::read_hf_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = parse_json(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(path, ": expected a JSON object");
  if (j.contains("add_bos_token") && !j.at("add_bos_token").is_null()) {
    if (!j.at("add_bos_token").is_boolean()) fail(path, ": add_bos_token: expected true or false");
    config_add_bos_ = j.at("add_bos_token").get<bool>();
  }
  if (j.contains("bos_token") && !j.at("bos_token").is_null()) {
    const auto& t = j.at("bos_token");  // a string, or an AddedToken's {"content": ...}
    const auto& content = t.is_object() && t.contains("content") ? t.at("content") : t;
    if (!content.is_string()) fail(path, ": bos_token: expected a string or {\"content\": string}");
    const std::string name = content.get<std::string>();
    config_bos_ = -1;
    for (int id = 0; id < vocab_size() && config_bos_ < 0; ++id)
      if (piece(id) == name) config_bos_ = id;
    if (config_bos_ < 0) fail(path, ": bos_token '", name, "' is not a token of ", source_);
  }
  config_source_ = path;
}

TokenizerFormat tokenizer_format(const std::string& bytes) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  return first != std::string::npos && bytes[first] == '{' ? TokenizerFormat::hf_json : TokenizerFormat::sentencepiece;
}

namespace {

// An empty file, or JSON that is not an object ([] or null saved as tokenizer.json), named as what it is rather
// than handed to SentencePiece's parser ("not a SentencePiece model: Internal: ...").
void check_not_empty_or_bare_json(const std::string& bytes, const std::string& source) {
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    fail(source, ": empty; expected a SentencePiece model or a tokenizer.json (a JSON object)");
  if (std::string("[\"ntf-0123456789").find(bytes[first]) == std::string::npos) return;
  nlohmann::json j;
  try {
    j = parse_json(bytes);
  } catch (const nlohmann::json::exception&) {
    return;  // not JSON at all: a SentencePiece model (binary protobuf) or garbage, which its parser names
  }
  fail(source, ": JSON ", j.type_name(), ", expected a tokenizer.json (a JSON object) or a SentencePiece model");
}

}  // namespace

Tokenizer Tokenizer::from_bytes(const std::string& model_bytes, const std::string& source) {
  check_not_empty_or_bare_json(model_bytes, source);
  Tokenizer t;
  t.format_ = tokenizer_format(model_bytes);
  t.impl_ = t.format_ == TokenizerFormat::hf_json ? load_hf_tokenizer(model_bytes, source)
                                                  : load_sentencepiece(model_bytes, source);
  t.bytes_ = model_bytes;
  t.source_ = source;
  return t;
}

int Tokenizer::bos_id() const {
  const int id = config_bos_ >= 0 ? config_bos_ : impl_->bos_id();
  if (id < 0) fail(source_, ": the tokenizer names no BOS token (wanted for --bos and document starts)");
  return id;
}

BosRule Tokenizer::bos_rule() const {
  if (config_add_bos_)
    return {*config_add_bos_, config_source_ + ": add_bos_token " + (*config_add_bos_ ? "true" : "false")};
  if (format_ == TokenizerFormat::sentencepiece)
    return {true, source_ + ": a SentencePiece model (transformers' LlamaTokenizer: add_bos_token defaults to true)"};
  const int id = impl_->template_bos();
  if (id < 0) return {false, source_ + ": post_processor puts no token before the text"};
  return {true, source_ + ": post_processor puts " + impl_->piece(id) + " before the text"};
}

int Tokenizer::eos_id() const {
  const int id = impl_->eos_id();
  if (id < 0) fail(source_, ": the tokenizer names no EOS token (wanted for --eos and generation)");
  return id;
}

}  // namespace wr
