// Metrics over scored documents, as lm-evaluation-harness computes them:
//   acc        argmax of summed log-likelihoods (ties go to the lowest index); for single-request tasks
//              (LAMBADA) whether the continuation is the greedy one
//   acc_norm   argmax of log-likelihood / length of the choice string in Unicode code points
//   perplexity exp(-mean log-likelihood) over documents
// and, for every multiple-choice task whatever its metric list, the smooth signals of the gold answer that still
// move while accuracy sits at chance (OLMo's evaluation reports them for the same reason), means over documents:
//   bpb        bits per byte: -log p(gold continuation) / ln 2 / UTF-8 bytes of that continuation as scored
//              (with the context's trailing whitespace moved into it); lower is better
//   prob_gold  the gold choice's probability under a softmax of the choices' summed log-likelihoods
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
  double bpb = 0;      // of the gold continuation
  double prob_gold = 0;
};

size_t utf8_length(const std::string& s);
MetricValue mean_with_stderr(const std::string& name, const std::vector<double>& values);

// Generative tasks (TriviaQA), as lm-eval scores them: the generation is cut at the first stop string and
// its leading whitespace removed (filter remove_whitespace); exact_match with ignore_case and
// ignore_punctuation lower-cases (ASCII) and deletes Python's string.punctuation from both sides, and a
// generation counts when it matches any of the answers.
std::string cut_generation(const std::string& text, const std::vector<std::string>& until);
std::string normalize_answer(const std::string& s);
bool exact_match_any(const std::string& prediction, const std::vector<std::string>& answers);
// The predictions and gold signals for one multiple-choice document (preds -1 for a single-request document).
DocOutcome doc_outcome(const Doc& doc, const std::vector<RequestScore>& scores);
std::vector<MetricValue> compute_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& scores);

}  // namespace wr
