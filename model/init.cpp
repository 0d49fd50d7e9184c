#include "model/init.h"

#include <cmath>

#include "common/error.h"

namespace wr {
namespace {

double layer_matrix_std(const InitConfig& init, const LayerMatrix& m, int64_t n_layers) {
  switch (init.scheme) {
    case InitScheme::normal: return init.std;
    case InitScheme::gpt2:
      return (m.kind == "o_proj" || m.kind == "down_proj") ? init.std / std::sqrt(2.0 * n_layers) : init.std;
    case InitScheme::lir: return init.std / std::sqrt(static_cast<double>(m.layer));
  }
  fail("init scheme ", static_cast<int>(init.scheme), " is not one of normal, gpt2, lir");
}

}  // namespace

InitScheme init_scheme_from_name(const std::string& name, const std::string& what) {
  if (name == "normal") return InitScheme::normal;
  if (name == "gpt2") return InitScheme::gpt2;
  if (name == "lir") return InitScheme::lir;
  fail(what, " \"", name, "\": expected normal, gpt2 or lir");
}

void init_weights(Llama& model, const InitConfig& init, uint64_t seed) {
  if (!(init.std > 0)) fail("init std must be positive, got ", init.std);
  torch::NoGradGuard no_grad;
  // A private generator, so initialisation does not depend on or disturb the global RNG stream.
  auto gen = at::detail::createCPUGenerator(seed);
  auto fill_normal = [&](torch::Tensor w, double std) {
    auto values = at::normal(0.0, std, w.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
    w.copy_(values);
  };
  fill_normal(model->model->embed_tokens->weight, init.std);
  for (const auto& m : layer_matrices(model)) fill_normal(m.weight, layer_matrix_std(init, m, model->config.n_layers));
  if (model->lm_head) fill_normal(model->lm_head->weight, init.std);
  for (auto& p : model->named_parameters())
    if (p.key().find("norm") != std::string::npos) p.value().fill_(1.0);
}

}  // namespace wr
