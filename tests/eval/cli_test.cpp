// wr-eval as a user runs it: bad input fails with one line naming what was wrong, before any download and
// without leaving output files behind; a group's rows reach the CSV and JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "model/checkpoint.h"
#include "model/common/file.h"
#include "tasks/task.h"
#include "tests/eval/eval_fixtures.h"

namespace {

using wr::test::contains;

struct Outcome {
  int code;
  std::string err;  // stderr
};

Outcome wr_eval(const std::string& args, const std::string& dir) {
  const std::string err = dir + "/stderr.txt";
  // one thread: ctest runs two tests at once on two cores, and oversubscribed OpenMP spins
  const int status = std::system(
      (std::string(WR_EVAL_BIN) + " --threads 1 " + args + " > " + dir + "/stdout.txt 2> " + err).c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, wr::read_file(err)};
}

// A checkpoint of the fixture model carrying the fixture tokenizer; vocab_size below the tokenizer's when asked.
std::string fixture_checkpoint(const std::string& dir, int64_t vocab_size = 0) {
  auto m = wr::test::fixture_model();
  if (vocab_size > 0) {
    auto c = m->config;
    c.vocab_size = vocab_size;
    m = wr::Llama(c);
  }
  wr::test::fixture_tokenizer();  // trains it once
  const std::string path = dir + "/ckpt.pt";
  wr::save_native(path, m, {{"step", 3}}, wr::read_file(std::string(WR_TEST_TMP) + "/fixture-spm/spm.model"));
  return path;
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(EvalCli, MissingCheckpointFailsBeforeAnyDownload) {
  const std::string dir = wr::test::temp_dir();
  // not --offline: a download attempt would fail on the unreachable mirror and name it instead
  auto r = wr_eval("--tasks arc_easy --mirror http://127.0.0.1:9 --data-dir " + dir + "/data --output " + dir +
                       "/out.csv " + dir + "/missing.pt",
                   dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, dir + "/missing.pt: no such file")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/data"));
}

TEST(EvalCli, UnknownTaskSuggestsTheClosest) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy,hellaswagg " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "unknown task 'hellaswagg' (did you mean hellaswag?)")) << r.err;
}

TEST(EvalCli, UnwritableOutputFailsBeforeWork) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy --offline --json " + dir + "/no/such/dir/r.json " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot write output " + dir + "/no/such/dir/r.json")) << r.err;
}

TEST(EvalCli, DeviceOtherThanCpuOrCudaIsNamed) {
  const std::string dir = wr::test::temp_dir();
  for (const char* device : {"gpu", "mps"}) {
    auto r = wr_eval(std::string("--tasks arc_easy --device ") + device + " " + dir + "/missing.pt", dir);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, std::string("wr-eval: error: --device expects cpu, cuda or cuda:N, got '") + device + "'\n");
  }
}

TEST(EvalCli, TokenizerLargerThanTheModelVocabulary) {
  const std::string dir = wr::test::temp_dir();
  const std::string ckpt = fixture_checkpoint(dir, /*vocab_size=*/64);
  auto r = wr_eval("--tasks arc_easy --offline --data-dir " + dir + "/data " + ckpt, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, ckpt + ": the tokenizer has " + std::to_string(wr::test::fixture_tokenizer().vocab_size()) +
                                  " pieces but the model's vocab_size is 64"))
      << r.err;
}

TEST(EvalCli, FailureAfterLoadingLeavesNoOutputs) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy --offline --data-dir " + dir + "/data --output " + dir + "/r.csv --json " + dir +
                       "/r.json --log-samples " + dir + "/s.jsonl " + fixture_checkpoint(dir),
                   dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "arc/ARC-Easy-Test.jsonl")) << r.err;  // offline names the missing file
  for (const char* f : {"/r.csv", "/r.json", "/s.jsonl"}) EXPECT_FALSE(std::filesystem::exists(dir + f)) << f;
}

