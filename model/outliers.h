// Outlier statistics the quantization literature reports, on a model's hidden states, its linear layers' inputs
// and its weight matrices: what `wr-model activations` prints and wr-train's telemetry logs. Every statistic is
// computed in float64 whatever the model's dtype:
//   excess kurtosis     m4 / m2^2 - 3 with population central moments m_k = mean((x - mean)^k) (scipy.stats
//                       .kurtosis's default, fisher=True, bias=True): 0 for a Gaussian, large when a few values
//                       dominate; NaN for a constant tensor
//   median              of an even count, the lower of the two middle values (torch.median's convention)
//   massive activation  an element of a decoder layer's output with |h| > 100 and |h| > 1000 x the median |h| of
//                       that output (Sun et al. 2024, "Massive activations in large language models")
//   channel ratio       of a linear layer's input x [tokens, in]: with m_c = max over tokens of |x_c|, the largest
//                       m_c over the median m_c; what one int8 scale for the whole tensor pays for its largest channel
//   max|w| / std        per weight matrix, std the population std
// It does not change the model; the forward pass runs as the model is (its dtype, its device).
#pragma once
#include <string>
#include <vector>

#include "model/llama.h"

namespace wr {

struct MassiveActivation {
  int64_t window = 0;    // which of the windows passed (0 for a single probe)
  int64_t position = 0;  // token position in the window, 0-based
  int64_t channel = 0;
  double value = 0;      // h, signed
};

struct HiddenStats {  // of one decoder layer's output over all the windows' tokens
  double max_abs = 0, median_abs = 0, kurtosis = 0;
  int64_t massive_count = 0;
  std::vector<MassiveActivation> massive;  // the largest kMaxListed by |h|, largest first
};
constexpr size_t kMaxListed = 100;

struct InputStats {  // of one linear layer's input over all the windows' tokens
  int64_t layer = 0;  // 1-based decoder layer; 0 for lm_head's input
  LinearInput which = LinearInput::kQKV;
  double ratio = 0;        // largest channel max / median channel max
  int64_t top_channel = 0;
  double top_max = 0, median_max = 0;
};

struct ActivationStats {
  int64_t tokens = 0;
  std::vector<HiddenStats> layers;  // one per decoder layer, in order
  std::vector<InputStats> inputs;   // per layer q/k/v, o, gate/up, down; lm_head's last
};

struct WeightStats {
  std::string name;  // Hugging Face parameter name
  int64_t layer = 0;  // 1-based; 0 for the embeddings and lm_head
  double kurtosis = 0, max_over_std = 0;
};

double excess_kurtosis(const torch::Tensor& x);
double lower_median(const torch::Tensor& x);
// h: [tokens, channels]; massive activations get position = their row and window 0.
HiddenStats hidden_stats(const torch::Tensor& h);
// channel_max: [in], each input channel's max |x| over the tokens; layer and which are copied into the result.
InputStats channel_ratio(const torch::Tensor& channel_max, int64_t layer, LinearInput which);

// The model on each window of token ids ([T] int64, any device; one forward pass each): its decoder layers' outputs
// and its linear layers' inputs, over all the windows' tokens.
ActivationStats activation_outliers(Llama& model, const std::vector<torch::Tensor>& windows);
// The 7 matrices of every layer, then the embeddings and lm_head (when not tied).
std::vector<WeightStats> weight_outliers(Llama& model);

// "qkv", "o", "gate_up", "down", "lm_head": the inputs' names in tables and files.
const char* linear_input_key(LinearInput which);

}  // namespace wr
