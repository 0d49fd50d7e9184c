// wr-eval under each rule set against the harness it follows, per item, on real stories260K and real task files:
// lm-evaluation-harness's own pipeline (tests/eval/lm_eval_reference.py) and lighteval's prompt functions,
// tokenization and metrics (tests/eval/lighteval_reference.py), both with transformers' Llama as the model.
// Skips with a message when ../shared or the .venv with the peers is absent; scripts/setup installs them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "eval/metrics.h"
#include "tests/test_util.h"

namespace {

struct Run {
  int code;
  std::string out, err;
};

Run run(const std::string& cmd, const std::string& dir) {
  const int status = std::system((cmd + " > " + dir + "/out.txt 2> " + dir + "/err.txt").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, wr::read_file(dir + "/out.txt"), wr::read_file(dir + "/err.txt")};
}

// A reference script's output, or a reason to skip.
std::string reference(const std::string& script, const std::string& args, const std::string& dir, nlohmann::json& out) {
  const std::string python = std::string(WR_SOURCE_DIR) + "/.venv/bin/python";
  if (!wr::file_exists(python)) return "no " + python + " (scripts/setup creates it)";
  const auto r = run(python + " " + WR_SOURCE_DIR + "/tests/eval/" + script + " " + args, dir);
  if (r.code == 3) return r.err;
  EXPECT_EQ(r.code, 0) << r.err;
  out = nlohmann::json::parse(r.out);
  return "";
}

// metric -> task -> value, from wr-eval's CSV
std::map<std::string, std::map<std::string, double>> csv_values(const std::string& path) {
  std::map<std::string, std::map<std::string, double>> values;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    values[f[5]][f[4]] = std::stod(f[6]);
  }
  return values;
}

// stories260K as a Hugging Face folder (safetensors, config.json, its tokenizer) for the Python references.
void convert_to_hf(const std::string& dir) {
  const std::string models = wr::test::shared_path("models/stories260K");
  auto conv = run(std::string(WR_MODEL_BIN) + " convert " + models + "/stories260K.bin " + dir + "/hf --to hf --tokenizer " +
                      models + "/tok512.model",
                  dir);
  ASSERT_EQ(conv.code, 0) << conv.err;
}

// wr-eval on stories260K with its tokenizer, the real task files and these options; the CSV and samples in dir.
void wr_eval(const std::string& options, const std::string& dir) {
  const std::string models = wr::test::shared_path("models/stories260K");
  auto eval = run(std::string(WR_EVAL_BIN) + " --threads 1 " + options + " --offline --data-dir " +
                      wr::test::shared_path("datasets") + " --tokenizer " + models + "/tok512.model " + models +
                      "/stories260K.bin --output " + dir + "/wr.csv --log-samples " + dir + "/wr.jsonl",
                  dir);
  ASSERT_EQ(eval.code, 0) << eval.err;
}

// lm-eval 0.4.9's own pipeline (its task YAMLs, HFLM, metrics) on the local files: the same requests, log-likelihoods
// within 1e-4, the same greedy flags and per-document outcomes, the same means. --bos off: lm-eval's HFLM default.
TEST(LmEvalPeer, SameRequestsLoglikelihoodsAndMetrics) {
  WR_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const std::string dir = wr::test::temp_dir();
  const std::string tasks = "piqa,arc_easy,arc_challenge,openbookqa,winogrande,boolq,social_iqa,lambada_openai";
  const int limit = 40;
  ASSERT_NO_FATAL_FAILURE(convert_to_hf(dir));
  ASSERT_NO_FATAL_FAILURE(wr_eval("--rules lm-eval --bos off --tasks " + tasks + " --limit " + std::to_string(limit), dir));
  nlohmann::json ref;
  const std::string skip = reference("lm_eval_reference.py", "--data " + wr::test::shared_path("datasets") + " --model " +
                                         dir + "/hf --tasks " + tasks + " --limit " + std::to_string(limit) + " --tmp " + dir,
                                     dir, ref);
  if (!skip.empty()) GTEST_SKIP() << skip;
  std::map<std::string, std::map<int64_t, std::vector<nlohmann::json>>> mine;  // task -> doc -> requests
  std::ifstream in(dir + "/wr.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto s = nlohmann::json::parse(line);
    mine[s["task"]][s["doc_id"]].push_back(s);
  }
  auto wr_values = csv_values(dir + "/wr.csv");
  ASSERT_EQ(ref.size(), 8u);
  for (const auto& [task, r] : ref.items()) {
    SCOPED_TRACE(task);
    ASSERT_EQ(r["docs"].size(), static_cast<size_t>(limit));
    double max_diff = 0;
    for (const auto& [id, doc] : r["docs"].items()) {
      const auto& reqs = mine[task][std::stoll(id)];
      ASSERT_EQ(reqs.size(), doc["requests"].size()) << id;
      for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(reqs[i]["context"], doc["requests"][i][0]) << id;
        EXPECT_EQ(reqs[i]["continuation"], doc["requests"][i][1]) << id;
        max_diff = std::max(max_diff, std::abs(reqs[i]["ll"].get<double>() - doc["resps"][i][0].get<double>()));
        EXPECT_EQ(reqs[i]["is_greedy"], doc["resps"][i][1]) << id;
      }
      const int gold = reqs[0]["gold"];
      if (gold < 0) continue;  // LAMBADA: acc is is_greedy, checked above
      EXPECT_EQ(reqs[0]["pred"] == gold ? 1.0 : 0.0, doc["acc"].get<double>()) << id;
      if (!doc["acc_norm"].is_null()) EXPECT_EQ(reqs[0]["pred_norm"] == gold ? 1.0 : 0.0, doc["acc_norm"].get<double>()) << id;
    }
    EXPECT_LT(max_diff, 1e-4);
    for (const auto& [metric, value] : r["metrics"].items()) {
      if (metric.find("stderr") != std::string::npos) continue;
      if (metric == "perplexity") EXPECT_NEAR(wr_values[metric][task] / value.get<double>(), 1.0, 1e-4);
      else EXPECT_NEAR(wr_values[metric][task], value.get<double>(), 1e-9) << metric;
    }
  }
}

