// The pre-training loop: shards -> micro-batches -> AdamW with warmup + cosine, clipping and accumulation ->
// TVR every `interval` steps -> telemetry, periodic evaluation, checkpoints. train() sets the run up and then
// loops over named steps; each component owns its "every N steps" (trainer/checkpointer.h, periodic_eval.h,
// step_log.h, telemetry.h's ModelTelemetry).
//
// Exact resume: data windows are a pure function of (seed, micro-batch index) and nothing else draws random
// numbers after initialisation, so a checkpoint needs only the weights, the optimizer state and the step to
// continue bit for bit (on the CPU, with the same thread count).
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "tasks/download.h"
#include "trainer/checkpointer.h"

namespace wr {

struct TrainOptions {
  bool resume = false;                              // continue from the run directory's newest checkpoint
  std::function<void(const std::string&)> log;      // live lines; default: stdout
  // How the evaluation tasks' files are fetched before training (wr-train --offline, --mirror, --url-map, as in
  // wr-eval); its data_dir is replaced by the config's eval.data_dir.
  DownloadOptions download;
};

struct TrainSummary {
  int64_t step = 0;         // optimizer steps done (skipped ones included)
  double loss = std::nan("");  // the last finite training loss of this process; NaN when it trained no step
  std::string checkpoint;   // the last checkpoint written, or the one resumed from
  bool interrupted = false; // stopped by request_stop()
};

// Trains the run described by a resolved config (resolve_train_config). Throws wr::Error, leaving every
// checkpoint written so far intact.
TrainSummary train(const nlohmann::json& resolved, const TrainOptions& opt = {});

// Asks a running train() to checkpoint after the current step and return. Async-signal-safe.
void request_stop();


}  // namespace wr
