#include "eval/compare.h"
#include "eval/report.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/file.h"
#include "tests/test_util.h"

namespace {

std::vector<wr::TaskResult> one_result() {
  wr::TaskResult r;
  r.task.name = "arc_easy";
  r.task.harness = "lm-evaluation-harness v0.4.x tasks/arc/arc_easy.yaml";
  r.task.version = 1.0;
  r.n_docs = 10;
  r.metrics = {{"acc", 0.551, 0.0123}, {"acc_norm", 0.6, 0.01}};
  return {r};
}

TEST(Report, CsvAppendsUnderOneHeader) {
  auto path = wr::test::temp_dir() + "/results.csv";
  wr::RunInfo run{"lir", "ckpt.pt", "abc", 1200, "lm-eval sha256:0123456789ab", true, 0, "2026-11-27T00:00:00Z"};
  wr::append_csv(path, run, one_result());
  wr::append_csv(path, run, one_result());
  auto text = wr::read_file(path);
  EXPECT_EQ(text.rfind(wr::kCsvHeader, 0), 0u);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5);
  EXPECT_NE(text.find("\nlir,ckpt.pt,abc,1200,arc_easy,acc,0.551,0.0123,10,0,on,lm-eval sha256:0123456789ab,"),
            std::string::npos)
      << text;
  wr::write_file_atomic(path, "other,header\n");
  EXPECT_THROW(wr::append_csv(path, run, one_result()), wr::Error);
  EXPECT_EQ(wr::read_file(path), "other,header\n");
}

TEST(Report, HarnessJsonLayout) {
  wr::RunInfo run{"lir", "ckpt.pt", "abc", 1200, "lm-eval sha256:0123456789ab", true, 0, "d"};
  auto j = wr::harness_json(run, {}, one_result());
  EXPECT_DOUBLE_EQ(j["results"]["arc_easy"]["acc,none"].get<double>(), 0.551);
  EXPECT_DOUBLE_EQ(j["results"]["arc_easy"]["acc_stderr,none"].get<double>(), 0.0123);
  EXPECT_EQ(j["n-shot"]["arc_easy"], 0);
  EXPECT_DOUBLE_EQ(j["versions"]["arc_easy"].get<double>(), 1.0);
  EXPECT_TRUE(j["config"]["bos"].get<bool>());
  // the rule set the options carry (lm-eval by default), with the sha256 of its file
  EXPECT_EQ(j["config"]["rules"]["name"], "lm-eval");
  EXPECT_EQ(j["config"]["rules"]["sha256"].get<std::string>().size(), 64u);
}

TEST(Report, HarnessJsonGroups) {
  const auto group = wr::load_task("mmlu");
  wr::TaskResult anatomy, philosophy;
  anatomy.task = wr::load_task("mmlu_anatomy");
  anatomy.n_docs = 2;
  anatomy.metrics = {{"acc", 0.5, -1}};
  philosophy.task = wr::load_task("mmlu_philosophy");
  philosophy.n_docs = 2;
  philosophy.metrics = {{"acc", 1.0, -1}};
  auto results = std::vector<wr::TaskResult>{anatomy, philosophy};
  for (auto& g : wr::group_results(group, results, wr::GroupMean::kWeightBySize)) results.push_back(g);
  auto j = wr::harness_json(wr::RunInfo{}, {}, results);
  EXPECT_DOUBLE_EQ(j["groups"]["mmlu"]["acc,none"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["groups"]["mmlu_stem"]["acc,none"].get<double>(), 0.5);
  // the subtasks each group row averages (a full run has all 57; this one scored two)
  EXPECT_EQ(j["group_subtasks"]["mmlu"], nlohmann::json({"mmlu_anatomy", "mmlu_philosophy"}));
  EXPECT_EQ(j["group_subtasks"]["mmlu_humanities"], nlohmann::json({"mmlu_philosophy"}));
  EXPECT_EQ(j["results"].count("mmlu_anatomy"), 1u);
  EXPECT_EQ(j["groups"].count("mmlu_anatomy"), 0u);
}

}  // namespace

