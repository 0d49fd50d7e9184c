// The run's checkpoints: <run_dir>/ckpt_<step>.pt holding the weights, the optimizer state, the tokenizer and
// the loop's counters, written atomically every `checkpoint.interval` steps, at the last step and on a stop
// request, the newest `checkpoint.keep` kept (older ones pruned only once the new one is on disk). --resume
// restores the newest one that loads into the live model and optimizer.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "trainer/train_config.h"

namespace wr {

// What a checkpoint carries besides weights and optimizer state, so that a resumed run continues exactly.
struct LoopState {
  int64_t step = 0;       // optimizer steps done (skipped ones included)
  int64_t bad_steps = 0;  // non-finite steps in a row
  bool tvr_pending = false;
};

// The run directory's checkpoints, oldest first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);

class Checkpointer {
 public:
  Checkpointer(const TrainConfig& c, const nlohmann::json& resolved, const std::string& tokenizer_bytes);
  // The newest of `existing` that loads, into model and optimizer (a damaged newer one, cut short by a full
  // disk or a bad copy, is named through log and passed over); fails when none loads or the model differs.
  LoopState restore(Llama& model, torch::optim::Optimizer& optimizer, const std::vector<std::string>& existing,
                    const torch::Device& device, const std::function<void(const std::string&)>& log);
  // Writes the checkpoint of state.step when one is due: every interval, the last step, or a stop.
  void after_step(const LoopState& state, bool stop, Llama& model, torch::optim::Optimizer& optimizer);
  // The last checkpoint written or restored ("" before either).
  const std::string& last() const { return last_; }

 private:
  const TrainConfig& c_;
  const nlohmann::json& resolved_;
  const std::string& tokenizer_bytes_;
  std::string last_;
};

}  // namespace wr
