#include "eval/compare.h"
#include "eval/report.h"

#include <sys/wait.h>
#include <unistd.h>

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
  wr::RunInfo run{"lir", "ckpt.pt", "abc", 1200, "lm-eval sha256:0123456789ab", true, 0, "2026-11-27T00:00:00Z", "", {}, -1, "all"};
  wr::append_csv(path, run, one_result());
  run.step = 1300;
  wr::append_csv(path, run, one_result());
  wr::append_csv(path, run, one_result());  // the same run, step, task and settings again: replaces, not adds
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

// The sweep pattern: processes appending to one CSV at once each add all their rows (36 of 48 survived before
// the CSV was locked).
TEST(Report, ConcurrentAppendsKeepEveryRow) {
  const auto path = wr::test::temp_dir() + "/results.csv";
  constexpr int kProcesses = 4, kAppends = 15;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      wr::RunInfo run{"run" + std::to_string(p), "ckpt.pt", "abc", 0, "lm-eval", true, 0, "d", "", {}, -1, "all"};
      for (int i = 0; i < kAppends; ++i) {
        run.step = i;
        wr::append_csv(path, run, one_result());
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const auto text = wr::read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + kProcesses * kAppends * 2);  // two metrics a result
  for (int p = 0; p < kProcesses; ++p)
    for (int i = 0; i < kAppends; ++i)
      EXPECT_NE(text.find("\nrun" + std::to_string(p) + ",ckpt.pt,abc," + std::to_string(i) + ",arc_easy,acc,"),
                std::string::npos)
          << "run" << p << " step " << i;
}

TEST(Report, HarnessJsonLayout) {
  wr::RunInfo run{"lir", "ckpt.pt", "abc", 1200, "lm-eval sha256:0123456789ab", true, 0, "d", "", {}, -1, "all"};
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

// ---- wr-eval compare: inputs checked before anything prints, columns read by name, headlines from definitions ----
namespace {

using wr::test::contains;
using wr::test::error_of;

// A row of wr-eval's CSV with the fields compare reads; the rest as wr-eval writes them.
std::string csv_row(const std::string& run, const std::string& checkpoint, const std::string& task,
                    const std::string& metric, const std::string& value,
                    const std::string& rules = "lm-eval sha256:0123456789ab") {
  return run + "," + checkpoint + ",abc,500," + task + "," + metric + "," + value + ",0.01,100,0,on," + rules +
         ",0.1,2026-01-01T00:00:00Z,none,,all\n";
}

std::string write_csv(const std::string& dir, const std::string& name, const std::string& rows) {
  const std::string path = dir + "/" + name;
  wr::write_file_atomic(path, std::string(wr::kCsvHeader) + "\n" + rows);
  return path;
}

// stdout of compare_runs, and its error ("" when it succeeded).
std::pair<std::string, std::string> compare(const std::vector<std::string>& csvs, const std::vector<std::string>& samples = {}) {
  testing::internal::CaptureStdout();
  const std::string error = error_of([&] { wr::compare_runs(csvs, samples); });
  return {testing::internal::GetCapturedStdout(), error};
}

// F20: wr-eval writes a run name holding a line break, quoted (RFC 4180); the same code reads it back, for
// compare and for wr-train's resume.
TEST(Report, CsvRowsWithLineBreaksAndQuotesReadBack) {
  const auto path = wr::test::temp_dir() + "/results.csv";
  wr::RunInfo run{"two\nlines, \"quoted\"", "ckpt.pt", "abc", 1200, "lm-eval sha256:0123456789ab", true, 0, "d", "", {}, -1, "all"};
  wr::append_csv(path, run, one_result());
  const auto rows = wr::parse_csv(wr::read_file(path), path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].fields.size(), 17u);
  EXPECT_EQ(rows[1].fields[0], "two\nlines, \"quoted\"");
  EXPECT_EQ(rows[1].fields[5], "acc");
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].line, 4);  // the first row spans lines 2 and 3
  wr::keep_csv_rows_through_step(path, 1200);
  EXPECT_EQ(wr::parse_csv(wr::read_file(path), path).size(), 3u);
  const auto [out, error] = compare({path});
  EXPECT_EQ(error, "");
  EXPECT_TRUE(contains(out, "two\\nlines, \"quoted\"")) << out;  // one table line, the break escaped
  EXPECT_TRUE(contains(out, "55.1")) << out;
  EXPECT_EQ(wr::parse_csv("a,\"b\r\nc\"\r\nd,e\r\n", "x.csv")[0].fields[1], "b\r\nc");
  EXPECT_EQ(error_of([] { wr::parse_csv("a,\"b\nc\n", "x.csv"); }), "x.csv:1: a quoted field is never closed");
  EXPECT_TRUE(contains(error_of([] { wr::parse_csv("a,b\"c\n", "x.csv"); }), "x.csv:1: a quote inside an unquoted field"));
  EXPECT_TRUE(contains(error_of([] { wr::parse_csv("h\na,\"b\"c\n", "x.csv"); }), "x.csv:2: text after a quoted field's"));
}

