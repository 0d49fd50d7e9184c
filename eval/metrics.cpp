#include "eval/metrics.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "eval/compare.h"
#include "tasks/preprocess.h"

namespace wr {
namespace {

int argmax(const std::vector<double>& v) {
  int best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = static_cast<int>(i);  // strict: ties keep the lowest index
  return best;
}

}  // namespace

MetricValue mean_with_stderr(const std::string& name, const std::vector<double>& xs) {
  MetricValue m{name, 0, -1};
  if (xs.empty()) return m;
  for (double x : xs) m.value += x;
  m.value /= xs.size();
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - m.value) * (x - m.value);
    m.stderr_ = std::sqrt(ss / (xs.size() - 1) / xs.size());
  }
  return m;
}

std::string normalize_answer(const std::string& s) {
  static const std::string punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";  // Python's string.punctuation
  std::string out;
  for (char c : s) {
    if (punctuation.find(c) != std::string::npos) continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool exact_match_any(const std::string& prediction, const std::vector<std::string>& answers) {
  const std::string p = normalize_answer(prediction);
  for (const auto& a : answers)
    if (normalize_answer(a) == p) return true;
  return false;
}

bool quasi_exact_match_any(const std::string& generation, std::vector<std::string> answers) {
  if (generation.empty() || answers.empty()) return false;
  std::sort(answers.begin(), answers.end());  // Python's sort of str: code point order, which UTF-8 bytes keep
  std::vector<std::string> kept = {answers[0]};
  for (size_t i = 1; i < answers.size(); ++i)
    if (answers[i].rfind(kept.back(), 0) != 0) kept.push_back(answers[i]);
  const std::string p = normalize_answer(python_strip(generation));
  for (const auto& a : kept)
    if (python_strip(normalize_answer(a)) == p) return true;
  return false;
}

std::vector<double> generation_scores(const TaskDef& task, const std::string& generation,
                                      const std::vector<std::string>& answers) {
  std::vector<double> out;
  for (const auto& name : task.metrics) {
    if (name == "exact_match") out.push_back(exact_match_any(cut_generation(generation, task.until), answers));
    else if (name == "quasi_exact_match") out.push_back(quasi_exact_match_any(cut_generation(generation, task.until), answers));
    else fail(task.source, ": metric '", name, "' does not score generations (exact_match, quasi_exact_match)");
  }
  return out;
}

std::string cut_generation(const std::string& text, const std::vector<std::string>& until) {
  size_t end = text.size();
  for (const auto& u : until)
    if (!u.empty()) end = std::min(end, text.find(u));
  const std::string kept = text.substr(0, end);
  const size_t start = kept.find_first_not_of(" \t\n\r\f\v");
  return start == std::string::npos ? "" : kept.substr(start);
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

DocOutcome doc_outcome(const Doc& doc, const std::vector<RequestScore>& s, const RuleSet& rules) {
  if (doc.requests.size() == 1) return {};
  std::vector<double> lls, normed, normed_nospace;
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t length = utf8_length(doc.choices[i]);
    const size_t nospace = length - (!doc.choices[i].empty() && doc.choices[i][0] == ' ');
    lls.push_back(s[i].logprob);
    normed.push_back(s[i].logprob / static_cast<double>(std::max<size_t>(1, length)));
    normed_nospace.push_back(s[i].logprob / static_cast<double>(std::max<size_t>(1, nospace)));
  }
  DocOutcome o{argmax(lls), argmax(normed), argmax(normed_nospace)};
  const double gold_ll = lls[static_cast<size_t>(doc.gold)];
  const size_t gold_bytes = scored_continuation(doc.requests[static_cast<size_t>(doc.gold)], rules).size();
  o.bpb = -gold_ll / std::log(2.0) / static_cast<double>(std::max<size_t>(1, gold_bytes));
  double sum = 0;  // softmax relative to the best choice, so no exp underflows to 0 for all of them
  for (double ll : lls) sum += std::exp(ll - lls[static_cast<size_t>(o.pred)]);
  o.prob_gold = std::exp(gold_ll - lls[static_cast<size_t>(o.pred)]) / sum;
  return o;
}

namespace {

// Each document's value of each metric: acc (the greedy flag for single-request documents), acc_norm,
// acc_norm_nospace, bpb, prob_gold, and ll (single-request documents' log-likelihood).
struct DocValues {
  std::vector<double> acc, acc_norm, acc_norm_nospace, ll, bpb, prob_gold;
  const std::vector<double>* of(const std::string& metric) const {
    if (metric == "acc") return &acc;
    if (metric == "acc_norm") return &acc_norm;
    if (metric == "acc_norm_nospace") return &acc_norm_nospace;
    if (metric == "bpb") return &bpb;
    if (metric == "prob_gold") return &prob_gold;
    return nullptr;
  }
};

DocValues doc_values(const std::vector<Doc>& docs, const std::vector<std::vector<RequestScore>>& scores,
                     const RuleSet& rules) {
  DocValues v;
  auto& [acc, acc_norm, acc_norm_nospace, ll, bpb, prob_gold] = v;
  for (size_t d = 0; d < docs.size(); ++d) {
    const Doc& doc = docs[d];
    const auto& s = scores[d];
    if (doc.requests.size() == 1) {  // loglikelihood task: greedy match and perplexity
      acc.push_back(s[0].is_greedy ? 1.0 : 0.0);
      ll.push_back(s[0].logprob);
      continue;
    }
    const DocOutcome o = doc_outcome(doc, s, rules);
    acc.push_back(o.pred == doc.gold ? 1.0 : 0.0);
    acc_norm.push_back(o.pred_norm == doc.gold ? 1.0 : 0.0);
    acc_norm_nospace.push_back(o.pred_norm_nospace == doc.gold ? 1.0 : 0.0);
    bpb.push_back(o.bpb);
    prob_gold.push_back(o.prob_gold);
  }
  return v;
}

double perplexity(const std::vector<double>& ll) {
  double mean_ll = 0;
  for (double x : ll) mean_ll += x;
  return std::exp(-mean_ll / std::max<size_t>(1, ll.size()));
}

}  // namespace

std::vector<MetricValue> compute_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& scores, const RuleSet& rules) {
  const DocValues v = doc_values(docs, scores, rules);
  const auto& [acc, acc_norm, acc_norm_nospace, ll, bpb, prob_gold] = v;
  std::vector<MetricValue> out;
  for (const auto& name : task.metrics) {
    if (name == "acc") out.push_back(mean_with_stderr("acc", acc));
    else if (name == "acc_norm") out.push_back(mean_with_stderr("acc_norm", acc_norm));
    else if (name == "acc_norm_nospace") out.push_back(mean_with_stderr("acc_norm_nospace", acc_norm_nospace));
    else if (name == "perplexity") out.push_back({"perplexity", perplexity(ll), -1});
    else fail(task.source, ": unknown metric '", name, "' in metric_list");
  }
  if (!bpb.empty()) {
    out.push_back(mean_with_stderr("bpb", bpb));
    out.push_back(mean_with_stderr("prob_gold", prob_gold));
  }
  return out;
}

}  // namespace wr

