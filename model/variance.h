// Target Variance Rescaling (TVR, Owen et al. 2025): for each of the 7 per-layer matrices (q, k, v, o, gate, up,
// down) take the whole-matrix mean mu and Bessel-corrected std sigma; when sigma / sigma_target > threshold,
// set w <- mu + (sigma_target / sigma) (w - mu) in place. Embeddings, lm_head and norms are never rescaled, and
// optimizer state is not touched. When to apply it (every `interval` optimizer steps, never at step 0) is the
// trainer's decision; this file holds the rule and the per-matrix statistics that telemetry logs.
#pragma once
#include <string>
#include <vector>

#include "model/llama.h"

namespace wr {

struct TvrConfig {
  double target = 0.01;       // sigma_target
  double threshold = 1.0;     // rescale when sigma / target > threshold (the authors' code defaults to 1.2)
  bool depth_scaled = false;  // target / sqrt(l) for layer l (1-based); the paper found it worse
};

struct MatrixStat {
  std::string name;  // Hugging Face parameter name
  int64_t layer = 0;  // 1-based; 0 for embeddings and lm_head
  double mean = 0, std = 0;
  double target = 0;      // this matrix's sigma_target (0 where TVR does not apply)
  bool rescaled = false;  // whether this call rescaled it (statistics are from before)
};

double tvr_target(const TvrConfig& tvr, int64_t layer);
// Statistics of every matrix (the 7 per layer, then embeddings and lm_head) and every RMSNorm gain (each layer's
// two, then the final norm's), without changing anything.
std::vector<MatrixStat> matrix_stats(Llama& model, const TvrConfig& tvr);
// Applies the rule; returns the statistics from before rescaling.
std::vector<MatrixStat> apply_tvr(Llama& model, const TvrConfig& tvr);

}  // namespace wr
