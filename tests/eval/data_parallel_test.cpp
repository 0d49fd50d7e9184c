// Data-parallel evaluation (issue 29): wr-eval and wr-train's periodic evaluation in two processes (c10d Gloo over
// loopback on this CPU) give the one-process result, rank 0 alone writes, and a killed rank stops the other with
// one line naming it.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "eval/report.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/distributed.h"
#include "trainer/synth.h"

namespace {

using wr::test::contains;

#define SKIP_WITHOUT_GLOO()                                                                   \
  do {                                                                                        \
    if (!wr::DataParallel::gloo_available())                                                  \
      GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)"; \
  } while (0)

// `command` (a binary and its arguments) in `world` processes, each on one thread; rank r's stdout and stderr in
// dir/tag.rR.out and .err. The exit status, 0 when every process succeeded.
int in_processes(const std::string& command, int world, const std::string& dir, const std::string& tag) {
  const auto logs = [&](int r) {
    const std::string base = dir + "/" + tag + ".r" + std::to_string(r);
    return " > " + base + ".out 2> " + base + ".err";
  };
  const std::string cmd = "timeout 300 " + command;
  if (world == 1) return std::system((cmd + logs(0)).c_str());
  const std::string env = wr::test::two_rank_env();
  const std::string both = env + "RANK=1 " + cmd + logs(1) + " & r1=$!; " + env + "RANK=0 " + cmd + logs(0) +
                           "; r0=$?; wait $r1; exit $((r0 + $?))";
  return std::system(("bash -c '" + both + "'").c_str());
}

std::string log_of(const std::string& dir, const std::string& tag) {
  std::string out;
  for (int r = 0; r < 2; ++r)
    for (const char* ext : {".out", ".err"}) {
      const std::string path = dir + "/" + tag + ".r" + std::to_string(r) + ext;
      if (std::filesystem::exists(path)) out += path + ":\n" + wr::read_file(path);
    }
  return out;
}

// ../shared/datasets as a data directory, with TriviaQA in the rc.nocontext schema wr reads (from its llm-foundry
// copy, as scripts/peers/peer_check.py makes it).
std::string shared_data_dir(const std::string& dir) {
  const std::string data = dir + "/data", shared = wr::test::shared_path("datasets");
  std::filesystem::create_directories(data + "/triviaqa");
  for (const auto& e : std::filesystem::directory_iterator(shared))
    if (e.path().filename() != "triviaqa") std::filesystem::create_directory_symlink(e.path(), data + "/" + e.path().filename().string());
  std::ifstream in(shared + "/triviaqa/llmfoundry_triviaqa_small.jsonl");
  std::string line, out;
  while (std::getline(in, line)) {
    const auto r = nlohmann::json::parse(line);
    std::string q = r["context"];
    if (q.rfind("Question: ", 0) == 0) q = q.substr(10);
    if (q.size() >= 8 && q.compare(q.size() - 8, 8, "\nAnswer:") == 0) q.resize(q.size() - 8);
    out += nlohmann::json({{"question", q}, {"answer", {{"value", r["answer"]}, {"aliases", r["aliases"]}}}}).dump() + "\n";
  }
  wr::write_file_atomic(data + "/triviaqa/rc.nocontext-validation.jsonl", out);
  return data;
}

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(wr::read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A results CSV's rows as "run,step,task,metric,quant" -> value (the fields hold no commas).
std::map<std::string, double> csv_values(const std::string& path) {
  const auto rows = wr::parse_csv(wr::read_file(path), path);
  const auto& header = rows.at(0).fields;
  std::map<std::string, double> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    std::map<std::string, std::string> f;
    for (size_t c = 0; c < header.size(); ++c) f[header[c]] = rows[r].fields.at(c);
    out[f["run"] + "," + f["step"] + "," + f["task"] + "," + f["metric"] + "," + f["quant"]] = std::stod(f["value"]);
  }
  return out;
}

// Every row of `one` in `two` with the same value: counts of right answers exactly, the smooth metrics within
// 1e-5 relative (the CSV's 6 digits; log-likelihoods of differently packed batches differ in float32 rounding).
// A quantized variant's p-values within 1e-3: on a model trained for a few steps, w8 moves prob_gold by about 3e-6,
// so the paired test's statistic is itself a difference near float32 rounding (two ranks against one: 0.358099
// against 0.358084 under OpenBLAS).
void expect_same_metrics(const std::map<std::string, double>& one, const std::map<std::string, double>& two) {
  ASSERT_EQ(one.size(), two.size());
  for (const auto& [key, value] : one) {
    ASSERT_TRUE(two.count(key)) << key;
    const bool counted = contains(key, ",acc,") || contains(key, ",acc_norm,") || contains(key, ",exact_match,");
    if (counted) {
      EXPECT_EQ(two.at(key), value) << key;
    } else if (contains(key, "_delta_p,")) {
      EXPECT_NEAR(two.at(key), value, 1e-3) << key;
    } else {
      EXPECT_NEAR(two.at(key), value, 1e-5 * std::max(1.0, std::fabs(value))) << key;
    }
  }
}

const std::string kModel = "models/stories260K/stories260K.bin", kTokenizer = "models/stories260K/tok512.model";

std::string eval_command(const std::string& data, const std::string& args) {
  return std::string(WR_EVAL_BIN) + " --threads 1 --offline --data-dir " + data + " --tokenizer " +
         wr::test::shared_path(kTokenizer) + " " + args;
}

// Scoring and TriviaQA's generations on stories260K: every request of every document in the same order, each
// log-likelihood within 1e-4, the same greedy flags, predictions and generations (apart from exact ties), the
// same metrics; rank 1 prints and writes nothing.
TEST(DataParallelEval, TwoProcessesScoreAndGenerateWhatOneDoes) {
  SKIP_WITHOUT_GLOO();
  WR_REQUIRE_SHARED(kModel);
  WR_REQUIRE_SHARED("datasets/triviaqa/llmfoundry_triviaqa_small.jsonl");
  const std::string dir = wr::test::temp_dir(), data = shared_data_dir(dir);
  for (int world : {1, 2}) {
    const std::string tag = "w" + std::to_string(world);
    const std::string args = "--tasks arc_easy,piqa,winogrande,lambada_openai,triviaqa --limit 41 --output " + dir + "/" +
                             tag + ".csv --json " + dir + "/" + tag + ".json --log-samples " + dir + "/" + tag +
                             ".jsonl " + wr::test::shared_path(kModel);
    ASSERT_EQ(in_processes(eval_command(data, args), world, dir, tag), 0) << log_of(dir, tag);
  }
  EXPECT_EQ(wr::read_file(dir + "/w2.r1.out"), "") << log_of(dir, "w2");
  EXPECT_EQ(wr::read_file(dir + "/w2.r1.err"), "") << log_of(dir, "w2");
  const auto one = jsonl(dir + "/w1.jsonl"), two = jsonl(dir + "/w2.jsonl");
  ASSERT_EQ(one.size(), two.size());
  int generations = 0, requests = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    const auto &a = one[i], &b = two[i];
    ASSERT_EQ(a["task"], b["task"]) << i;
    ASSERT_EQ(a["doc_id"], b["doc_id"]) << i;
    if (a.contains("generation")) {
      ++generations;
      EXPECT_EQ(a["context_tokens"], b["context_tokens"]) << i;
      EXPECT_EQ(a["generation"], b["generation"]) << a.dump();
      EXPECT_EQ(a["exact_match"], b["exact_match"]) << i;
      continue;
    }
    ++requests;
    EXPECT_EQ(a["request"], b["request"]) << i;
    EXPECT_EQ(a["continuation_tokens"], b["continuation_tokens"]) << i;
    EXPECT_NEAR(a["ll"].get<double>(), b["ll"].get<double>(), 1e-4) << a.dump();
    EXPECT_EQ(a["is_greedy"], b["is_greedy"]) << a.dump();
    EXPECT_EQ(a["pred"], b["pred"]) << a.dump();  // an exact tie between two choices would show here; none in these
    EXPECT_EQ(a["pred_norm"], b["pred_norm"]) << a.dump();
  }
  EXPECT_EQ(generations, 32);  // the llm-foundry copy's 32 questions, fewer than --limit
  EXPECT_GT(requests, 300);
  expect_same_metrics(csv_values(dir + "/w1.csv"), csv_values(dir + "/w2.csv"));
  const auto json_one = nlohmann::json::parse(wr::read_file(dir + "/w1.json")), json_two = nlohmann::json::parse(wr::read_file(dir + "/w2.json"));
  EXPECT_EQ(json_one["results"].size(), json_two["results"].size());
  for (const auto& [task, metrics] : json_one["results"].items())
    for (const auto& [name, value] : metrics.items())
      if (value.is_number()) {
        EXPECT_NEAR(json_two["results"][task][name].get<double>(), value.get<double>(), 1e-5) << task << " " << name;
      }
}

