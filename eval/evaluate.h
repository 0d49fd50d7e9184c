// The evaluation library entry point: tasks -> documents -> tokenized requests -> scores -> metrics, on a model
// in memory. wr-eval calls it on a loaded checkpoint and the trainer calls it periodically on the model it is
// training (no checkpoint round trip). It never exits the process; errors are wr::Error.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/metrics.h"
#include "eval/ranks.h"
#include "eval/score.h"

namespace wr {

// Documents and tokenized requests kept from one evaluate() to the next, for models that share a tokenizer, BOS
// and options (a sweep's checkpoints): each task's file is read and its requests tokenized once. Its owner keeps
// one per tokenizer and BOS; evaluate() fills it on first use. It holds every chunk's requests, where an
// evaluation without it holds one chunk's at a time.
struct PreparedTasks {
  struct Task {
    std::vector<Doc> docs;                                           // the documents scored
    std::vector<std::vector<std::vector<TokenizedRequest>>> chunks;  // per chunk of documents, per document
  };
  std::map<std::string, Task> by_definition;
};

struct EvalOptions {
  std::vector<std::string> tasks;
  std::string data_dir;   // where the tasks' files are (default_data_dir())
  int64_t limit = 0;      // first N documents of each task; 0: all
  int64_t sample = 0;     // a seeded random N documents of each task instead (sample_docs); 0: off
  uint64_t sample_seed = 1234;
  RuleSet rules = load_rules(kDefaultRules);  // the harness whose formulations and request rules are followed
  bool bos = true;        // prepend BOS to every context
  int num_fewshot = 0;    // examples before each context (add_fewshot in tasks/task.h)
  uint64_t fewshot_seed = 1234;
  // Receives one JSON object per request (generative tasks: per document) as soon as its document is scored,
  // so a --log-samples file is written as the run goes instead of held in memory; null: no samples. Data
  // parallel, set it on rank 0 alone: that process also tokenizes the others' documents for the token ids.
  std::function<void(const nlohmann::json&)> on_sample;
  ScoreOptions score;
  // Variants scored beside the model on the same documents (wr-eval --quant): each adds a TaskResult per task
  // with quant = its name, its metrics against the model's (paired) and the divergence metrics kl and top1_agree.
  std::vector<ScoreVariant> variants;
  PreparedTasks* prepared = nullptr;  // null: every evaluate() reads and tokenizes afresh
  // Data parallel: this process scores its share of each task's documents and every process returns the results
  // of all of them (eval/ranks.h). score.stats and a TaskResult's model_seconds count this process's share.
  EvalRanks ranks;
};

struct TaskResult {
  TaskDef task;
  int64_t n_docs = 0;
  std::vector<MetricValue> metrics;
  double seconds = 0;
  int64_t tokens_scored = 0;            // continuation tokens
  int64_t requests = 0;                 // log-likelihood requests scored
  int64_t context_not_prefix = 0;       // of those, requests whose enc(ctx) is not a prefix of enc(ctx + cont)
  std::string quant = "none";           // the variant these are the scores of (EvalOptions::variants); "none": the model
  std::vector<PairedMetric> paired;     // a variant's: each metric against the model's on the same documents
  double model_seconds = 0;             // scoring time in this row's model (decoder and head; a group: its subtasks')
};

// Fails naming model_path when the tokenizer has ids the model has no embedding for.
void check_tokenizer_fits(Llama& model, const Tokenizer& tok, const std::string& model_path);

// A group (MMLU) expands to its subtasks' results followed by group_results. With variants, each task's row of the
// model ("none") is followed by one row per variant, and a group's rows come per variant too.
std::vector<TaskResult> evaluate(Llama& model, const Tokenizer& tok, const EvalOptions& opt);

// Each metric (acc, bpb, prob_gold) per category and over the whole group: means over documents (lm-eval's
// weight_by_size; acc's stderr from the pooled 0/1 outcomes) or over subtasks (lighteval's _average; the mean
// of their stderrs); categories in name order, the whole group ("mmlu") last. Each row's task.subtasks lists
// the subtasks it averages.
std::vector<TaskResult> group_results(const TaskDef& group, const std::vector<TaskResult>& subtasks, GroupMean mean);

}  // namespace wr
