// Training telemetry as a long-format CSV (step,name,stat,value): one row per number, so any tool can
// pivot it. Names: "train" (loss, lr, grad_norm, tokens_per_s, mfu, skipped), "val" (loss), a parameter's
// Hugging Face name (mean, std, and for TVR's matrices std_over_target, rescaled; values from before any TVR
// rescale; the RMSNorm gains too), and
// "layer.<l>" (act_max, act_median: |output| of decoder layer l, 1-based, on a fixed probe input).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"
#include "model/variance.h"

namespace wr {

class Telemetry {
 public:
  // Opens path for appending. keep_until_step >= 0 (a resumed run) first drops the rows after that step,
  // which the interrupted run logged past its last checkpoint; -1 starts a new file. An empty path keeps
  // nothing (the processes after rank 0 of a data-parallel run).
  Telemetry(const std::string& path, int64_t keep_until_step);
  void add(int64_t step, const std::string& name, const std::string& stat, double value);
  void add_matrices(int64_t step, const std::vector<MatrixStat>& stats);
  void flush();

 private:
  std::string path_;
  std::ofstream out_;
};

// (max, median) of |hidden state| at the output of every decoder layer for the tokens [1, T].
std::vector<std::pair<double, double>> activation_stats(Llama& model, const torch::Tensor& probe);

}  // namespace wr