// A sweep of two checkpoints with --quant under two processes: the rows one process writes, and a rerun with the
// same --output skips every checkpoint on both ranks (rank 0 alone reads the CSV and tells the other).
TEST(DataParallelEval, SweepWithQuantAndItsRerun) {
  SKIP_WITHOUT_GLOO();
  WR_REQUIRE_SHARED(kModel);
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const std::string dir = wr::test::temp_dir(), data = shared_data_dir(dir);
  for (const char* name : {"a.bin", "b.bin"}) std::filesystem::copy_file(wr::test::shared_path(kModel), dir + "/" + name);
  const std::string models = dir + "/a.bin " + dir + "/b.bin";
  for (int world : {1, 2}) {
    const std::string tag = "w" + std::to_string(world);
    const std::string args = "--tasks arc_easy,piqa --limit 20 --quant w8 --output " + dir + "/" + tag + ".csv " + models;
    ASSERT_EQ(in_processes(eval_command(data, args), world, dir, tag), 0) << log_of(dir, tag);
  }
  const auto one = csv_values(dir + "/w1.csv");
  // 2 models x 2 tasks x (the model's 4 metrics + the variant's 4, their 4 deltas and p-values, kl, top1_agree)
  EXPECT_EQ(one.size(), 72u);
  expect_same_metrics(one, csv_values(dir + "/w2.csv"));
  const std::string before = wr::read_file(dir + "/w2.csv");
  const std::string args = "--tasks arc_easy,piqa --limit 20 --quant w8 --output " + dir + "/w2.csv " + models;
  ASSERT_EQ(in_processes(eval_command(data, args), 2, dir, "rerun"), 0) << log_of(dir, "rerun");
  EXPECT_EQ(wr::read_file(dir + "/w2.csv"), before);
  const std::string said = wr::read_file(dir + "/rerun.r0.err");
  EXPECT_TRUE(contains(said, "[1/2] " + dir + "/a.bin") && contains(said, "[2/2] " + dir + "/b.bin")) << said;
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 2) << said;  // each "skipped", nothing scored
  EXPECT_EQ(wr::read_file(dir + "/rerun.r1.err"), "");
}

