// wr-eval over many checkpoints in one command (issue 29): a wr-train run directory means each of its checkpoints
// in step order, every row carries the step and the tokens seen, a rerun with the same --output skips what the
// CSV holds (also after kill -9 part way), --force recomputes, --tensorboard writes what TensorBoard's reader
// sees, and compare reads a sweep's CSV as curves with Holm-corrected tests at matched steps.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "common/process.h"
#include "eval/compare.h"
#include "eval/report.h"
#include "model/io/native.h"
#include "tests/eval/eval_fixtures.h"

namespace {

namespace fs = std::filesystem;
using wr::test::contains;

struct Outcome {
  int code;
  std::string out, err;
};

std::vector<std::string> eval_argv(const std::string& args) {
  std::vector<std::string> argv = {WR_EVAL_BIN, "--threads", "1"};  // ctest runs tests side by side on two cores
  std::istringstream in(args);
  for (std::string a; in >> a;) argv.push_back(a);
  return argv;
}

Outcome wr_eval(const std::string& args, const std::string& dir) {
  const wr::Finished f = wr::run_logged(eval_argv(args), dir + "/log.txt");
  // stdout and stderr share the log; wr-eval's notes and errors are the lines it starts with "wr-eval:"
  std::string err;
  std::istringstream in(wr::read_file(dir + "/log.txt"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("wr-eval:", 0) == 0) err += line + "\n";
  return {f.exit_code, wr::read_file(dir + "/log.txt"), err};
}

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// dir/<name>: checkpoints as wr-train names them (ckpt_<step>.pt), of the fixture model with weights seeded by
// run and step, carrying the fixture tokenizer and wr-train's meta (step, tokens = step x 1000).
std::string fixture_run_dir(const std::string& dir, const std::string& name, const std::vector<int64_t>& steps,
                            uint64_t seed) {
  const std::string run = dir + "/" + name;
  fs::create_directories(run);
  for (const int64_t step : steps) {
    auto model = wr::test::fixture_model(128, seed + static_cast<uint64_t>(step));
    char file[32];
    std::snprintf(file, sizeof file, "/ckpt_%08ld.pt", static_cast<long>(step));
    wr::save_native(run + file, model, {{"step", step}, {"tokens", step * 1000}, {"run", name}},
                    wr::test::fixture_tokenizer().model_bytes());
  }
  wr::write_file_atomic(run + "/config.json", "{}\n");  // a run directory holds more than checkpoints
  return run;
}

// mmlu_anatomy's file with n generated questions; the options that score it offline.
std::string anatomy(const std::string& dir, int n) {
  fs::create_directories(dir + "/data/mmlu");
  std::ofstream out(dir + "/data/mmlu/anatomy.jsonl");
  const char* words[] = {"bone", "river", "apple", "teacher", "blue", "map", "water"};
  for (int i = 0; i < n; ++i)
    out << "{\"question\": \"Which " << words[i % 7] << " is " << words[(i / 7) % 7] << "?\", \"subject\": \"anatomy\", "
        << "\"choices\": [\"" << words[i % 5] << "\", \"" << words[(i + 1) % 7] << "\", \"the " << words[(i + 2) % 7]
        << "\", \"" << i << "\"], \"answer\": " << i % 4 << "}\n";
  return "--tasks mmlu_anatomy --offline --data-dir " + dir + "/data ";
}

// A CSV's rows (the header first) without the date column, which differs between any two runs.
std::vector<std::string> rows_without_date(const std::string& path) {
  const auto rows = wr::parse_csv(wr::read_file(path), path);
  std::vector<std::string> out;
  if (rows.empty()) return out;
  const auto& header = rows[0].fields;
  const size_t date = static_cast<size_t>(std::find(header.begin(), header.end(), "date") - header.begin());
  for (const auto& r : rows) {
    std::string text;
    for (size_t i = 0; i < r.fields.size(); ++i)
      if (i != date) text += r.fields[i] + ",";
    out.push_back(text);
  }
  return out;
}

std::string field(const wr::CsvRow& header, const wr::CsvRow& row, const std::string& name) {
  const auto at = std::find(header.fields.begin(), header.fields.end(), name);
  return row.fields.at(static_cast<size_t>(at - header.fields.begin()));
}

TEST(Sweep, TwoRunDirectoriesScoreAsEachCheckpointAloneAndARerunSkipsThem) {
  const std::string dir = wr::test::temp_dir();
  const std::string data = anatomy(dir, 30);
  const std::string a = fixture_run_dir(dir, "a", {4, 2, 6}, 100), b = fixture_run_dir(dir, "b", {2, 4, 6}, 200);
  const std::string sweep = data + "--output " + dir + "/sweep.csv " + a + " " + b;
  auto r = wr_eval(sweep + " --tensorboard " + dir + "/tb", dir);
  ASSERT_EQ(r.code, 0) << r.out;
  // each checkpoint alone, in the order the sweep takes them (a's by step, then b's)
  for (const auto& [run, path] : std::vector<std::pair<std::string, std::string>>{
           {"a", a + "/ckpt_00000002.pt"}, {"a", a + "/ckpt_00000004.pt"}, {"a", a + "/ckpt_00000006.pt"},
           {"b", b + "/ckpt_00000002.pt"}, {"b", b + "/ckpt_00000004.pt"}, {"b", b + "/ckpt_00000006.pt"}})
    ASSERT_EQ(wr_eval(data + "--run " + run + " --output " + dir + "/single.csv " + path, dir).code, 0);
  const auto swept = rows_without_date(dir + "/sweep.csv");
  EXPECT_EQ(swept, rows_without_date(dir + "/single.csv"));
  ASSERT_EQ(swept.size(), 1u + 6 * 3);  // acc, bpb and prob_gold per checkpoint
  const auto rows = wr::parse_csv(wr::read_file(dir + "/sweep.csv"), "sweep.csv");
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::string step = field(rows[0], rows[i], "step");
    EXPECT_EQ(field(rows[0], rows[i], "tokens"), step + "000") << rows[i].text;
    EXPECT_EQ(field(rows[0], rows[i], "subset"), "all");
    EXPECT_EQ(field(rows[0], rows[i], "run"), i <= 9 ? "a" : "b");
  }
  EXPECT_EQ(field(rows[0], rows[1], "step"), "2");
  EXPECT_EQ(field(rows[0], rows[9], "step"), "6");

  // the same command again: every checkpoint skipped before it loads, the CSV untouched
  const std::string before = wr::read_file(dir + "/sweep.csv");
  r = wr_eval(sweep, dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(count(r.err, "skipped"), 6) << r.err;
  EXPECT_EQ(wr::read_file(dir + "/sweep.csv"), before);
  // --force scores a's again and replaces its rows rather than listing them twice
  r = wr_eval(data + "--force --output " + dir + "/sweep.csv " + a, dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(count(r.err, "skipped"), 0) << r.err;
  auto again = rows_without_date(dir + "/sweep.csv");
  std::sort(again.begin() + 1, again.end());
  auto sorted = swept;
  std::sort(sorted.begin() + 1, sorted.end());
  EXPECT_EQ(again, sorted);

  // compare: curves by step and each run against the first at the steps both scored
  testing::internal::CaptureStdout();
  wr::compare_runs({dir + "/sweep.csv"}, {});
  const std::string table = testing::internal::GetCapturedStdout();
  EXPECT_TRUE(contains(table, "a sweep of 2 run(s)")) << table;
  EXPECT_TRUE(contains(table, "  A = b\n  B = a\n")) << table;  // in the CSV's order: --force wrote a's rows last
  EXPECT_TRUE(contains(table, "p Holm")) << table;
  EXPECT_TRUE(contains(table, "\n       6         6000 ")) << table;

  // TensorBoard's own reader sees each checkpoint's metrics at its step, as the CSV has them (float32)
  const auto reader = wr::test::run_venv_python("tests/trainer/tensorboard_reader.py", "scalars " + dir + "/tb/b");
  if (!reader.skip.empty()) WR_SKIP_UNLESS_STRICT(reader.skip << " (to read --tensorboard)");
  ASSERT_EQ(reader.code, 0) << reader.err;
  std::map<std::string, double> seen;  // "tag step" -> value
  std::istringstream in(reader.out);
  for (std::string tag, step, value; in >> tag >> step >> value;) seen[tag + " " + step] = std::stod(value);
  int matched = 0;
  for (size_t i = 10; i < rows.size(); ++i) {
    const std::string key = "eval.mmlu_anatomy/" + field(rows[0], rows[i], "metric") + " " + field(rows[0], rows[i], "step");
    ASSERT_TRUE(seen.count(key)) << key << "\n" << reader.out;
    EXPECT_NEAR(seen[key], std::stod(field(rows[0], rows[i], "value")), 1e-5 * std::fabs(seen[key]) + 1e-6) << key;
    ++matched;
  }
  EXPECT_EQ(matched, 9);
  EXPECT_EQ(seen.size(), 9u + 9u);  // and each metric's stderr
}

// kill -9 part way through a sweep, then the same command: the CSV held every row of the checkpoints done, whole;
// the rerun skips exactly those (their rows keep their dates) and ends with the uninterrupted sweep's rows.
TEST(Sweep, KilledSweepContinuesWhereItStopped) {
  const std::string dir = wr::test::temp_dir();
  const std::string data = anatomy(dir, 400);
  const std::string run = fixture_run_dir(dir, "run", {1, 2, 3, 4, 5, 6}, 300);
  ASSERT_EQ(wr_eval(data + "--output " + dir + "/ref.csv " + run, dir).code, 0);
  const std::string csv = dir + "/r.csv";
  auto rows_in = [&] { return wr::file_exists(csv) ? wr::parse_csv(wr::read_file(csv), csv).size() : 0; };
  size_t kept = 0;
  for (int trial = 0; trial < 4 && kept == 0; ++trial) {
    fs::remove(csv);
    const pid_t pid = wr::spawn_logged(eval_argv(data + "--output " + csv + " " + run), dir + "/killed.txt");
    int status = 0;
    bool ended = false;
    while (!ended && rows_in() < 1 + 3) {  // until the first checkpoint's rows are there
      ended = ::waitpid(pid, &status, WNOHANG) == pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (ended) continue;
    ::kill(pid, SIGKILL);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status)) continue;  // it finished the sweep before the kill: again
    const size_t n = rows_in() - 1;
    ASSERT_EQ(n % 3, 0u) << wr::read_file(csv);  // whole checkpoints only
    if (n < 6 * 3) kept = n / 3;
  }
  ASSERT_GT(kept, 0u) << "no kill landed part way through the sweep in 4 tries";
  const std::string written = wr::read_file(csv);
  auto r = wr_eval(data + "--output " + csv + " " + run, dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(count(r.err, "skipped"), static_cast<int>(kept)) << r.err;
  EXPECT_EQ(wr::read_file(csv).substr(0, written.size()), written);  // not recomputed: the same dates
  EXPECT_EQ(rows_without_date(csv), rows_without_date(dir + "/ref.csv"));
}

TEST(Sweep, RunDirectoryArgumentsAreChecked) {
  const std::string dir = wr::test::temp_dir();
  const std::string data = anatomy(dir, 3);
  const std::string a = fixture_run_dir(dir, "a", {1, 2}, 1);
  auto expect = [&](const std::string& args, const std::string& message) {
    auto r = wr_eval(data + args, dir);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_TRUE(contains(r.err, message)) << args << ": " << r.out;
  };
  expect(a + " " + a, "named twice");
  expect("--run x " + a + " " + a + "/ckpt_00000001.pt", "--run names one model's rows");
  expect("--json " + dir + "/r.json " + a, "--json holds one model's results");
  expect(a + " " + dir + "/missing", dir + "/missing: no such file");
  fs::copy_file(a + "/ckpt_00000002.pt", a + "/ckpt_00000009.pt");
  expect(a, a + "/ckpt_00000009.pt: its meta says step 2");
}

TEST(Sweep, HolmKnownValues) {
  // sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06 (never below the one before)
  const auto adjusted = wr::holm_adjusted({0.01, 0.04, 0.03, 0.005});
  const std::vector<double> expected = {0.03, 0.06, 0.06, 0.02};
  ASSERT_EQ(adjusted.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(adjusted[i], expected[i], 1e-12) << i;
  EXPECT_EQ(wr::holm_adjusted({0.6, 0.9}), (std::vector<double>{1.0, 1.0}));  // capped at 1
  EXPECT_TRUE(wr::holm_adjusted({}).empty());
}

// compare's tests at matched steps, by hand: step 100 differs by 0.06 with stderrs 0.02 each (z = 0.06 /
// sqrt(0.0008) = 2.1213, p = erfc(1.5) = 0.03389), step 200 not at all (p 1), step 300 by 0.12 (p = erfc(3) =
// 2.21e-5); Holm over the three: 3 x 2.21e-5, 2 x 0.03389 = 0.06779, 1. Step 400 only run a has.
// (A value with its stderr is one more byte than it shows: "±" is two in UTF-8.)
TEST(Sweep, CompareTestsMatchedStepsWithHolm) {
  const std::string dir = wr::test::temp_dir();
  std::string rows = std::string(wr::kCsvHeader) + "\n";
  auto row = [&](const std::string& run, int step, const char* value) {
    rows += run + ",/" + run + "/ckpt_" + std::to_string(step) + ".pt,," + std::to_string(step) +
            ",mmlu_anatomy,acc," + value + ",0.02,400,0,on,lm-eval sha256:0123456789ab,0.1,d,none," +
            std::to_string(step * 10) + ",all\n";
  };
  row("a", 100, "0.5"), row("a", 200, "0.5"), row("a", 300, "0.5"), row("a", 400, "0.5");
  row("b", 100, "0.56"), row("b", 200, "0.5"), row("b", 300, "0.62");
  wr::write_file_atomic(dir + "/s.csv", rows);
  testing::internal::CaptureStdout();
  wr::compare_runs({dir + "/s.csv"}, {});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_TRUE(contains(out, "     100         1000        50.0±2.0        56.0±2.0     +6.0      2.8   0.0339   0.0678\n")) << out;
  EXPECT_TRUE(contains(out, "     200         2000        50.0±2.0        50.0±2.0     +0.0      2.8        1        1\n")) << out;
  EXPECT_TRUE(contains(out, "     300         3000        50.0±2.0        62.0±2.0    +12.0      2.8 2.21e-05 6.63e-05\n")) << out;
  EXPECT_TRUE(contains(out, "     400         4000        50.0±2.0                -        -")) << out;
}

// The CSV's columns: older headers are upgraded in place, a row's key is what a rerun skips on, and a
// recomputation replaces the rows of its key.
TEST(Sweep, CsvKeysUpgradesAndReplacement) {
  const std::string dir = wr::test::temp_dir(), path = dir + "/r.csv";
  const std::string before_sweep =
      "run,checkpoint,checkpoint_sha256,step,task,metric,value,stderr,n,num_fewshot,bos,rules,wr_version,date,quant";
  wr::write_file_atomic(path, before_sweep + "\nold,c.pt,,3,piqa,acc,0.5,0.01,10,0,on,lm-eval,v,d,none\n");
  EXPECT_EQ(wr::read_csv_to_append(path),
            std::string(wr::kCsvHeader) + "\nold,c.pt,,3,piqa,acc,0.5,0.01,10,0,on,lm-eval,v,d,none,,\n");
  EXPECT_EQ(wr::subset_name(0, 0, 7), "all");
  EXPECT_EQ(wr::subset_name(50, 0, 7), "first 50");
  EXPECT_EQ(wr::subset_name(0, 40, 7), "sample 40 seed 7");

  wr::RunInfo run;
  run.run = "r";
  run.step = 5;
  run.tokens = 5000;
  run.rules = "lm-eval sha256:0123456789ab";
  run.date = "d1";
  wr::TaskResult result;
  result.task.name = "piqa";
  result.n_docs = 10;
  result.metrics = {{"acc", 0.5, 0.1}};
  wr::write_file_atomic(path, "");
  wr::append_csv(path, run, {result});
  const auto keys = wr::csv_row_keys(path);
  EXPECT_EQ(keys, (std::set<std::string>{wr::row_key(run, "piqa", "none")}));
  const std::vector<std::function<void(wr::RunInfo&)>> changes = {  // each setting in the key makes another key
      [](wr::RunInfo& o) { o.run = "s"; }, [](wr::RunInfo& o) { o.step = 6; }, [](wr::RunInfo& o) { o.bos = false; },
      [](wr::RunInfo& o) { o.num_fewshot = 5; }, [](wr::RunInfo& o) { o.subset = "first 50"; },
      [](wr::RunInfo& o) { o.rules = "lighteval sha256:0123456789ab"; }};
  for (size_t k = 0; k < changes.size(); ++k) {
    wr::RunInfo other = run;
    changes[k](other);
    EXPECT_FALSE(keys.count(wr::row_key(other, "piqa", "none"))) << k;
  }
  EXPECT_TRUE(keys.count(wr::row_key(run, "piqa", "none")));
  wr::RunInfo later = run;  // what is no key: the date, the checkpoint's file and the tokens
  later.date = "d9", later.checkpoint = "elsewhere.pt", later.tokens = 1;
  EXPECT_TRUE(keys.count(wr::row_key(later, "piqa", "none")));
  EXPECT_FALSE(keys.count(wr::row_key(run, "piqa", "w8")));
  run.date = "d2";
  result.metrics = {{"acc", 0.75, 0.1}};
  wr::append_csv(path, run, {result});
  const auto rows = wr::parse_csv(wr::read_file(path), path);
  ASSERT_EQ(rows.size(), 2u) << wr::read_file(path);
  EXPECT_EQ(field(rows[0], rows[1], "value"), "0.75");
  EXPECT_EQ(field(rows[0], rows[1], "tokens"), "5000");
}

}  // namespace
