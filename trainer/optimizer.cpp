#include "trainer/optimizer.h"

namespace wr {

torch::Tensor lm_loss(Llama& model, const torch::Tensor& inputs, const torch::Tensor& targets) {
  auto logits = model->forward(inputs);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                              targets.reshape({-1}));
}

torch::optim::AdamW make_optimizer(Llama& model, const TrainConfig& c) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) {
    const bool embedding = p.key().find("embed_tokens") != std::string::npos || p.key().find("lm_head") != std::string::npos;
    (p.value().dim() >= 2 && (!embedding || c.decay_embeddings) ? decay : no_decay).push_back(p.value());
  }
  auto options = [&](double wd) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(c.lr);
    o->betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(wd);
    return o;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(c.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  return torch::optim::AdamW(std::move(groups), *options(c.weight_decay));
}

}  // namespace wr