// F6: without --run, two runs' checkpoints of one file name get different names, and rows of one run name from
// two checkpoints are two columns (the name is no key); the same checkpoint's value twice is an error naming both.
TEST(Compare, NoRowIsDroppedSilently) {
  const std::string dir = wr::test::temp_dir();
  EXPECT_EQ(wr::default_run_name("/x/runs/a/ckpt_00000500.pt"), "a/ckpt_00000500.pt");
  EXPECT_NE(wr::default_run_name("runs/a/ckpt_00000500.pt"), wr::default_run_name("runs/b/ckpt_00000500.pt"));
  EXPECT_EQ(wr::default_run_name("/models/SmolLM-135M/"), "models/SmolLM-135M");
  const auto two = write_csv(dir, "two.csv", csv_row("ckpt_00000500.pt", "a/ckpt_00000500.pt", "piqa", "acc", "0.6") +
                                            csv_row("ckpt_00000500.pt", "b/ckpt_00000500.pt", "piqa", "acc", "0.7"));
  const auto [out, error] = compare({two});
  EXPECT_EQ(error, "");
  EXPECT_TRUE(contains(out, "ckpt_00000500.pt [checkpoint=a/ckpt_00000500.pt]")) << out;
  EXPECT_TRUE(contains(out, "ckpt_00000500.pt [checkpoint=b/ckpt_00000500.pt]")) << out;
  EXPECT_TRUE(contains(out, "60.0")) << out;
  EXPECT_TRUE(contains(out, "70.0")) << out;
  EXPECT_TRUE(contains(out, "+10.0")) << out;

  const auto again = write_csv(dir, "again.csv", csv_row("lir", "ckpt.pt", "piqa", "acc", "0.6") +
                                                csv_row("lir", "ckpt.pt", "arc_easy", "acc", "0.5") +
                                                csv_row("lir", "ckpt.pt", "piqa", "acc", "0.61"));
  const auto [again_out, again_error] = compare({again});
  EXPECT_EQ(again_error, again + ":4 and " + again + ":2: two values of run 'lir', piqa acc from one checkpoint and "
                                                     "settings; keep one (or name the runs apart with --run)");
  EXPECT_EQ(again_out, "");
  EXPECT_EQ(compare({two, two}).second, two + " and " + two + " are one file; name each input once");
}

