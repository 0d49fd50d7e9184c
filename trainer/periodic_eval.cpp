#include "trainer/periodic_eval.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"
#include "common/strings.h"
#include "eval/evaluate.h"
#include "eval/quant_variants.h"
#include "eval/report.h"
#include "tasks/download.h"
#include "trainer/batch.h"

namespace wr {

PeriodicEval::PeriodicEval(const TrainConfig& c, const Tokenizer& tokenizer, const TokenStream* val,
                           const torch::Device& device, EvalRanks ranks, Telemetry& telemetry, std::function<void(const std::string&)> log,
                           const std::string& csv_path, int64_t keep_until_step)
    : c_(c), tokenizer_(tokenizer), val_(val), device_(device), ranks_(std::move(ranks)), telemetry_(telemetry), log_(std::move(log)),
      rules_(load_rules(c.eval_rules)), data_dir_(c.eval_data_dir.empty() ? default_data_dir() : c.eval_data_dir),
      csv_path_(csv_path) {
  if (!csv_path_.empty()) keep_csv_rows_through_step(csv_path_, keep_until_step);
  if (c.eval_quant.empty() || c.eval_interval == 0) return;
  try {
    quant_ = parse_quant_list(join(c.eval_quant, ","));
  } catch (const Error& e) {
    fail("eval.quant: ", e.what());
  }
  if (c.eval_tasks.empty()) fail("eval.quant scores eval.tasks under quantization, and eval.tasks is empty");
  const bool a8t = std::any_of(quant_.begin(), quant_.end(), [](const QuantScheme& s) { return s.inputs == InputQuant::kInt8Static; });
  if (a8t && !val_) fail("eval.quant a8t calibrates its input scales on the validation split; set eval.val_batches > 0");
}

// eval.quant's variants of the model as it is now: weights rounded once per scheme family (w8, w8a8 and a8t share
// one copy), a8t's static input scales from the first 64 windows of up to 512 tokens of the validation split, as
// wr-eval --quant-calibration takes them from its file (model/quant.h). The decoder's linear layers, not lm_head.
std::vector<ScoreVariant> PeriodicEval::quant_variants(Llama& model) const {
  return wr::quant_variants(model, quant_, /*head=*/false, [&] {
    const int64_t length = std::min<int64_t>(512, c_.model.max_seq_len);
    std::vector<std::vector<int64_t>> windows;
    for (int64_t start = 0; start < val_->size() && windows.size() < 64; start += length) {
      windows.emplace_back(std::min(length, val_->size() - start));
      val_->read(start, static_cast<int64_t>(windows.back().size()), windows.back().data());
    }
    return windows;
  });
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
    // each process's share of the batches' mean, summed
    auto loss = torch::full({1}, validation_loss(model, *val_, c_, device_, ranks_.rank, ranks_.world), torch::kFloat64);
    ranks_.all_sum(loss);
    val.metrics.push_back({"loss", loss.item<double>(), -1});
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
    eo.variants = quant_variants(model);
    eo.ranks = ranks_;
    eo.prepared = &prepared_;  // the tokenizer and BOS do not change during a run
    for (auto& r : evaluate(model, tokenizer_, eo)) {
      const std::string name = "eval." + r.task.name + (r.quant == "none" ? "" : "." + r.quant);
      for (const auto& m : r.metrics) {
        telemetry_.add(step, name, m.name, m.value);
        if (m.stderr_ >= 0) telemetry_.add(step, name, m.name + "_stderr", m.stderr_);
        std::snprintf(buf, sizeof buf, " %s %s %.4f", (r.task.name + (r.quant == "none" ? "" : "[" + r.quant + "]")).c_str(),
                      m.name.c_str(), m.value);
        line += buf;
      }
      for (const auto& p : r.paired) telemetry_.add(step, name, p.name + "_delta", p.delta);
      results.push_back(std::move(r));
    }
  }
  RunInfo info;
  info.run = c_.run_name;
  info.step = step;
  info.tokens = step * c_.tokens_per_step();
  info.subset = subset_name(c_.eval_limit, c_.eval_sample, c_.eval_seed);
  info.rules = rules_.id();
  info.bos = c_.eval_bos;
  info.date = utc_now_iso8601();
  if (!csv_path_.empty()) append_csv(csv_path_, info, results);
  log_(line);
}

}  // namespace wr
