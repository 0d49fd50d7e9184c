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

enum class InitScheme { normal, gpt2, lir };
// "normal", "gpt2" or "lir"; anything else is an error naming `what` (the config key that held it).
InitScheme init_scheme_from_name(const std::string& name, const std::string& what);

// No defaults: a scheme and std are always stated (wr-train's come from its config; a std of 0 is refused).
struct InitConfig {
  InitScheme scheme{};
  double std = 0;
};

void init_weights(Llama& model, const InitConfig& init, uint64_t seed);

}  // namespace wr
