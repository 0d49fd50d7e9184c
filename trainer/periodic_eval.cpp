#include "trainer/periodic_eval.h"

#include <cstdio>

#include "eval/evaluate.h"
#include "eval/report.h"
#include "tasks/download.h"
#include "trainer/batch.h"

namespace wr {

PeriodicEval::PeriodicEval(const TrainConfig& c, const Tokenizer& tokenizer, const TokenStream* val,
                           const torch::Device& device, Telemetry& telemetry, std::function<void(const std::string&)> log,
                           const std::string& csv_path, int64_t keep_until_step)
    : c_(c), tokenizer_(tokenizer), val_(val), device_(device), telemetry_(telemetry), log_(std::move(log)),
      rules_(load_rules(c.eval_rules)), data_dir_(c.eval_data_dir.empty() ? default_data_dir() : c.eval_data_dir),
      csv_path_(csv_path) {
  if (!csv_path_.empty()) keep_csv_rows_through_step(csv_path_, keep_until_step);
}

void PeriodicEval::fetch_task_files(const DownloadOptions& download) const {
  if (c_.eval_interval == 0) return;
  DownloadOptions dl = download;
  dl.data_dir = data_dir_;
  for (const auto& t : c_.eval_tasks)
    for (const auto& path : download_task(load_task(rules_.definition_of(t)), dl)) log_("fetched " + path);
}

void PeriodicEval::after_step(int64_t step, Llama& model) {
  if (c_.eval_interval == 0 || (step % c_.eval_interval != 0 && step != c_.steps)) return;
  std::vector<TaskResult> results;
  char buf[128];
  std::snprintf(buf, sizeof buf, "eval step %ld:", static_cast<long>(step));
  std::string line = buf;
  if (val_) {
    TaskResult val;
    val.task.name = "val";
    val.n_docs = c_.val_batches * c_.micro_batch;
    val.metrics.push_back({"loss", validation_loss(model, *val_, c_, device_), -1});
    telemetry_.add(step, "val", "loss", val.metrics[0].value);
    std::snprintf(buf, sizeof buf, " val loss %.4f", val.metrics[0].value);
    line += buf;
    results.push_back(val);
  }
  if (!c_.eval_tasks.empty()) {
    EvalOptions eo;
    eo.tasks = c_.eval_tasks;
    eo.rules = rules_;
    eo.data_dir = data_dir_;
    eo.limit = c_.eval_limit;
    eo.sample = c_.eval_sample;
    eo.sample_seed = c_.eval_seed;
    eo.bos = c_.eval_bos;
    for (auto& r : evaluate(model, tokenizer_, eo)) {
      for (const auto& m : r.metrics) {
        telemetry_.add(step, "eval." + r.task.name, m.name, m.value);
        if (m.stderr_ >= 0) telemetry_.add(step, "eval." + r.task.name, m.name + "_stderr", m.stderr_);
        std::snprintf(buf, sizeof buf, " %s %s %.4f", r.task.name.c_str(), m.name.c_str(), m.value);
        line += buf;
      }
      results.push_back(std::move(r));
    }
  }
  RunInfo info;
  info.run = c_.run_name;
  info.step = step;
  info.rules = rules_.id();
  info.bos = c_.eval_bos;
  info.date = utc_now_iso8601();
  if (!csv_path_.empty()) append_csv(csv_path_, info, results);
  log_(line);
}

}  // namespace wr
