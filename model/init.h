// Weight initialisation schemes, chosen by name:
//   normal: every matrix ~ N(0, std^2)
//   gpt2:   as normal, but o_proj and down_proj get std / sqrt(2 * n_layers)
//   lir:    Layer Index Rescaling (Owen et al. 2025): the 7 linears of decoder layer l (1-based) get std / sqrt(l);
//           embeddings and lm_head get std
// RMSNorm weights are 1 in every scheme. The paper's main setting is lir with std 0.006.
#pragma once
#include <cstdint>
#include <string>

#include "model/llama.h"

namespace wr {

struct InitConfig {
  std::string scheme = "normal";  // normal | gpt2 | lir
  double std = 0.02;
};

void init_weights(Llama& model, const InitConfig& init, uint64_t seed);

}  // namespace wr
