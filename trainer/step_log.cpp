#include "trainer/step_log.h"

#include <algorithm>
#include <cstdio>

#include "model/llama.h"

namespace wr {

StepLog::StepLog(const TrainConfig& c, double flops_per_token, double peak_flops, int world, Telemetry& telemetry,
                 std::function<void(const std::string&)> log)
    : c_(c), flops_per_token_(flops_per_token), peak_flops_(peak_flops), world_(world), telemetry_(telemetry),
      log_(std::move(log)) {}

void StepLog::after_step(int64_t step, const StepResult& r, double lr, double seconds, int rescaled) {
  interval_seconds_ += seconds;
  interval_tokens_ += c_.tokens_per_step();
  if (step % c_.log_interval != 0 && step != c_.steps) return;
  const double tokens_per_s = interval_tokens_ / std::max(interval_seconds_, 1e-9);
  const double mfu = flops_per_token_ * tokens_per_s / (peak_flops_ * world_);
  telemetry_.add(step, "train", "loss", r.loss);
  telemetry_.add(step, "train", "lr", lr);
  telemetry_.add(step, "train", "grad_norm", r.grad_norm);
  telemetry_.add(step, "train", "tokens_per_s", tokens_per_s);
  telemetry_.add(step, "train", "mfu", mfu);
  char tvr[64] = "";
  if (rescaled >= 0)
    std::snprintf(tvr, sizeof tvr, " | TVR rescaled %d/%ld", rescaled, static_cast<long>(kMatricesPerLayer * c_.model.n_layers));
  char line[256];
  std::snprintf(line, sizeof line, "step %6ld/%ld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | MFU %.1f%%%s",
                static_cast<long>(step), static_cast<long>(c_.steps), r.loss, lr, r.grad_norm, tokens_per_s, 100 * mfu, tvr);
  log_(line);
  interval_seconds_ = 0;
  interval_tokens_ = 0;
}

}  // namespace wr
