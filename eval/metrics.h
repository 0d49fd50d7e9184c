// Metrics over scored documents, as lm-evaluation-harness computes them:
//   acc        argmax of summed log-likelihoods (ties go to the lowest index); for single-request tasks
//              (LAMBADA) whether the continuation is the greedy one
//   acc_norm   argmax of log-likelihood / length of the choice string in Unicode code points
//   perplexity exp(-mean log-likelihood) over documents
//   stderr     sqrt(p(1-p)/(n-1)) for the accuracies (the sample standard error of a mean of 0/1 values)
#pragma once
#include <string>
#include <vector>

#include "eval/score.h"
#include "tasks/task.h"

namespace wr {

struct MetricValue {
  std::string name;
  double value = 0;
  double stderr_ = -1;  // < 0: not computed
};

struct DocOutcome {
  int pred = -1;       // argmax by acc
  int pred_norm = -1;  // argmax by acc_norm
};

size_t utf8_length(const std::string& s);
std::vector<MetricValue> compute_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& scores,
                                         std::vector<DocOutcome>* outcomes = nullptr);

}  // namespace wr
