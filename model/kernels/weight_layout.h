// The decoder's projection weights stored column-major for the length of a scope, for scoring on the CPU in float32.
//
// A projection is x W^T with W [out, in]. Stored row-major (the checkpoint's layout), W^T reaches the BLAS as a
// transposed operand, and BLIS packs a transposed operand with a short inner dimension slowly: stories260K's
// products, 2048 rows, one thread, ran at 66-81 GFLOP/s against 109-112 with W^T's rows contiguous (MKL: 87-97
// either way; `bench-gemm --threads 1`). Column-major W is that: the same [out, in] tensor to every operation, W^T
// contiguous. The values and their storage stay; the destructor puts the row-major layout back, so that a training
// loop evaluating its own model (whose optimiser state and checkpoints expect contiguous weights) finds it as it was.
#pragma once
#include <vector>

#include "model/llama.h"

namespace wr {

class ColumnMajorProjections {
 public:
  // Lays out the projections of a model on the CPU in float32 whose inner dimension is short (under 256, where
  // the transposed operand is slow); anything else is left as it is.
  explicit ColumnMajorProjections(Llama& model);
  ~ColumnMajorProjections();
  ColumnMajorProjections(const ColumnMajorProjections&) = delete;
  ColumnMajorProjections& operator=(const ColumnMajorProjections&) = delete;

 private:
  std::vector<torch::Tensor> weights_;
};

}  // namespace wr
