// Scoring's one call into the model: for a batch of packed rows, each scored token's log-probability and whether
// it is the model's greedy pick, for the model and for variants of it (simulated quantization) on the same rows.
// Which kernels run (the fused CPU log-probabilities or LibTorch's operations) and how lm_head is split into blocks
// are decided here, so that eval/ knows the model's interface only.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "model/llama.h"

namespace wr {

// A model a batch runs through, with its linear layers' input rounding (null: none).
struct ScoringPass {
  Llama model;
  const LinearInputFn* linear_input = nullptr;
};

// One pass's results for the N scored tokens of a batch, in the order they were asked for.
struct ScoredTokens {
  torch::Tensor logprob;     // float64 [N]: log-softmax of the float32 next-token logits, at the target
  torch::Tensor greedy;      // bool [N]: the target is the first largest logit
  torch::Tensor kl;          // float64 [N]: KL(first pass || this pass) over the vocabulary; 0 for the first pass
  torch::Tensor top1_agree;  // bool [N]: this pass's argmax is the first pass's; true for the first pass
  double seconds_decoder = 0, seconds_head = 0;
};

struct BatchScores {
  std::vector<ScoredTokens> passes;  // one per pass, in the passes' order
  int64_t head_positions = 0;        // distinct positions through lm_head (several tokens may share one)
};

class TokenScorer {
 public:
  // passes[0] is the reference the others are compared with.
  explicit TokenScorer(std::vector<ScoringPass> passes) : passes_(std::move(passes)) {}

  torch::Device device() const;
  size_t passes() const { return passes_.size(); }
  // tokens [B,T] int64 and args (positions, visible key spans) on the CPU; for each scored token, `at` holds the
  // flat index b*T+t of the position whose logits predict it and `target` the token. Safe to call from several
  // threads at once (each under its own NoGradGuard).
  BatchScores score(const torch::Tensor& tokens, ForwardArgs args, const std::vector<int64_t>& at,
                    const std::vector<int64_t>& target) const;

 private:
  std::vector<ScoringPass> passes_;
};

}  // namespace wr
