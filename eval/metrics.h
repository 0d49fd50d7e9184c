// Metrics over scored documents, as lm-evaluation-harness computes them:
//   acc        argmax of summed log-likelihoods (ties go to the lowest index); for single-request tasks
//              (LAMBADA) whether the continuation is the greedy one
//   acc_norm   argmax of log-likelihood / length of the choice string in Unicode code points
//   acc_norm_nospace  the same with one leading space of the choice not counted (lighteval's
//              loglikelihood_acc_norm_nospace, which lighteval reports under the key acc_norm)
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
  int pred_norm_nospace = -1;
  double bpb = 0;      // of the gold continuation
  double prob_gold = 0;
};

size_t utf8_length(const std::string& s);
MetricValue mean_with_stderr(const std::string& name, const std::vector<double>& values);

// Generative tasks (TriviaQA): the generation is cut at the first stop string, then scored by the task's metric:
//   exact_match        lm-eval's: leading whitespace removed (filter remove_whitespace); ignore_case and
//                      ignore_punctuation lower-case (ASCII) and delete Python's string.punctuation from both
//                      sides; a match with any answer counts
//   quasi_exact_match  lighteval's quasi_exact_match_triviaqa: an empty generation scores 0; both sides stripped,
//                      then lower-cased and without string.punctuation; the answers first sorted and every alias
//                      that starts with the alias kept before it dropped (lighteval's triviaqa prompt does this,
//                      so a generation matching only such a longer alias scores 0)
std::string cut_generation(const std::string& text, const std::vector<std::string>& until);
std::string normalize_answer(const std::string& s);
bool exact_match_any(const std::string& prediction, const std::vector<std::string>& answers);
bool quasi_exact_match_any(const std::string& generation, std::vector<std::string> answers);
// The generative metrics' scores of one generation (cut at the stop strings), in the task's metric order.
std::vector<double> generation_scores(const TaskDef& task, const std::string& generation, const std::vector<std::string>& answers);
// The predictions and gold signals for one multiple-choice document (preds -1 for a single-request document);
// the rules say which text bpb counts the bytes of.
DocOutcome doc_outcome(const Doc& doc, const std::vector<RequestScore>& scores, const RuleSet& rules);
std::vector<MetricValue> compute_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& scores, const RuleSet& rules);

// A variant's metric against the model's own on the same documents (wr-eval --quant): the difference
// value - reference, the standard error of the per-document differences' mean, and a two-sided p-value of "no
// difference": exact McNemar on the discordant documents for the accuracies, the paired normal approximation for
// bpb and prob_gold, and for perplexity that of the documents' log-likelihoods. stderr_ < 0 and p NaN where there
// are too few documents.
struct PairedMetric {
  std::string name;
  double reference = 0, value = 0, delta = 0, stderr_ = -1, p = 0;
};
std::vector<PairedMetric> paired_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& reference,
                                         const std::vector<std::vector<RequestScore>>& scores, const RuleSet& rules);
// sum(numerators) / sum(denominators) over documents with the ratio estimator's standard error (documents as the
// sampled units, since a document's tokens are not independent): a mean over scored tokens, such as a variant's
// KL divergence (RequestScore::kl) or its top-1 agreement.
MetricValue ratio_with_stderr(const std::string& name, const std::vector<double>& numerators,
                              const std::vector<double>& denominators);

}  // namespace wr
