// Greedy decoding: the argmax token at every step, with the KV cache (one new token per forward) or
// without it (the whole sequence re-run each step, the reference the cache is checked against).
#pragma once
#include <functional>
#include <vector>

#include "model/llama.h"

namespace wr {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  bool use_cache = true;
  int64_t stop_token = -1;  // stop after emitting this id (e.g. EOS); -1: none
  // Pick among the first `vocab` ids only: the tokenizer's pieces, where the model pads its vocabulary past them
  // (an id without a piece could not be decoded); -1: every id.
  int64_t vocab = -1;
  // Called with all generated ids so far; returning true stops (e.g. a stop string appeared in the text).
  std::function<bool(const std::vector<int64_t>&)> stop;
};

// prompt: token ids (with BOS if wanted). Returns only the generated ids. Runs on the model's device.
std::vector<int64_t> generate_greedy(Llama& model, const std::vector<int64_t>& prompt, const GenerateOptions& opt);

}  // namespace wr
