// Corpus files -> token shards (shards.h): documents are read in order, encoded in parallel (OpenMP) in
// blocks, and written in order, BOS before each document (the paper's setting) and EOS after it when asked.
// A document goes to the validation split when a hash of (seed, its index) falls under val_fraction, so the
// split is deterministic and independent of the number of threads.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wr {

struct TokenizeOptions {
  std::vector<std::string> inputs;  // files or globs
  std::string tokenizer;            // SentencePiece .model
  std::string out_dir;
  std::string text_field = "text";
  bool eos = false;
  double val_fraction = 0.005;
  uint64_t seed = 1;
  int64_t shard_tokens = 100000000;
  // Called now and then with (input bytes read, documents, tokens) so far.
  std::function<void(int64_t, int64_t, int64_t)> progress;
};

// Writes the shards, tokenizer.model and manifest.json (last, so a directory with a manifest is complete); the
// manifest records input_bytes, the bytes read from the input files as stored (compressed or not).
// Returns the manifest.
nlohmann::json tokenize_corpus(const TokenizeOptions& opt);

}  // namespace wr
