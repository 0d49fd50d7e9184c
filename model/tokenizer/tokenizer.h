// One tokenizer interface for the two formats LLaMA-family models ship: a SentencePiece `.model` (Llama 2,
// llama2.c; BOS 1, EOS 2) and a Hugging Face `tokenizer.json` (Llama 3 and most newer checkpoints; BOS/EOS from
// the file). The format is chosen by the bytes; the bytes travel with checkpoints and shards.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer/tokenizer_impl.h"

namespace wr {

// Whether a tokenizer puts BOS before a text when asked for special tokens (transformers' encode(text,
// add_special_tokens=True), which lighteval calls and lm-eval calls with add_bos_token), and what says so.
struct BosRule {
  bool add = false;
  std::string why;  // the file and field that decide it
};

enum class TokenizerFormat { sentencepiece, hf_json };
// A tokenizer.json is a JSON object; a SentencePiece model is a protobuf, whose first byte is a field tag.
TokenizerFormat tokenizer_format(const std::string& bytes);
// The file name the bytes are stored under beside shards and in HF directories.
inline const char* tokenizer_file_name(TokenizerFormat f) {
  return f == TokenizerFormat::hf_json ? "tokenizer.json" : "tokenizer.model";
}

class Tokenizer {
 public:
  // A file, or a Hugging Face model directory (folder_tokenizer).
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_bytes(const std::string& model_bytes, const std::string& source);

  std::vector<int> encode(const std::string& text) const { return impl_->encode(text); }  // no BOS/EOS
  std::string decode(const std::vector<int>& ids) const { return impl_->decode(ids); }
  std::string piece(int id) const { return impl_->piece(id); }
  int vocab_size() const { return impl_->vocab_size(); }
  int bos_id() const;  // tokenizer_config.json's bos_token, else the file's; throws naming the tokenizer when none
  int eos_id() const;
  // A SentencePiece model: BOS (transformers' LlamaTokenizer defaults add_bos_token to true); a tokenizer.json:
  // what its post-processor puts first; either overridden by tokenizer_config.json's add_bos_token, as
  // transformers' Llama and Gemma tokenizers rebuild their template from it.
  BosRule bos_rule() const;
  // A Hugging Face folder's tokenizer_config.json, as transformers reads it beside the tokenizer: bos_token (a
  // string or {"content": ...}) names the BOS, add_bos_token (where set) whether one is added. wr-eval reads it
  // for the folders it scores. Throws naming the file for a malformed field or a token not in the vocabulary.
  void read_hf_config(const std::string& path);
  TokenizerFormat format() const { return format_; }
  const char* file_name() const { return tokenizer_file_name(format_); }
  const std::string& model_bytes() const { return bytes_; }

 private:
  std::shared_ptr<const TokenizerImpl> impl_;
  std::string bytes_;   // the serialized tokenizer, so a checkpoint can carry it
  std::string source_;  // where it came from, for messages
  TokenizerFormat format_ = TokenizerFormat::sentencepiece;
  std::string config_source_;           // the tokenizer_config.json read, if any
  int config_bos_ = -1;                 // its bos_token
  std::optional<bool> config_add_bos_;  // its add_bos_token
};

// The tokenizer file of a Hugging Face model folder: its tokenizer.json, else its tokenizer.model; "" when it has
// neither. A folder holding both is read as transformers reads it, tokenizer.json first, once the two are seen to
// describe one vocabulary (the same piece for every id). Two that differ (a stale file left beside the other)
// are an error naming both: either one would score silently wrong.
std::string folder_tokenizer(const std::string& dir);

}  // namespace wr
