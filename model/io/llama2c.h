// llama2.c checkpoints (.bin): import of the legacy v0 layout and the v1 "ak42" layout, export as v1.
// llama2.c rotates interleaved pairs (2i, 2i+1) of each head; Hugging Face rotates halves. q and k rows are
// permuted on the way in and back on the way out, so both give the same attention scores.
#pragma once
#include <string>

#include "model/io/state_dict.h"

namespace wr {

LoadedModel load_llama2c(const std::string& path);
void save_llama2c(const std::string& path, Llama& model);

// Row permutation of a q or k weight [n_heads*head_dim, dim]: interleaved (llama2.c/Meta) -> halves (HF),
// and its inverse.
torch::Tensor interleaved_to_halves(const torch::Tensor& w, int64_t n_heads);
torch::Tensor halves_to_interleaved(const torch::Tensor& w, int64_t n_heads);

}  // namespace wr
