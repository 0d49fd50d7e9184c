#include "model/outliers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include "common/error.h"

namespace wr {

namespace {

// The population central moments m2 and m4 of all of x's elements, in float64 on x's device (a trained model's
// matrices stay on its GPU; only the two numbers come back).
std::pair<double, double> central_moments(const torch::Tensor& x) {
  const auto v = x.detach().to(torch::kFloat64).flatten();
  if (v.numel() == 0) fail("statistics of an empty tensor");
  const auto d2 = (v - v.mean()).square();
  return {d2.mean().item<double>(), d2.square().mean().item<double>()};
}

double kurtosis_of(double m2, double m4) { return m2 > 0 ? m4 / (m2 * m2) - 3 : std::numeric_limits<double>::quiet_NaN(); }

}  // namespace

double excess_kurtosis(const torch::Tensor& x) {
  const auto [m2, m4] = central_moments(x);
  return kurtosis_of(m2, m4);
}

double lower_median(const torch::Tensor& x) {
  const auto v = x.detach().to(torch::kCPU, torch::kFloat64).flatten();
  if (v.numel() == 0) fail("median of an empty tensor");
  return std::get<0>(v.kthvalue((v.numel() + 1) / 2)).item<double>();
}

HiddenStats hidden_stats(const torch::Tensor& h) {
  TORCH_CHECK(h.dim() == 2, "hidden_stats: h must be [tokens, channels]");
  const auto hd = h.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto a = hd.abs();
  HiddenStats s;
  s.max_abs = a.max().item<double>();
  s.median_abs = lower_median(a);
  s.kurtosis = excess_kurtosis(hd);
  const double threshold = std::max(100.0, 1000 * s.median_abs);
  // [n, 2]: (row, channel); contiguous, as nonzero's result may be laid out column-major
  const auto found = torch::nonzero(a > threshold).contiguous();
  s.massive_count = found.size(0);
  const int64_t channels = h.size(1);
  const double* values = hd.data_ptr<double>();
  const auto* idx = found.data_ptr<int64_t>();
  for (int64_t i = 0; i < s.massive_count; ++i) {
    const int64_t row = idx[2 * i], channel = idx[2 * i + 1];
    s.massive.push_back({0, row, channel, values[row * channels + channel]});
  }
  std::stable_sort(s.massive.begin(), s.massive.end(),
                   [](const auto& x, const auto& y) { return std::fabs(x.value) > std::fabs(y.value); });
  if (s.massive.size() > kMaxListed) s.massive.resize(kMaxListed);
  return s;
}

InputStats channel_ratio(const torch::Tensor& channel_max, int64_t layer, LinearInput which) {
  const auto m = channel_max.detach().to(torch::kCPU, torch::kFloat64).flatten();
  InputStats s;
  s.layer = layer;
  s.which = which;
  s.top_channel = m.argmax().item<int64_t>();
  s.top_max = m.max().item<double>();
  s.median_max = lower_median(m);
  s.ratio = s.median_max > 0 ? s.top_max / s.median_max : std::numeric_limits<double>::infinity();
  return s;
}

ActivationStats activation_outliers(Llama& model, const std::vector<torch::Tensor>& windows) {
  torch::NoGradGuard no_grad;
  if (windows.empty()) fail("activation statistics: no windows of tokens");
  const auto device = model->output_weight().device();
  // Each input's running max |x| per channel, lm_head's at layer -1 (ForwardArgs::linear_input's numbering).
  std::map<std::pair<int64_t, LinearInput>, torch::Tensor> channel_max;
  const LinearInputFn record = [&channel_max](const torch::Tensor& x, int64_t layer, LinearInput which) {
    const auto m = x.detach().abs().to(torch::kFloat32).reshape({-1, x.size(-1)}).amax(0).to(torch::kCPU);
    auto& kept = channel_max[{layer, which}];
    kept = kept.defined() ? torch::maximum(kept, m) : m;
    return x;
  };
  const int64_t n_layers = model->config.n_layers;
  std::vector<std::vector<torch::Tensor>> per_layer(n_layers);  // [T_w, dim] float32 per window
  std::vector<std::pair<int64_t, int64_t>> where;              // (window, position) of each pooled row
  for (size_t w = 0; w < windows.size(); ++w) {
    if (windows[w].dim() != 1 || windows[w].numel() == 0)
      fail("activation statistics: window ", w, " is not a non-empty [T] vector of token ids");
    std::vector<torch::Tensor> outputs;
    ForwardArgs args;
    args.layer_outputs = &outputs;
    args.linear_input = &record;
    const auto tokens = windows[w].to(device, torch::kInt64).unsqueeze(0);
    record(model->hidden(tokens, args), -1, LinearInput::kHead);
    for (int64_t l = 0; l < n_layers; ++l) per_layer[l].push_back(outputs[l][0].detach().to(torch::kCPU, torch::kFloat32));
    for (int64_t p = 0; p < windows[w].numel(); ++p) where.emplace_back(w, p);
  }
  ActivationStats out;
  out.tokens = static_cast<int64_t>(where.size());
  for (int64_t l = 0; l < n_layers; ++l) {
    HiddenStats s = hidden_stats(torch::cat(per_layer[l]));
    per_layer[l].clear();
    for (auto& m : s.massive) std::tie(m.window, m.position) = where[m.position];
    out.layers.push_back(std::move(s));
  }
  for (int64_t l = 0; l < n_layers; ++l)
    for (auto which : {LinearInput::kQKV, LinearInput::kO, LinearInput::kGateUp, LinearInput::kDown})
      out.inputs.push_back(channel_ratio(channel_max.at({l, which}), l + 1, which));
  out.inputs.push_back(channel_ratio(channel_max.at({-1, LinearInput::kHead}), 0, LinearInput::kHead));
  return out;
}

std::vector<WeightStats> weight_outliers(Llama& model) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, std::pair<int64_t, torch::Tensor>>> matrices;
  for (const auto& m : layer_matrices(model)) matrices.push_back({m.name, {m.layer, m.weight}});
  matrices.push_back({"model.embed_tokens.weight", {0, model->model->embed_tokens->weight}});
  if (model->lm_head) matrices.push_back({"lm_head.weight", {0, model->lm_head->weight}});
  std::vector<WeightStats> out;
  for (const auto& [name, lw] : matrices) {
    const auto [m2, m4] = central_moments(lw.second);
    const double max_abs = lw.second.detach().abs().max().to(torch::kFloat64).item<double>();
    out.push_back({name, lw.first, kurtosis_of(m2, m4), max_abs / std::sqrt(m2)});
  }
  return out;
}

const char* linear_input_key(LinearInput which) {
  switch (which) {
    case LinearInput::kQKV: return "qkv";
    case LinearInput::kO: return "o";
    case LinearInput::kGateUp: return "gate_up";
    case LinearInput::kDown: return "down";
    case LinearInput::kHead: return "lm_head";
  }
  return "?";
}

}  // namespace wr
