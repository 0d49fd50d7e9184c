// Training a SentencePiece BPE tokenizer with LLaMA's conventions: byte fallback (no unknown text), digits
// split, a dummy prefix, and identity normalisation with whitespace kept, so decode(encode(text)) == text
// (the library's default NFKC normalisation and whitespace folding are lossy). Ids: unk 0, bos 1, eos 2.
// This links the SentencePiece trainer directly and so must live in a binary without LibTorch (see
// model/tokenizer/sentencepiece_shim.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wr {

struct TokenizerTrainOptions {
  int vocab_size = 8192;
  int64_t max_sentences = 2000000;  // lines sampled for training (SentencePiece's input_sentence_size)
  std::string text_field = "text";
  int threads = 0;                  // 0: all cores
};

// Returns the serialized model (the bytes of a .model file).
std::string train_tokenizer(const std::vector<std::string>& files, const TokenizerTrainOptions& opt);

}  // namespace wr