namespace {

TEST(Compare, McNemarExactKnownValues) {
  // b=0, c=5: 2 * 0.5^5 = 0.0625; b=c: 1; b=1, c=9: 2 * (1 + 10) / 1024
  EXPECT_NEAR(wr::mcnemar_exact_p(0, 5), 0.0625, 1e-12);
  EXPECT_NEAR(wr::mcnemar_exact_p(4, 4), 1.0, 1e-12);
  EXPECT_NEAR(wr::mcnemar_exact_p(1, 9), 22.0 / 1024, 1e-12);
}

TEST(Compare, PairedDifferenceKnownValues) {
  // Python: statistics.mean, statistics.stdev / sqrt(n), 2 * (1 - NormalDist().cdf(|z|))
  const auto d = wr::paired_difference({0.1, 0.2, 0.3, 0.4, 0.5, -0.1});
  EXPECT_NEAR(d.mean, 0.23333333333333334, 1e-12);
  EXPECT_NEAR(d.standard_error, 0.08819171036881969, 1e-12);
  EXPECT_NEAR(d.p, 0.008150971593502643, 1e-9);
  EXPECT_EQ(wr::paired_difference({0.5, 0.5}).p, 0.0);
  EXPECT_EQ(wr::paired_difference({0.0, 0.0}).p, 1.0);
  EXPECT_THROW(wr::paired_difference({0.1}), std::exception);
}

// Two per-sample logs of the same three documents: the discordant counts and the bits-per-byte differences
// (B - A: -0.1, -0.2, -0.3) on the documents both scored; a document only one run scored is left out.
TEST(Compare, PairedTestsOnTheDocumentsBothScored) {
  const std::string dir = wr::test::temp_dir();
  auto line = [](int doc, int pred, double bpb) {
    return "{\"task\": \"piqa\", \"rules\": \"lm-eval\", \"doc_id\": " + std::to_string(doc) +
           ", \"gold\": 0, \"pred\": " + std::to_string(pred) + ", \"is_greedy\": false, \"bpb\": " +
           std::to_string(bpb) + "}\n";
  };
  wr::write_file_atomic(dir + "/a.jsonl", line(0, 0, 1.0) + line(1, 1, 1.5) + line(2, 1, 2.0) + line(3, 0, 9.0));
  wr::write_file_atomic(dir + "/b.jsonl", line(0, 1, 0.9) + line(1, 0, 1.3) + line(2, 0, 1.7));
  testing::internal::CaptureStdout();
  wr::compare_runs({std::string(WR_SOURCE_DIR) + "/results/paper_table.csv"}, {dir + "/a.jsonl", dir + "/b.jsonl"});
  const auto out = testing::internal::GetCapturedStdout();
  const auto d = wr::paired_difference({-0.1, -0.2, -0.3});
  char expected[160];
  std::snprintf(expected, sizeof expected, "%-20s %6d %6d %6d %10.4g %+12.4f %10.4f %10.4g", "piqa", 3, 1, 2,
                wr::mcnemar_exact_p(1, 2), d.mean, d.standard_error, d.p);
  EXPECT_TRUE(wr::test::contains(out, expected)) << out << "\nexpected: " << expected;
  EXPECT_NEAR(d.mean, -0.2, 1e-12);

  // A generative task's documents have no gold choice: accuracy is compared, bits per byte is not.
  auto greedy = [](int doc, bool hit) {
    return "{\"task\": \"lambada_openai\", \"doc_id\": " + std::to_string(doc) + ", \"gold\": -1, \"pred\": 0, " +
           "\"is_greedy\": " + (hit ? "true" : "false") + ", \"bpb\": null}\n";
  };
  wr::write_file_atomic(dir + "/a.jsonl", greedy(0, true) + greedy(1, true) + greedy(2, false));
  wr::write_file_atomic(dir + "/b.jsonl", greedy(0, false) + greedy(1, true) + greedy(2, false));
  testing::internal::CaptureStdout();
  wr::compare_runs({std::string(WR_SOURCE_DIR) + "/results/paper_table.csv"}, {dir + "/a.jsonl", dir + "/b.jsonl"});
  const auto greedy_out = testing::internal::GetCapturedStdout();
  std::snprintf(expected, sizeof expected, "%-20s %6d %6d %6d %10.4g\n", "lambada_openai", 3, 1, 0, wr::mcnemar_exact_p(1, 0));
  EXPECT_TRUE(wr::test::contains(greedy_out, expected)) << greedy_out << "\nexpected: " << expected;
}

TEST(Compare, ReadsThePaperTable) {
  testing::internal::CaptureStdout();
  wr::compare_runs({std::string(WR_SOURCE_DIR) + "/results/paper_table.csv"}, {});
  auto out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("hellaswag"), std::string::npos);
  EXPECT_NE(out.find("55.1"), std::string::npos);
  EXPECT_NE(out.find("mean (7 tasks)"), std::string::npos);
  // the paper's means, 49.8 and 52.5, from the per-task numbers
  EXPECT_NE(out.find("49.8"), std::string::npos) << out;
  EXPECT_NE(out.find("52.5"), std::string::npos) << out;
  EXPECT_NE(out.find("+2.7"), std::string::npos) << out;
}

}  // namespace
