// wr-eval under each rule set against the harness it follows, per item, on real stories260K and real task files:
// lm-evaluation-harness's own pipeline (scripts/peers/lm_eval_reference.py) and lighteval's prompt functions,
// tokenization and metrics (scripts/peers/lighteval_reference.py), both with transformers' Llama as the model.
// Skips with a message when ../shared or the .venv with the peers is absent; scripts/setup installs them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
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
std::string reference(const std::string& script, const std::string& args, nlohmann::json& out) {
  const auto r = wr::test::run_venv_python("scripts/peers/" + script, args);
  if (!r.skip.empty()) return r.skip;
  EXPECT_EQ(r.code, 0) << r.err;
  out = nlohmann::json::parse(r.out);
  return "";
}

// scripts/peer-check on a few documents of every task with files in ../shared: wr-eval under each rule set and BOS
// setting against lm-evaluation-harness 0.4.9's own pipeline and lighteval 0.5.0's prompt functions, tok_encode_pair
// and metrics, per request (text, token ids, |d ll| <= 1e-4, greedy flags, outcomes, task metrics, TriviaQA
// generations). The full-size run and its tables are in results/peers/.
TEST(PeerCheck, NoMismatchAgainstLmEvalAndLighteval) {
  WR_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  WR_REQUIRE_SHARED("datasets/piqa/valid.jsonl");
  const std::string dir = wr::test::temp_dir();
  nlohmann::json probe;
  const std::string skip = reference("lighteval_reference.py", "", probe);  // exit 3 when the peers are absent
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  const auto r = run(std::string(WR_SOURCE_DIR) + "/scripts/peer-check --limit 12 --threads 1 --build " + WR_BUILD_DIR +
                         " --out " + dir + "/check",
                     dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const auto report = nlohmann::json::parse(wr::read_file(dir + "/check/report.json"));
  ASSERT_EQ(report.size(), 4u);  // two rule sets, BOS on and off
  for (const auto& [table, rows] : report.items()) {
    EXPECT_GE(rows.size(), 5u) << table;
    for (const auto& row : rows) {
      EXPECT_EQ(row["docs"], 12) << table << " " << row.dump();
      EXPECT_TRUE(row["mismatches"].empty()) << table << " " << row.dump();
    }
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
  const std::string skip = reference("lighteval_reference.py", "--qem " + dir + "/cases.json", ref);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
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
