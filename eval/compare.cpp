#include "eval/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "eval/report.h"

namespace wr {
namespace {

struct Cell {
  double value;
  std::string metric;
};

// run -> task -> its headline metric, as the paper reports them: acc_norm for HellaSwag, acc (or exact_match)
// for the rest.
using RunTable = std::map<std::string, std::map<std::string, Cell>>;

// acc_norm_nospace and quasi_exact_match are the lighteval rule set's forms of acc_norm and exact_match.
bool headline(const std::string& task, const std::string& metric) {
  if (starts_with(task, "hellaswag")) return metric == "acc_norm" || metric == "acc_norm_nospace";
  return metric == "acc" || metric == "exact_match" || metric == "quasi_exact_match";
}

// The headline metrics (percent, higher is better) and the gold answer's bits per byte (lower is better), and
// the rule set each run followed (the first word of the rules column).
struct Tables {
  RunTable headline, bpb;
  std::map<std::string, std::set<std::string>> rules_of;
};

void read_csv(const std::string& path, Tables& tables, std::vector<std::string>& order) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::string line;
  std::getline(in, line);
  if (line != kCsvHeader) fail(path, ": not a wr-eval CSV (header differs)");
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto f = split_csv_row(line);
    if (f.size() != 14) fail(path, ":", line_no, ": expected 14 fields, got ", f.size());
    const std::string &run = f[0], &task = f[4], &metric = f[5];
    tables.rules_of[run].insert(f[11].substr(0, f[11].find(' ')));
    RunTable* table = headline(task, metric) ? &tables.headline : metric == "bpb" ? &tables.bpb : nullptr;
    if (!table) continue;
    char* end = nullptr;
    double v = std::strtod(f[6].c_str(), &end);
    if (f[6].empty() || *end) fail(path, ":", line_no, ": value '", f[6], "' is not a number");
    if (std::find(order.begin(), order.end(), run) == order.end()) order.push_back(run);
    (*table)[run][task] = {v, metric};
  }
}

// One document of a --log-samples file: whether the headline prediction was right, and the gold answer's bits per
// byte (NaN for a generative task's documents and in logs written before wr-eval recorded it).
struct DocSample {
  bool correct = false;
  double bpb = std::nan("");
};

// task -> doc id -> its sample, from a --log-samples file
std::map<std::string, std::map<int64_t, DocSample>> read_samples(const std::string& path) {
  std::map<std::string, std::map<int64_t, DocSample>> out;
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      const std::string task = j.at("task");
      // the headline metric's prediction, as in read_csv
      const char* norm = j.value("rules", "lm-eval") == "lighteval" ? "pred_norm_nospace" : "pred_norm";
      const int gold = j.at("gold");
      DocSample& doc = out[task][j.at("doc_id").get<int64_t>()];
      doc.correct =
          gold < 0 ? j.at("is_greedy").get<bool>() : j.at(starts_with(task, "hellaswag") ? norm : "pred") == gold;
      if (gold >= 0 && j.contains("bpb") && j.at("bpb").is_number()) doc.bpb = j.at("bpb").get<double>();
    } catch (const nlohmann::json::exception& e) {
      fail(path, ":", line_no, ": ", e.what());
    }
  }
  return out;
}

// One row per task, a column per run (in the order first seen), the last run minus the first, and the mean over
// the tasks every run has. `scale` turns a value into what is printed (100 for percentages).
void print_table(RunTable& runs, const std::vector<std::string>& order, double scale, const char* value_format) {
  std::set<std::string> tasks;
  for (const auto& [run, t] : runs)
    for (const auto& [task, cell] : t) tasks.insert(task);
  std::printf("%-20s", "task");
  for (const auto& r : order) std::printf(" %18.18s", r.c_str());
  if (order.size() > 1) std::printf(" %8s", "delta");
  std::printf("\n");
  const std::string delta_format = std::string(" %+8") + value_format;
  auto cell = [&](double v) { std::printf((std::string(" %18") + value_format).c_str(), scale * v); };
  std::vector<double> sums(order.size(), 0);
  int common = 0;
  for (const auto& task : tasks) {
    std::printf("%-20s", task.c_str());
    bool all = true;
    for (const auto& r : order) {
      auto it = runs[r].find(task);
      if (it == runs[r].end()) {
        std::printf(" %18s", "-");
        all = false;
      } else {
        cell(it->second.value);
      }
    }
    if (order.size() > 1 && all)
      std::printf(delta_format.c_str(), scale * (runs[order.back()][task].value - runs[order.front()][task].value));
    std::printf("\n");
    if (all) {
      ++common;
      for (size_t i = 0; i < order.size(); ++i) sums[i] += runs[order[i]][task].value;
    }
  }
  if (common > 0) {
    std::printf("%-20s", ("mean (" + std::to_string(common) + " tasks)").c_str());
    for (double s : sums) cell(s / common);
    if (order.size() > 1) std::printf(delta_format.c_str(), scale * (sums.back() - sums.front()) / common);
    std::printf("\n");
  }
}

}  // namespace