// Rank 1 killed (SIGKILL) while the sweep runs: rank 0 stops at its next gather with one line that names rank 1,
// within seconds rather than --dist-timeout, and writes no results.
TEST(DataParallelEval, AKilledRankStopsTheOtherWithOneLine) {
  SKIP_WITHOUT_GLOO();
  WR_REQUIRE_SHARED(kModel);
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const std::string dir = wr::test::temp_dir(), data = shared_data_dir(dir);
  std::string models;
  for (int k = 0; k < 6; ++k) {
    const std::string path = dir + "/m" + std::to_string(k) + ".bin";
    std::filesystem::copy_file(wr::test::shared_path(kModel), path);
    models += path + " ";
  }
  const std::string env = wr::test::two_rank_env();
  const std::string cmd = eval_command(data, "--tasks piqa --limit 400 --dist-timeout 60 --output " + dir + "/r.csv " + models);
  // `env` execs the program: $! is wr-eval's own pid
  ASSERT_EQ(std::system(("bash -c '" + env + " RANK=1 env " + cmd + " > " + dir + "/out1 2> " + dir + "/err1 & echo $! > " +
                         dir + "/pid1; (" + env + " RANK=0 timeout 120 " + cmd + " > " + dir + "/out0 2> " + dir +
                         "/err0; echo $? > " + dir + "/rc0) &'").c_str()),
            0);
  const auto t0 = std::chrono::steady_clock::now();
  auto waited = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto text = [&](const std::string& name) {  // "" until the background shell has made the file
    return std::filesystem::exists(dir + "/" + name) ? wr::read_file(dir + "/" + name) : std::string();
  };
  // both ranks are past the join and scoring once rank 0 names the first checkpoint
  while (!contains(text("err0"), "[1/6]") && waited() < 60) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(contains(text("err0"), "[1/6]")) << text("err0") << text("err1");
  const pid_t rank1 = std::stoi(wr::read_file(dir + "/pid1"));
  ASSERT_EQ(::kill(rank1, SIGKILL), 0);
  const double killed_at = waited();
  while (text("rc0").empty() && waited() < 120) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_FALSE(text("rc0").empty()) << "rank 0 did not stop";
  EXPECT_EQ(std::stoi(text("rc0")), 1);
  EXPECT_LT(waited() - killed_at, 30.0);  // the broken connection, not --dist-timeout's 60 s
  const std::string err = wr::read_file(dir + "/err0");
  const auto error_at = err.find("wr-eval: error: ");
  ASSERT_NE(error_at, std::string::npos) << err;
  const std::string error = err.substr(error_at);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << err;  // one line, and the last
  EXPECT_EQ(error.rfind("wr-eval: error: rank 0 of 2: an all-reduce over gloo failed (rank 1 died", 0), 0u) << err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/r.csv") && contains(wr::read_file(dir + "/r.csv"), "m5.bin"));
}

