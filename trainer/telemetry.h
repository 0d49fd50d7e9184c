// Training telemetry as a long-format CSV (step,name,stat,value): one row per number, so any tool can
// pivot it. Names: "train" (loss, lr, grad_norm, tokens_per_s, mfu, skipped), "val" (loss), a parameter's
// Hugging Face name (mean, std, and for TVR's matrices std_over_target, rescaled; values from before any TVR
// rescale; the RMSNorm gains too),
// "layer.<l>" (on a fixed probe input, decoder layer l, 1-based: act_max, act_median of its |output|, its excess
// kurtosis and its count of massive activations; <input>_input_ratio for qkv, o, gate_up and down: the largest
// input channel's max |x| over the median channel's, model/outliers.h), "lm_head" (input_ratio), each matrix's
// kurtosis and max_over_std beside its mean and std, and "eval.<task>" (each metric of a periodic evaluation and,
// where computed, <metric>_stderr; under eval.quant, "eval.<task>.<scheme>" with the scheme's metrics and
// <metric>_delta, its difference from the unquantized model's).
// Every row also goes to TensorBoard's event file when one is asked for (trainer/tensorboard.h), as the scalar
// "<name>/<stat>" ("train/loss"), so the two always hold the same numbers.
#pragma once
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"
#include "model/tokenizer/tokenizer.h"
#include "model/variance.h"
#include "trainer/shards.h"
#include "trainer/tensorboard.h"
#include "trainer/train_config.h"

namespace wr {

class Telemetry {
 public:
  // Opens path for appending. keep_until_step >= 0 (a resumed run) first drops the rows after that step,
  // which the interrupted run logged past its last checkpoint; -1 starts a new file. An empty path keeps
  // nothing (the processes after rank 0 of a data-parallel run). A non-empty tensorboard_dir (with a path) also
  // writes every row there as an event, keeping the earlier events up to keep_until_step the same way.
  Telemetry(const std::string& path, int64_t keep_until_step, const std::string& tensorboard_dir = "");
  void add(int64_t step, const std::string& name, const std::string& stat, double value);
  void add_matrices(int64_t step, const std::vector<MatrixStat>& stats);
  // Both files: this step's rows on disk as whole rows (as whole records in the event file). A write that fails
  // (a full disk) is cut back to the rows before it, so the file never ends in part of a row.
  void flush();
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

 private:
  void append_pending();  // the rows added since the last flush, with one write (cut back when it fails)

  std::string path_;
  int fd_ = -1;                // path_ opened for appending
  std::ostringstream pending_;  // the rows added since the last flush
  std::unique_ptr<EventWriter> events_;
};

// What the paper plots of the model, every `log.telemetry_interval` steps: every matrix's mean and std (TVR's own
// statistics on a step it rescaled, from before the rescale), the RMSNorm gains, the outlier statistics of the
// weights (kurtosis, max|w| / std) and of a fixed probe input (model/outliers.h), run in the run's dtype. The probe
// is the first seq_len tokens of the validation split (else the training split), or with log.probe_text that
// sentence after BOS (the authors' style).
class ModelTelemetry {
 public:
  ModelTelemetry(const TrainConfig& c, const Tokenizer& tokenizer, const TokenStream& probe_source,
                 const torch::Device& device, Telemetry& telemetry);
  // tvr_stats: the statistics of a rescale done after this step, null when there was none.
  void after_step(int64_t step, Llama& model, const std::vector<MatrixStat>* tvr_stats);

 private:
  const TrainConfig& c_;
  Telemetry& telemetry_;
  torch::Tensor probe_;
};

}  // namespace wr