// lighteval 0.5.0's prompt functions, tok_encode_pair (with BOS, its default) and metrics on the same documents.
TEST(LightevalPeer, SameRequestsTokensLoglikelihoodsAndOutcomes) {
  WR_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const std::string dir = wr::test::temp_dir();
  ASSERT_NO_FATAL_FAILURE(convert_to_hf(dir));
  ASSERT_NO_FATAL_FAILURE(wr_eval("--rules lighteval --tasks piqa,arc_easy,arc_challenge,openbookqa,winogrande --limit 60", dir));
  nlohmann::json ref;
  const std::string skip = reference("lighteval_reference.py", "--samples " + dir + "/wr.jsonl --data " + wr::test::shared_path("datasets") +
                                         " --model " + dir + "/hf",
                                     dir, ref);
  if (!skip.empty()) GTEST_SKIP() << skip;
  auto wr_values = csv_values(dir + "/wr.csv");
  ASSERT_EQ(ref["tasks"].size(), 5u) << ref.dump();
  for (const auto& [task, r] : ref["tasks"].items()) {
    SCOPED_TRACE(task + ": " + r.dump());
    EXPECT_EQ(r["docs"], 60);
    EXPECT_TRUE(r["text_diffs"].empty());      // lighteval's query, choices and gold
    EXPECT_EQ(r["token_diffs"], 0);            // its tok_encode_pair with BOS
    EXPECT_LT(r["max_ll_diff"].get<double>(), 1e-4);
    EXPECT_TRUE(r["outcome_diffs"].empty());   // its LoglikelihoodAcc, per document
    EXPECT_NEAR(wr_values["acc"][task], r["acc"].get<double>(), 1e-6);
    EXPECT_NEAR(wr_values["acc_norm_nospace"][task], r["acc_norm_nospace"].get<double>(), 1e-6);
  }
}

// quasi_exact_match against lighteval's triviaqa prompt (alias pruning) and quasi_exact_match_triviaqa, on real
// aliases and generations that hit each of its rules: case, punctuation, outer spaces, a pruned longer alias.
TEST(LightevalPeer, QuasiExactMatchAgreesWithLighteval) {
  WR_REQUIRE_SHARED("datasets/triviaqa/llmfoundry_triviaqa_sm_sub.jsonl");
  const std::string dir = wr::test::temp_dir();
  std::ifstream in(wr::test::shared_path("datasets/triviaqa/llmfoundry_triviaqa_sm_sub.jsonl"));
  nlohmann::json cases = nlohmann::json::array();
  std::string line;
  for (int n = 0; n < 60 && std::getline(in, line); ++n) {
    const auto doc = nlohmann::json::parse(line);
    const auto aliases = doc["aliases"].get<std::vector<std::string>>();
    for (const std::string& g : {aliases[0], " " + aliases.back() + ". ", "The " + aliases[0], std::string("\"") +
                                     doc["answer"].get<std::string>() + "!\"", std::string(), std::string(" "),
                                 doc["answer"].get<std::string>() + " (disambiguation)"})
      cases.push_back({{"aliases", aliases}, {"generation", g}});
  }
  std::ofstream(dir + "/cases.json") << cases.dump();
  nlohmann::json ref;
  const std::string skip = reference("lighteval_reference.py", "--qem " + dir + "/cases.json", dir, ref);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(ref["qem"].size(), cases.size());
  int matches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const bool mine = wr::quasi_exact_match_any(cases[i]["generation"], cases[i]["aliases"].get<std::vector<std::string>>());
    EXPECT_EQ(mine ? 1 : 0, ref["qem"][i].get<int>()) << cases[i].dump();
    matches += mine;
  }
  EXPECT_GT(matches, 30);  // the cases exercise both outcomes
  EXPECT_LT(matches, static_cast<int>(cases.size()) - 100);
}

}  // namespace