// F17: a value that is not an accuracy (or not bits per byte) is refused with one line naming file, row, column.
TEST(Compare, ValuesThatAreNoAccuracyAreRefused) {
  const std::string dir = wr::test::temp_dir();
  for (const std::string value : {"nan", "inf", "-5", "1.5", "", "0.5x"}) {
    const auto path = write_csv(dir, "bad.csv", csv_row("lir", "ckpt.pt", "arc_easy", "acc", "0.5") +
                                               csv_row("lir", "ckpt.pt", "piqa", "acc", value));
    const auto [out, error] = compare({path});
    EXPECT_EQ(error, path + ":3: column 'value' of run 'lir', piqa acc: '" + value +
                         "' is not an accuracy (a number from 0 to 1)");
    EXPECT_EQ(out, "");
  }
  const auto bpb = write_csv(dir, "bpb.csv", csv_row("lir", "ckpt.pt", "piqa", "bpb", "-1"));
  EXPECT_EQ(compare({bpb}).second, bpb + ":2: column 'value' of run 'lir', piqa bpb: '-1' is not bits per byte (a number >= 0)");
  // a metric no table shows is not read (perplexity may be inf)
  const auto ppl = write_csv(dir, "ppl.csv", csv_row("lir", "ckpt.pt", "lambada_openai", "perplexity", "inf") +
                                            csv_row("lir", "ckpt.pt", "lambada_openai", "acc", "0.25"));
  EXPECT_EQ(compare({ppl}).second, "");
}

// Issue 32: the headline is each row's definition's, under the rule set the row names; rows are read by column
// name (here in another order, with a column wr-eval does not write), and compare.cpp names no task or rule set.
TEST(Compare, HeadlinesComeFromTheTaskDefinitions) {
  const std::string dir = wr::test::temp_dir();
  const std::string lm = "lm-eval sha256:0123456789ab", lv = "lighteval sha256:0123456789ab";
  const auto path = write_csv(dir, "h.csv", csv_row("a", "a.pt", "hellaswag", "acc", "0.30", lm) +
                                           csv_row("a", "a.pt", "hellaswag", "acc_norm", "0.35", lm) +
                                           csv_row("a", "a.pt", "mmlu_stem", "acc", "0.26", lm) +
                                           csv_row("a", "a.pt", "val", "loss", "3.2", lm) +
                                           csv_row("b", "b.pt", "hellaswag", "acc_norm_nospace", "0.40", lv) +
                                           csv_row("b", "b.pt", "hellaswag", "acc", "0.31", lv));
  const auto [out, error] = compare({path});
  EXPECT_EQ(error, "");
  EXPECT_TRUE(contains(out, "35.0")) << out;
  EXPECT_TRUE(contains(out, "40.0")) << out;
  EXPECT_FALSE(contains(out, "30.0")) << out;
  EXPECT_FALSE(contains(out, "31.0")) << out;
  EXPECT_TRUE(contains(out, "26.0")) << out;
  EXPECT_TRUE(contains(out, "note: these runs follow different rule sets")) << out;
  EXPECT_TRUE(contains(out, "note: not shown, no task definition says what heads them: val")) << out;

  const auto reordered = dir + "/reordered.csv";
  wr::write_file_atomic(reordered, "extra,value,metric,task,rules,run\nx,0.42,acc,piqa," + lm + ",r\n");
  const auto [reordered_out, reordered_error] = compare({reordered});
  EXPECT_EQ(reordered_error, "");
  EXPECT_TRUE(contains(reordered_out, "42.0")) << reordered_out;
  wr::write_file_atomic(reordered, "run,metric,task\nr,acc,piqa\n");
  EXPECT_TRUE(contains(compare({reordered}).second, reordered + ": no column 'value' in the header"));
  const auto unknown = write_csv(dir, "u.csv", csv_row("a", "a.pt", "piqa", "acc", "0.5", "lm-evel sha256:0"));
  EXPECT_TRUE(contains(compare({unknown}).second, unknown + ":2: column 'rules': unknown rule set 'lm-evel'"));

  const std::string source = wr::read_file(std::string(WR_SOURCE_DIR) + "/eval/compare.cpp");
  for (const auto& name : wr::task_names()) EXPECT_FALSE(contains(source, "\"" + name)) << name;
  for (const char* name : {"hellaswag", "lighteval", "lm-eval", "mmlu", "piqa"}) EXPECT_FALSE(contains(source, name)) << name;
}

