// wr-eval compare: a table of tasks x runs from result CSVs (ours, or results/paper_table.csv), with deltas
// against the first run and the mean over the tasks every run has; given per-sample logs of two runs, an exact
// McNemar test per task on the documents both scored, and a paired test of the gold answer's bits per byte (the
// measure that moves when accuracy sits at chance), so a user can tell whether a difference is real. A sweep's CSV
// (runs with rows at several steps: wr-eval over run directories) gets curves by step instead, each run against
// the first at the steps both scored, with Holm's correction over those steps.
#pragma once
#include <string>
#include <vector>

namespace wr {

// Two-sided exact McNemar p-value from the discordant counts (b: only A right, c: only B right).
double mcnemar_exact_p(int64_t b, int64_t c);

// The mean of paired differences (B - A per document), its standard error, and the two-sided p-value of "the
// mean is zero" by the normal approximation (a paired t-test at the hundreds of documents a task has).
struct PairedDifference {
  double mean, standard_error, p;
};
PairedDifference paired_difference(const std::vector<double>& differences);

// Holm's step-down adjustment of p-values for testing them all (each the smallest family-wise level at which
// its test is rejected), in the input's order.
std::vector<double> holm_adjusted(const std::vector<double>& p);

// Writes the comparison table to stdout. samples: empty, or one --log-samples JSONL per CSV, in the same order.
void compare_runs(const std::vector<std::string>& csv_paths, const std::vector<std::string>& samples);

}  // namespace wr
