#include "model/kernels/weight_layout.h"

namespace wr {
namespace {

// The same values in w's own storage, laid out with these strides: one temporary copy of the matrix, and no new
// allocation that outlives it (a new matrix per weight left the old ones as holes in the heap: +40 MB peak on a
// 41.7M-parameter model).
void relayout(torch::Tensor& w, torch::IntArrayRef strides) {
  const auto values = w.clone();
  w.set_data(w.as_strided(w.sizes(), strides));
  w.copy_(values);
}

// Inner dimensions below this are the slow ones: BLIS, one thread, 2048 rows, K = 64 and 172 at 66-81 GFLOP/s
// transposed against 109-112 column-major; K = 512 and 1376 within 3% either way (`bench-gemm --threads 1`),
// where the layout only moved the peak memory of a 41.7M-parameter model's scoring (+40-60 MB, two threads).
constexpr int64_t kShortInner = 256;

}  // namespace

ColumnMajorProjections::ColumnMajorProjections(Llama& model) {
  torch::NoGradGuard no_grad;
  for (auto& m : layer_matrices(model)) {
    if (!m.weight.is_cpu() || m.weight.scalar_type() != torch::kFloat32 || !m.weight.is_contiguous() ||
        m.weight.size(1) >= kShortInner)
      continue;
    relayout(m.weight, {1, m.weight.size(0)});
    weights_.push_back(m.weight);
  }
}

ColumnMajorProjections::~ColumnMajorProjections() {
  torch::NoGradGuard no_grad;
  for (auto& w : weights_) relayout(w, {w.size(1), 1});
}

}  // namespace wr
