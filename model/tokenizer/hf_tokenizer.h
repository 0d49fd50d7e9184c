// Hugging Face `tokenizer.json` (the Rust `tokenizers` library's format) with a BPE model: byte-level BPE (Llama 3,
// GPT-2 style) and the byte_fallback variant of SentencePiece-converted tokenizers (Llama 2 HF). Encoding follows
// the library step for step: added tokens split out of the raw text, the normalizer, added tokens split out of
// the normalized text, the pre-tokenizer, then the model on each word; decoding runs its decoder chain.
// Components wr does not implement are an error naming the file and the component, never a different encoding.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer/tokenizer_impl.h"

namespace wr {

std::shared_ptr<const TokenizerImpl> load_hf_tokenizer(const std::string& json_bytes, const std::string& source);

// A smaller vocabulary cut from a BPE tokenizer.json (how the paper made its 65,536-piece Llama 3 tokenizer):
// the `pieces` lowest-rank pieces of model.vocab (BPE ids are ranks: lower ids were learned first), the merges
// whose two parts and result are all kept, and every added token renumbered after them in its original order
// (ids pieces, pieces + 1, ...), post-processor ids updated. A cut that loses a byte of a byte-level alphabet is an
// error; the result is loaded back before it is returned.
std::string truncate_hf_tokenizer(const std::string& json_bytes, int pieces, const std::string& source);

}  // namespace wr