// wr-train's periodic evaluation (validation loss, a task, and eval.quant) in two processes: the rows one process
// writes. The two runs train bit for bit alike (DataParallel.TwoProcessesComputeWhatOneDoes).
TEST(DataParallelEval, PeriodicEvaluationUnderTwoRanksEqualsOne) {
  SKIP_WITHOUT_GLOO();
  const std::string dir = wr::test::temp_dir();
  wr::SynthOptions so;
  so.documents = 10;
  wr::write_synth(dir + "/synth", so);
  for (int world : {1, 2}) {
    const std::string tag = "w" + std::to_string(world);
    // the resolved config as the run's file: JSON lists on a command line would need shell quoting
    const auto config = wr::test::tiny_config(dir + "/" + tag, {"run.threads=1", "schedule.steps=4", "eval.interval=2",
                                                                 "eval.val_batches=3", "eval.tasks=[\"synth_facts\"]",
                                                                 "eval.quant=[\"w8\"]", "eval.data_dir=" + dir + "/synth"});
    wr::write_file_atomic(dir + "/" + tag + ".json", config.dump());
    ASSERT_EQ(in_processes(std::string(WR_TRAIN_BIN) + " " + dir + "/" + tag + ".json", world, dir, tag), 0) << log_of(dir, tag);
  }
  const auto one = csv_values(dir + "/w1/eval.csv"), two = csv_values(dir + "/w2/eval.csv");
  EXPECT_TRUE(one.count("w1,4,val,loss,none")) << wr::read_file(dir + "/w1/eval.csv");
  EXPECT_TRUE(one.count("w1,4,synth_facts,acc_norm,w8")) << wr::read_file(dir + "/w1/eval.csv");
  ASSERT_EQ(one.size(), two.size());
  std::map<std::string, double> renamed;  // the run column holds each run's name
  for (const auto& [key, value] : two) renamed["w1" + key.substr(2)] = value;
  expect_same_metrics(one, renamed);
}

}  // namespace
