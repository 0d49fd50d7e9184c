// SentencePiece tokenizer (LLaMA conventions: BOS 1, EOS 2), loaded from a .model file or from the bytes a
// checkpoint carries. SentencePiece itself lives in a private plugin (see sentencepiece_shim.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace wr {

class Tokenizer {
 public:
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_bytes(const std::string& model_bytes, const std::string& source);

  std::vector<int> encode(const std::string& text) const;  // no BOS/EOS
  std::string decode(const std::vector<int>& ids) const;
  std::string piece(int id) const;
  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  const std::string& model_bytes() const { return bytes_; }

 private:
  std::shared_ptr<void> sp_;  // the plugin's processor
  std::string bytes_;         // the serialized model, so a checkpoint can carry it
};

}  // namespace wr
