// The BPE model of Hugging Face `tokenizers` (models::bpe): a word is split into its initial symbols (bytes for a
// byte-level vocabulary, UTF-8 characters otherwise), then pairs are merged lowest rank first, leftmost among
// equal ranks, exactly as the Rust library's Word::merge_all does.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wr {

struct BpeOptions {
  bool byte_level = false;     // vocabulary keys are GPT-2 byte-level strings: symbols are raw bytes
  bool byte_fallback = false;  // an unknown character becomes its <0xXX> byte pieces
  bool ignore_merges = false;  // a word that is a piece is emitted whole before any merging (Llama 3)
  bool fuse_unk = false;       // consecutive unknown characters share one unk id
  int unk_id = -1;             // -1: unknown characters are dropped, as the Rust library does without unk_token
};

class Bpe {
 public:
  // vocab: piece (already in the symbol space: raw bytes when byte_level) -> id; merges: pairs of pieces by rank.
  // Throws naming `where` when a merge names an unknown piece. A byte-level vocabulary may lack pieces for some
  // bytes (SmolLM2's has none for 21): encoding drops those bytes, as the Rust library does without unk_token,
  // and a one-line note on stderr names them.
  Bpe(std::unordered_map<std::string, int> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options, const std::string& where);

  // The ids of one pre-tokenized word, appended to `out`.
  void encode_word(std::string_view word, std::vector<int>& out) const;
  const std::unordered_map<std::string, int>& vocab() const { return vocab_; }

 private:
  struct Merge {
    int rank;
    int new_id;
  };
  static uint64_t pair_key(int a, int b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  void merge_all(std::vector<int>& ids) const;

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  int byte_ids_[256];  // byte_level: the piece of each byte; byte_fallback: the <0xXX> piece (-1 if absent)
  BpeOptions opt_;
  uint64_t model_id_;
};

// GPT-2's byte-level alphabet: each byte is shown as a printable code point (bytes_to_unicode).
char32_t byte_to_char(uint8_t b);
// A byte-level piece back to its raw bytes; false when a character is not in the alphabet.
bool byte_level_decode(std::string_view piece, std::string& bytes);

}  // namespace wr
