// Evaluation while training, every `eval.interval` steps and at the last step, on the live model (no checkpoint
// round trip): the validation loss and the configured tasks under the configured rule set, appended to
// the run's eval.csv (wr-eval's CSV) and the validation loss to the telemetry. With eval.quant, the tasks are also
// scored under each simulated quantization scheme of the model as it is at that step (wr-eval --quant's paired
// rows: weights rounded at each evaluation, a8t's static input scales from the validation split). Data parallel,
// every process calls after_step: the validation batches and each task's documents are split across them
// (eval/ranks.h), and rank 0 alone writes (the others pass an empty csv_path and a telemetry that writes nothing).
#pragma once
#include <functional>
#include <string>

#include "eval/ranks.h"
#include "eval/evaluate.h"
#include "eval/score.h"
#include "model/llama.h"
#include "model/quant.h"
#include "model/tokenizer/tokenizer.h"
#include "tasks/download.h"
#include "tasks/rules.h"
#include "trainer/shards.h"
#include "trainer/telemetry.h"
#include "trainer/train_config.h"

namespace wr {

class PeriodicEval {
 public:
  // val may be null (no validation split wanted); the rule set is read here, so a bad name fails before training.
  // csv_path (the run's eval.csv) keeps the rows of steps <= keep_until_step (a resumed run's checkpoint step;
  // -1: a new run, no rows); an empty csv_path writes nothing (the processes after rank 0). ranks: this process's
  // place among the data-parallel processes (DataParallel::eval_ranks).
  PeriodicEval(const TrainConfig& c, const Tokenizer& tokenizer, const TokenStream* val, const torch::Device& device,
               EvalRanks ranks, Telemetry& telemetry, std::function<void(const std::string&)> log, const std::string& csv_path,
               int64_t keep_until_step);
  // Fetches the tasks' files now (or names them, offline) rather than after hours of training.
  void fetch_task_files(const DownloadOptions& download) const;
  void after_step(int64_t step, Llama& model);

 private:
  std::vector<ScoreVariant> quant_variants(Llama& model) const;

  const TrainConfig& c_;
  const Tokenizer& tokenizer_;
  const TokenStream* val_;
  torch::Device device_;
  EvalRanks ranks_;
  Telemetry& telemetry_;
  std::function<void(const std::string&)> log_;
  RuleSet rules_;
  std::vector<QuantScheme> quant_;
  PreparedTasks prepared_;  // the tasks' documents read and requests tokenized at the first evaluation, kept
  std::string data_dir_, csv_path_;
};

}  // namespace wr
