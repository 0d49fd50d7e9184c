#include "eval/metrics.h"

#include <cmath>

#include "common/error.h"

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

DocOutcome doc_outcome(const Doc& doc, const std::vector<RequestScore>& s) {
  if (doc.requests.size() == 1) return {};
  std::vector<double> lls, normed;
  for (size_t i = 0; i < s.size(); ++i) {
    lls.push_back(s[i].logprob);
    normed.push_back(s[i].logprob / static_cast<double>(std::max<size_t>(1, utf8_length(doc.choices[i]))));
  }
  DocOutcome o{argmax(lls), argmax(normed)};
  const double gold_ll = lls[static_cast<size_t>(doc.gold)];
  const size_t gold_bytes = scored_continuation(doc.requests[static_cast<size_t>(doc.gold)]).size();
  o.bpb = -gold_ll / std::log(2.0) / static_cast<double>(std::max<size_t>(1, gold_bytes));
  double sum = 0;  // softmax relative to the best choice, so no exp underflows to 0 for all of them
  for (double ll : lls) sum += std::exp(ll - lls[static_cast<size_t>(o.pred)]);
  o.prob_gold = std::exp(gold_ll - lls[static_cast<size_t>(o.pred)]) / sum;
  return o;
}

std::vector<MetricValue> compute_metrics(const TaskDef& task, const std::vector<Doc>& docs,
                                         const std::vector<std::vector<RequestScore>>& scores) {
  std::vector<double> acc, acc_norm, ll, bpb, prob_gold;
  for (size_t d = 0; d < docs.size(); ++d) {
    const Doc& doc = docs[d];
    const auto& s = scores[d];
    if (doc.requests.size() == 1) {  // loglikelihood task: greedy match and perplexity
      acc.push_back(s[0].is_greedy ? 1.0 : 0.0);
      ll.push_back(s[0].logprob);
      continue;
    }
    const DocOutcome o = doc_outcome(doc, s);
    acc.push_back(o.pred == doc.gold ? 1.0 : 0.0);
    acc_norm.push_back(o.pred_norm == doc.gold ? 1.0 : 0.0);
    bpb.push_back(o.bpb);
    prob_gold.push_back(o.prob_gold);
  }
  std::vector<MetricValue> out;
  for (const auto& name : task.metrics) {
    if (name == "acc") out.push_back(mean_with_stderr("acc", acc));
    else if (name == "acc_norm") out.push_back(mean_with_stderr("acc_norm", acc_norm));
    else if (name == "perplexity") {
      double mean_ll = 0;
      for (double x : ll) mean_ll += x;
      out.push_back({"perplexity", std::exp(-mean_ll / std::max<size_t>(1, ll.size())), -1});
    } else fail(task.source, ": unknown metric '", name, "' in metric_list");
  }
  if (!bpb.empty()) {
    out.push_back(mean_with_stderr("bpb", bpb));
    out.push_back(mean_with_stderr("prob_gold", prob_gold));
  }
  return out;
}

}  // namespace wr
