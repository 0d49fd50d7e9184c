#include "model/variance.h"

#include <cmath>

#include "common/error.h"

namespace wr {
namespace {

MatrixStat stat_of(const std::string& name, int64_t layer, const torch::Tensor& w, double target) {
  auto wd = w.detach().to(torch::kFloat64);
  return {name, layer, wd.mean().item<double>(), wd.std(/*unbiased=*/true).item<double>(), target, false};
}

std::vector<MatrixStat> stats(Llama& model, const TvrConfig& tvr, bool apply) {
  if (!(tvr.target > 0)) fail("TVR target must be positive, got ", tvr.target);
  torch::NoGradGuard no_grad;
  std::vector<MatrixStat> out;
  for (const auto& m : layer_matrices(model)) {
    MatrixStat s = stat_of(m.name, m.layer, m.weight, tvr_target(tvr, m.layer));
    if (apply && s.std / s.target > tvr.threshold) {
      // w <- mu + (target/sigma)(w - mu), in the weight's own dtype and device
      m.weight.sub_(s.mean).mul_(s.target / s.std).add_(s.mean);
      s.rescaled = true;
    }
    out.push_back(s);
  }
  out.push_back(stat_of("model.embed_tokens.weight", 0, model->model->embed_tokens->weight, 0));
  if (model->lm_head) out.push_back(stat_of("lm_head.weight", 0, model->lm_head->weight, 0));
  // The RMSNorm gains, which the authors plot beside the matrices: TVR leaves them alone, but what they do
  // while the matrices are held at their target is part of the picture.
  for (int64_t i = 0; i < model->config.n_layers; ++i) {
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    out.push_back(stat_of(prefix + "input_layernorm.weight", i + 1, model->layer(i).input_layernorm->weight, 0));
    out.push_back(stat_of(prefix + "post_attention_layernorm.weight", i + 1, model->layer(i).post_attention_layernorm->weight, 0));
  }
  out.push_back(stat_of("model.norm.weight", 0, model->model->norm->weight, 0));
  return out;
}

}  // namespace

double tvr_target(const TvrConfig& tvr, int64_t layer) {
  return tvr.depth_scaled ? tvr.target / std::sqrt(static_cast<double>(layer)) : tvr.target;
}

std::vector<MatrixStat> matrix_stats(Llama& model, const TvrConfig& tvr) { return stats(model, tvr, false); }
std::vector<MatrixStat> apply_tvr(Llama& model, const TvrConfig& tvr) { return stats(model, tvr, true); }

}  // namespace wr