TEST(EvalCli, GroupRowsReachCsvAndJson) {
  const std::string dir = wr::test::temp_dir();
  const auto group = wr::load_task("mmlu");
  for (const auto& sub : group.subtasks) {  // one question per subject, two for anatomy
    const auto file = wr::load_task(sub).files[0].path;
    std::filesystem::create_directories(std::filesystem::path(dir + "/data/" + file).parent_path());
    std::ofstream out(dir + "/data/" + file);
    for (int i = 0; i < (sub == "mmlu_anatomy" ? 2 : 1); ++i)
      out << R"({"question": "Which one?", "subject": "x", "choices": ["red", "green", "blue", "cat"], "answer": 2})"
          << "\n";
  }
  auto r = wr_eval("--tasks mmlu --offline --data-dir " + dir + "/data --output " + dir + "/r.csv --json " + dir +
                       "/r.json " + fixture_checkpoint(dir),
                   dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string csv = wr::read_file(dir + "/r.csv");
  EXPECT_TRUE(contains(csv, ",mmlu_anatomy,acc,")) << csv;
  EXPECT_TRUE(contains(csv, ",mmlu_stem,acc,")) << csv;
  EXPECT_TRUE(contains(csv, ",mmlu,acc,")) << csv;
  // 57 subjects + 4 categories + the whole group, one acc row each
  EXPECT_EQ(lines(csv), 1 + 57 + 4 + 1) << csv;
  auto json = nlohmann::json::parse(wr::read_file(dir + "/r.json"));
  EXPECT_TRUE(json["groups"].contains("mmlu")) << json.dump(1);
  EXPECT_EQ(json["group_subtasks"]["mmlu"].size(), 57u);
  EXPECT_EQ(json["group_subtasks"]["mmlu_stem"].size(), 19u);
}

// More documents than one scoring chunk (1024): every request's sample line arrives once, its prediction is the
// argmax of its document's log-likelihoods, and the CSV's acc is the mean of the samples' correct predictions.
TEST(EvalCli, LogSamplesAgreeWithTheCsvAcrossChunks) {
  const std::string dir = wr::test::temp_dir();
  const int n_docs = 1100;
  std::filesystem::create_directories(dir + "/data/mmlu");
  {
    std::ofstream out(dir + "/data/mmlu/anatomy.jsonl");
    const char* words[] = {"bone", "river", "apple", "teacher", "blue", "map", "water"};
    for (int i = 0; i < n_docs; ++i)
      out << "{\"question\": \"Which " << words[i % 7] << " is " << words[(i / 7) % 7] << " " << i
          << "?\", \"subject\": \"anatomy\", \"choices\": [\"" << words[i % 5] << "\", \"" << words[(i + 1) % 7]
          << "\", \"the " << words[(i + 2) % 7] << "\", \"" << i << "\"], \"answer\": " << i % 4 << "}\n";
  }
  auto r = wr_eval("--tasks mmlu_anatomy --offline --data-dir " + dir + "/data --output " + dir + "/r.csv --log-samples " +
                       dir + "/s.jsonl " + fixture_checkpoint(dir),
                   dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<int64_t, std::vector<nlohmann::json>> by_doc;
  std::ifstream in(dir + "/s.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto s = nlohmann::json::parse(line);
    by_doc[s["doc_id"].get<int64_t>()].push_back(s);
  }
  ASSERT_EQ(by_doc.size(), static_cast<size_t>(n_docs));
  int correct = 0;
  for (const auto& [id, reqs] : by_doc) {
    ASSERT_EQ(reqs.size(), 4u) << "doc " << id;
    int best = 0;
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(reqs[i]["request"], i);
      if (reqs[i]["ll"].get<double>() > reqs[best]["ll"].get<double>()) best = i;
    }
    EXPECT_EQ(reqs[0]["pred"], best) << "doc " << id;
    correct += best == reqs[0]["gold"].get<int>();
  }
  const std::string csv = wr::read_file(dir + "/r.csv");
  const std::string acc = std::to_string(static_cast<double>(correct) / n_docs).substr(0, 6);
  EXPECT_TRUE(contains(csv, ",mmlu_anatomy,acc," + acc)) << csv << " expected acc " << acc;
}

}  // namespace
