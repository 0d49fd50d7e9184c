// Data-parallel evaluation's contract between evaluate() and whatever runs the processes (wr-eval under torchrun,
// wr-train's periodic evaluation; both implement it over trainer/distributed.h's DataParallel), so that eval/
// needs no process group of its own.
//
// Document d of a task is scored by process d % world. Strided rather than contiguous blocks: task files are often
// ordered (MMLU by subject, HellaSwag by activity, TriviaQA by source), and striding gives every process the same mix
// of lengths, so none waits long for the slowest; each process's share is still length-sorted into full batches.
// Each process writes its documents' values into zeros at their place in a buffer sized for all of them, and
// `sum` (an all-reduce) leaves every process holding all values: the metrics come from every document in its
// original order, the same on every process, and rank 0 writes the outputs.
#pragma once
#include <torch/torch.h>

#include <cstddef>
#include <functional>

namespace wr {

struct EvalRanks {
  int rank = 0, world = 1;
  // Sums a float64 or int64 tensor in host memory over all processes, in place; fails (wr::Error) when another
  // process died or timed out. Unset alone.
  std::function<void(const torch::Tensor&)> sum;

  bool owns(size_t doc) const { return static_cast<int>(doc % static_cast<size_t>(world)) == rank; }
  void all_sum(const torch::Tensor& t) const {
    if (world > 1) sum(t);
  }
};

}  // namespace wr