double mcnemar_exact_p(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t k = std::min(b, c);
  // P(X <= k) for X ~ Binomial(n, 1/2), doubled, in log space for large n
  double p = 0;
  for (int64_t i = 0; i <= k; ++i)
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  return std::min(1.0, 2 * p);
}

PairedDifference paired_difference(const std::vector<double>& differences) {
  const double n = static_cast<double>(differences.size());
  if (n < 2) fail("a paired difference needs at least two pairs, got ", differences.size());
  double mean = 0;
  for (double d : differences) mean += d;
  mean /= n;
  double ss = 0;
  for (double d : differences) ss += (d - mean) * (d - mean);
  const double se = std::sqrt(ss / (n - 1) / n);
  // two-sided P(|Z| >= |mean / se|); a zero standard error (identical differences) is significant unless zero
  const double p = se > 0 ? std::erfc(std::fabs(mean / se) / std::sqrt(2.0)) : (mean == 0 ? 1.0 : 0.0);
  return {mean, se, p};
}

void compare_runs(const std::vector<std::string>& csv_paths, const std::vector<std::string>& samples) {
  Tables tables;
  std::vector<std::string> order;
  for (const auto& p : csv_paths) read_csv(p, tables, order);
  if (order.empty()) fail("no results in ", csv_paths.size(), " file(s)");
  std::set<std::string> all_rules;
  for (const auto& [run, rules] : tables.rules_of) all_rules.insert(rules.begin(), rules.end());
  if (all_rules.size() > 1) {
    std::printf("note: these runs follow different rule sets; the harnesses build different requests, so their\n"
                "numbers do not compare task by task:\n");
    for (const auto& run : order) std::printf("  %-24s %s\n", run.c_str(), join({tables.rules_of[run].begin(), tables.rules_of[run].end()}, ", ").c_str());
    std::printf("\n");
  }
  print_table(tables.headline, order, 100, ".1f");
  if (!tables.bpb.empty()) {
    std::printf("\nbits per byte of the gold answer (lower is better)\n");
    print_table(tables.bpb, order, 1, ".4f");
  }
  if (samples.empty()) return;
  if (samples.size() != 2) fail("--samples needs exactly two per-sample logs (A,B)");
  auto a = read_samples(samples[0]), b = read_samples(samples[1]);
  std::printf("\npaired tests on the documents both scored, %s (A) vs %s (B):\n"
              "accuracy: exact McNemar on the discordant documents; bits per byte of the gold answer: mean of B - A\n"
              "per document, its standard error and two-sided p (normal approximation)\n"
              "%-20s %6s %6s %6s %10s %12s %10s %10s\n",
              samples[0].c_str(), samples[1].c_str(), "task", "n", "A-only", "B-only", "p-value", "bpb B-A", "stderr",
              "p-value");
  for (const auto& [task, docs_a] : a) {
    if (!b.count(task)) continue;
    int64_t n = 0, only_a = 0, only_b = 0;
    std::vector<double> bpb_b_minus_a;
    for (const auto& [id, da] : docs_a) {
      auto it = b[task].find(id);
      if (it == b[task].end()) continue;
      const DocSample& db = it->second;
      ++n;
      only_a += da.correct && !db.correct;
      only_b += !da.correct && db.correct;
      if (std::isfinite(da.bpb) && std::isfinite(db.bpb)) bpb_b_minus_a.push_back(db.bpb - da.bpb);
    }
    std::printf("%-20s %6ld %6ld %6ld %10.4g", task.c_str(), static_cast<long>(n), static_cast<long>(only_a),
                static_cast<long>(only_b), mcnemar_exact_p(only_a, only_b));
    if (bpb_b_minus_a.size() >= 2) {
      const PairedDifference d = paired_difference(bpb_b_minus_a);
      std::printf(" %+12.4f %10.4f %10.4g", d.mean, d.standard_error, d.p);
    }
    std::printf("\n");
  }
}

}  // namespace wr
