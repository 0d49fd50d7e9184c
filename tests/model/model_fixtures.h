// Small random models for model tests.
#pragma once
#include "model/init.h"
#include "model/llama.h"

namespace wr::test {

inline ModelConfig tiny_config(int64_t n_kv_heads = 2, bool tied = false) {
  ModelConfig c;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = n_kv_heads;
  c.ffn_dim = 48;
  c.vocab_size = 97;
  c.max_seq_len = 64;
  c.tie_embeddings = tied;
  return c;
}

// Larger init std than training uses, so that logits differ clearly between positions.
inline Llama tiny_model(const ModelConfig& c, uint64_t seed = 7) {
  Llama m(c);
  init_weights(m, {InitScheme::normal, 0.2}, seed);
  m->eval();
  return m;
}

inline torch::Tensor random_tokens(int64_t B, int64_t T, int64_t vocab, uint64_t seed = 1) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(0, vocab, {B, T}, gen, torch::kInt64);
}

}  // namespace wr::test
