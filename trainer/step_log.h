// The step line and the training rows of the telemetry, every `log.interval` steps and at the last step: loss,
// learning rate, gradient norm, and tokens/s and MFU over the steps since the previous line.
#pragma once
#include <functional>
#include <string>

#include "trainer/telemetry.h"
#include "trainer/train_config.h"

namespace wr {

// One optimizer step's outcome.
struct StepResult {
  double loss = 0;       // summed over the micro-batches of all processes
  double grad_norm = 0;  // before clipping
  bool finite = true;    // both finite: the update was taken
};

class StepLog {
 public:
  // peak_flops: of one device; MFU is over all `world` of them.
  StepLog(const TrainConfig& c, double flops_per_token, double peak_flops, int world, Telemetry& telemetry,
          std::function<void(const std::string&)> log);
  // rescaled: matrices TVR rescaled after this step, -1 when it did not run.
  void after_step(int64_t step, const StepResult& r, double lr, double seconds, int rescaled);

 private:
  const TrainConfig& c_;
  double flops_per_token_, peak_flops_;
  int world_;
  Telemetry& telemetry_;
  std::function<void(const std::string&)> log_;
  double interval_seconds_ = 0;
  int64_t interval_tokens_ = 0;
};

}  // namespace wr
