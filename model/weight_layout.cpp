#include "model/weight_layout.h"

namespace wr {

ColumnMajorProjections::ColumnMajorProjections(Llama& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : layer_matrices(model)) {
    if (!m.weight.is_cpu() || m.weight.scalar_type() != torch::kFloat32) continue;
    m.weight.set_data(m.weight.t().contiguous().t());  // one matrix at a time: the copy is the only extra memory
    weights_.push_back(m.weight);
  }
}

ColumnMajorProjections::~ColumnMajorProjections() {
  torch::NoGradGuard no_grad;
  for (auto& w : weights_) w.set_data(w.contiguous());
}

}  // namespace wr