namespace wr {

std::vector<PairedMetric> paired_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& reference,
                                         const std::vector<std::vector<RequestScore>>& scores, const RuleSet& rules) {
  const DocValues a = doc_values(docs, reference, rules), b = doc_values(docs, scores, rules);
  const auto reference_metrics = compute_metrics(task, docs, reference, rules);
  const auto metrics = compute_metrics(task, docs, scores, rules);
  std::vector<PairedMetric> out;
  for (size_t m = 0; m < metrics.size(); ++m) {
    const std::string& name = metrics[m].name;
    PairedMetric pm{name, reference_metrics[m].value, metrics[m].value, metrics[m].value - reference_metrics[m].value,
                    -1, std::nan("")};
    const bool perplexity = name == "perplexity";
    const std::vector<double>* va = perplexity ? &a.ll : a.of(name);
    const std::vector<double>* vb = perplexity ? &b.ll : b.of(name);
    if (va && vb && va->size() == vb->size() && va->size() >= 2) {
      std::vector<double> differences;
      int64_t only_a = 0, only_b = 0;  // the discordant documents of an accuracy
      for (size_t d = 0; d < va->size(); ++d) {
        differences.push_back((*vb)[d] - (*va)[d]);
        only_a += (*va)[d] > (*vb)[d], only_b += (*vb)[d] > (*va)[d];
      }
      const PairedDifference diff = paired_difference(differences);
      const bool accuracy = name == "acc" || name == "acc_norm" || name == "acc_norm_nospace";
      if (!perplexity) pm.stderr_ = diff.standard_error;
      pm.p = accuracy ? mcnemar_exact_p(only_a, only_b) : diff.p;
    }
    out.push_back(pm);
  }
  return out;
}

MetricValue ratio_with_stderr(const std::string& name, const std::vector<double>& numerators,
                              const std::vector<double>& denominators) {
  const size_t n = numerators.size();
  double num = 0, den = 0;
  for (size_t d = 0; d < n; ++d) num += numerators[d], den += denominators[d];
  MetricValue m{name, den > 0 ? num / den : 0, -1};
  if (n > 1 && den > 0) {  // se of a ratio estimator: the residuals num_d - r den_d over the mean denominator
    double ss = 0;
    for (size_t d = 0; d < n; ++d) ss += std::pow(numerators[d] - m.value * denominators[d], 2);
    m.stderr_ = std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n)) / (den / static_cast<double>(n));
  }
  return m;
}

}  // namespace wr