// A --log-samples line of a multiple-choice document's request.
std::string sample(const std::string& task, int doc, int request, int pred, int gold, const std::string& continuation,
                   const std::string& rules = "lm-eval") {
  return nlohmann::json({{"task", task}, {"rules", rules}, {"doc_id", doc}, {"request", request}, {"pred", pred},
                         {"pred_norm", pred}, {"pred_norm_nospace", pred}, {"gold", gold}, {"is_greedy", false},
                         {"context", "Q" + std::to_string(doc)}, {"continuation", continuation}, {"bpb", 1.0}})
             .dump() + "\n";
}

// F18: documents of one id that are not the same document (gold, requests) or not under the same rules do not
// pair: one line naming both; documents only one log has are left out, and said so. F19: nothing prints first.
TEST(Compare, SampleLogsThatDoNotPairAreRefusedBeforeAnythingPrints) {
  const std::string dir = wr::test::temp_dir();
  const auto csv = write_csv(dir, "r.csv", csv_row("a", "a.pt", "piqa", "acc", "0.5"));
  const std::string a = dir + "/a.jsonl", b = dir + "/b.jsonl";
  const std::string doc0 = sample("piqa", 0, 0, 0, 0, " x") + sample("piqa", 0, 1, 0, 0, " y");
  wr::write_file_atomic(a, doc0 + sample("piqa", 1, 0, 1, 1, " u") + sample("piqa", 1, 1, 1, 1, " v"));

  auto refused = [&](const std::string& b_text) {
    wr::write_file_atomic(b, b_text);
    const auto [out, error] = compare({csv}, {a, b});
    EXPECT_EQ(out, "") << "printed before refusing";
    return error;
  };
  EXPECT_EQ(refused(doc0 + sample("piqa", 1, 0, 1, 0, " u") + sample("piqa", 1, 1, 1, 0, " v")),
            a + ":3 and " + b + ":3: piqa document 1 has gold 1 in one and 0 in the other");
  EXPECT_EQ(refused(doc0 + sample("piqa", 1, 0, 1, 1, " u") + sample("piqa", 1, 1, 1, 1, " w")),
            a + ":3 and " + b + ":3: piqa document 1 has other requests in one than in the other (other task files or "
                                "another task version?)");
  EXPECT_EQ(refused(sample("piqa", 0, 0, 0, 0, " x", "lighteval") + sample("piqa", 0, 1, 0, 0, " y", "lighteval")),
            a + ":1 and " + b + ":1: piqa was scored under the lm-eval rules in one log and the lighteval rules in the "
                                "other; their requests differ, so no document pairs");
  EXPECT_EQ(refused(doc0 + sample("piqa", 0, 1, 0, 0, " y")), b + ":3 and " + b + ":1: piqa document 0 request 1 twice");
  EXPECT_EQ(refused("{\"task\": \"piqa\", \"doc_id\": 0, \"gold\": 0}\n"),
            b + ":1: no 'pred' (expected a line of wr-eval --log-samples)");
  EXPECT_EQ(refused(sample("no_such_task", 0, 0, 0, 0, " x")),
            b + ":1: no definition of task 'no_such_task' under the lm-eval rules says what heads it");
  EXPECT_EQ(compare({csv}, {a}).first, "");
  EXPECT_EQ(compare({csv}, {a}).second, "--samples needs exactly two per-sample logs (A,B), got 1");
  EXPECT_EQ(compare({csv}, {a, dir + "/missing.jsonl"}).first, "");

  wr::write_file_atomic(b, doc0);  // document 1 only in A: left out, and said so
  const auto [out, error] = compare({csv}, {a, b});
  EXPECT_EQ(error, "");
  EXPECT_TRUE(contains(out, "note: piqa: left out 1 document(s) only A scored and 0 only B scored")) << out;
}

}  // namespace
