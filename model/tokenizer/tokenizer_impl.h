// What each tokenizer format implements behind Tokenizer (tokenizer.h), and the loader of each: the formats build
// on this header, never on the interface that picks between them.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace wr {

// A format's encoder and decoder (sentencepiece_tokenizer.cpp, hf_tokenizer.cpp).
struct TokenizerImpl {
  virtual ~TokenizerImpl() = default;
  virtual std::vector<int> encode(const std::string& text) const = 0;  // no special tokens added
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  virtual std::string piece(int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1: the file names none
  virtual int eos_id() const = 0;
  // The token a tokenizer.json's post-processor puts before the text (-1: none).
  virtual int template_bos() const { return -1; }
};

// A SentencePiece .model (through the private plugin, sentencepiece_shim.cpp); hf_tokenizer.h loads tokenizer.json.
std::shared_ptr<const TokenizerImpl> load_sentencepiece(const std::string& model_bytes, const std::string& source);

}  // namespace wr
