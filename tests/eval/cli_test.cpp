// wr-eval as a user runs it: bad input fails with one line naming what was wrong, before any download and
// without leaving output files behind; a group's rows reach the CSV and JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/file.h"
#include "eval/report.h"
#include "model/io/native.h"
#include "model/backend/torch_compat.h"
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
  const std::string path = dir + "/ckpt.pt";
  wr::save_native(path, m, {{"step", 3}}, wr::test::fixture_tokenizer().model_bytes());
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
  EXPECT_TRUE(contains(r.err, "cannot write --json " + dir + "/no/such/dir/r.json")) << r.err;
}

TEST(EvalCli, DeviceOtherThanCpuOrCudaIsNamed) {
  const std::string dir = wr::test::temp_dir();
  for (const char* device : {"gpu", "mps"}) {
    auto r = wr_eval(std::string("--tasks arc_easy --device ") + device + " " + dir + "/missing.pt", dir);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, std::string("wr-eval: error: --device expects cpu, cuda or cuda:N, got '") + device + "'\n");
  }
}

// wr-eval links LibTorch's CPU library only and loads the CUDA one when --device names cuda. Without a GPU, the message
// names the CUDA runtime of a LibTorch that has one (this test program links it): only the loaded library knows it.
TEST(EvalCli, CudaWithoutAGpuIsNamedWithTheRuntime) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible here: wr-eval --device cuda would run";
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy --device cuda " + dir + "/missing.pt", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wr-eval: error: --device cuda: no CUDA device is visible to this LibTorch (" + wr::torch_version() +
                       ", " + wr::cuda_runtime() + ")\n");
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
  EXPECT_TRUE(contains(csv, ",mmlu,bpb,")) << csv;
  // 57 subjects + 4 categories + the whole group, an acc, bpb and prob_gold row each
  EXPECT_EQ(lines(csv), 1 + 3 * (57 + 4 + 1)) << csv;
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
  // The gold answer's bits per byte, recomputed from the logged log-likelihoods (MMLU's contexts end in
  // "Answer:", so the scored text is the logged continuation).
  double bpb = 0;
  for (const auto& [id, reqs] : by_doc) {
    const auto& gold = reqs[reqs[0]["gold"].get<size_t>()];
    const double doc_bpb = -gold["ll"].get<double>() / std::log(2.0) / gold["continuation"].get<std::string>().size();
    for (const auto& req : reqs) EXPECT_NEAR(req["bpb"].get<double>(), doc_bpb, 1e-9) << "doc " << id;
    bpb += doc_bpb;
  }
  const std::string expected_bpb = std::to_string(bpb / n_docs).substr(0, 5);
  EXPECT_TRUE(contains(csv, ",mmlu_anatomy,bpb," + expected_bpb)) << csv << " expected bpb " << expected_bpb;
  EXPECT_TRUE(contains(csv, ",mmlu_anatomy,prob_gold,")) << csv;

  // --sample 40 --seed 7: forty distinct documents of the 1100, the same on a second run, not the first forty.
  auto sampled_ids = [&](const std::string& name) {
    auto s = wr_eval("--tasks mmlu_anatomy --offline --sample 40 --seed 7 --data-dir " + dir + "/data --log-samples " +
                         dir + "/" + name + " " + fixture_checkpoint(dir),
                     dir);
    EXPECT_EQ(s.code, 0) << s.err;
    std::set<int64_t> ids;
    std::ifstream log(dir + "/" + name);
    for (std::string line; std::getline(log, line);) ids.insert(nlohmann::json::parse(line)["doc_id"].get<int64_t>());
    return ids;
  };
  const auto first = sampled_ids("a.jsonl");
  EXPECT_EQ(first.size(), 40u);
  EXPECT_EQ(sampled_ids("b.jsonl"), first);
  EXPECT_GT(*first.rbegin(), 40);
}

// dir/data/mmlu/anatomy.jsonl with these lines (the mmlu_anatomy task's file), for runs that must succeed.
std::string anatomy_data(const std::string& dir, const std::vector<std::string>& lines) {
  std::filesystem::create_directories(dir + "/data/mmlu");
  std::ofstream out(dir + "/data/mmlu/anatomy.jsonl");
  for (const auto& l : lines) out << l << "\n";
  return "--tasks mmlu_anatomy --offline --data-dir " + dir + "/data ";
}
const char* kQuestion = R"({"question": "Which one?", "subject": "x", "choices": ["red", "green", "blue", "cat"], "answer": 2})";

TEST(EvalCli, TaskNamedTwiceIsRefused) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy,piqa,arc_easy " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wr-eval: error: --tasks names arc_easy twice\n");
}

TEST(EvalCli, NegativeAndZeroCountsAreRefused) {
  const std::string dir = wr::test::temp_dir();
  const std::string ckpt = fixture_checkpoint(dir);
  for (const auto& [flag, message] : std::vector<std::pair<std::string, std::string>>{
           {"--limit -1", "--limit must be >= 0, got -1"},
           {"--threads -1", "--threads must be >= 0, got -1"},
           {"--batch-tokens 0", "--batch-tokens must be positive, got 0"},
           {"--batch-tokens -5", "--batch-tokens must be positive, got -5"},
           {"--sample -2", "--sample must be >= 0, got -2"},
           {"--seed -1", "--seed must be >= 0, got -1"},
           {"--seed 18446744073709551616", "option --seed 18446744073709551616 is out of range (at most 9223372036854775807)"},
           {"--limit 5 --sample 5", "--limit and --sample are exclusive (the first N documents, or a seeded random N)"}}) {
    auto r = wr_eval("--tasks arc_easy " + flag + " " + ckpt, dir);
    EXPECT_EQ(r.code, 1) << flag;
    EXPECT_EQ(r.err, "wr-eval: error: " + message + "\n") << flag;
  }
}

// Outputs are checked before anything is scored (here: before the missing data file would be named).
TEST(EvalCli, OutputsMustBeRegularDistinctAndNotInputs) {
  const std::string dir = wr::test::temp_dir();
  const std::string ckpt = fixture_checkpoint(dir);
  const std::string before = wr::sha256_file(ckpt);
  std::filesystem::create_directories(dir + "/adir");
  wr::write_file_atomic(dir + "/other.csv", "a,b,c\n1,2,3\n");
  const std::string run = "--tasks arc_easy --offline --data-dir " + dir + "/data ";
  std::filesystem::create_directories(dir + "/data/arc");
  wr::write_file_atomic(dir + "/data/arc/ARC-Easy-Test.jsonl", "task data\n");  // a task's data file is an input too
  for (const auto& [outputs, message] : std::vector<std::pair<std::string, std::string>>{
           {"--json /dev/full", "/dev/full is a character device; results go to regular files only"},
           {"--output " + dir + "/adir", dir + "/adir is a directory; results go to regular files only"},
           {"--json " + dir + "/x --log-samples " + dir + "/x", "--json and --log-samples name the same file " + dir + "/x"},
           {"--log-samples " + ckpt, "--log-samples " + ckpt + " is an input of this run"},
           {"--json " + dir + "/data/arc/ARC-Easy-Test.jsonl",
            "--json " + dir + "/data/arc/ARC-Easy-Test.jsonl is an input of this run"},
           {"--output " + dir + "/other.csv", dir + "/other.csv: existing file has another header"}}) {
    auto r = wr_eval(run + outputs + " " + ckpt, dir);
    EXPECT_EQ(r.code, 1) << outputs;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_TRUE(contains(r.err, message)) << outputs << ": " << r.err;
  }
  EXPECT_EQ(wr::sha256_file(ckpt), before);
  EXPECT_EQ(wr::read_file(dir + "/data/arc/ARC-Easy-Test.jsonl"), "task data\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/x"));
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/adir"));
}

// A symlinked output is written through; a CSV saved by a spreadsheet (BOM, CRLF) or left empty is appended to.
TEST(EvalCli, SymlinksAreWrittenThroughAndSpreadsheetCsvsAppended) {
  const std::string dir = wr::test::temp_dir();
  const std::string run = anatomy_data(dir, {kQuestion});
  const std::string header = wr::kCsvHeader;
  wr::write_file_atomic(dir + "/excel.csv", "\xEF\xBB\xBF" + header + "\r\n");
  wr::write_file_atomic(dir + "/empty.csv", "");
  wr::write_file_atomic(dir + "/results.json", "old");
  std::filesystem::create_symlink(dir + "/results.json", dir + "/link.json");
  for (const char* csv : {"/excel.csv", "/empty.csv"}) {
    auto r = wr_eval(run + "--output " + dir + csv + " --json " + dir + "/link.json " + fixture_checkpoint(dir), dir);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string content = wr::read_file(dir + csv);
    EXPECT_EQ(content.rfind(header + "\n", 0), 0u) << content;
    EXPECT_EQ(lines(content), 4) << content;  // the header, acc, bpb and prob_gold
  }
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/link.json"));
  EXPECT_TRUE(nlohmann::json::parse(wr::read_file(dir + "/results.json")).contains("results"));
}

TEST(EvalCli, EmptyTaskFileIsNamed) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval(anatomy_data(dir, {}) + "--output " + dir + "/r.csv " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, dir + "/data/mmlu/anatomy.jsonl: no documents")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/r.csv"));
}

TEST(EvalCli, LabelsBeyondIntAreOutOfRangeNotWrapped) {
  const std::string dir = wr::test::temp_dir();
  std::string doc = kQuestion;
  doc.replace(doc.find("\"answer\": 2"), 11, "\"answer\": 4294967297");  // 2^32 + 1 would wrap to 1
  auto r = wr_eval(anatomy_data(dir, {doc}) + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "'4294967297' is out of range")) << r.err;
}

TEST(EvalCli, NonFiniteWeightsAreAnErrorNotAScore) {
  const std::string dir = wr::test::temp_dir();
  auto m = wr::test::fixture_model();
  {
    torch::NoGradGuard no_grad;
    m->layer(0).mlp->down_proj->weight[0][0] = std::numeric_limits<float>::quiet_NaN();
  }
  wr::save_native(dir + "/nan.pt", m, {{"step", 1}}, wr::test::fixture_tokenizer().model_bytes());
  auto r = wr_eval(anatomy_data(dir, {kQuestion}) + "--output " + dir + "/r.csv " + dir + "/nan.pt", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "mmlu_anatomy: 4 of 4 log-likelihoods in documents 0-0 are not finite")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/r.csv"));
}

TEST(EvalCli, SmallerOrForeignTokenizersAreNoted) {
  WR_REQUIRE_SHARED("models/stories260K/tok512.model");
  const std::string dir = wr::test::temp_dir();
  const std::string ckpt = fixture_checkpoint(dir, std::max(512, wr::test::fixture_tokenizer().vocab_size()) + 8);
  const std::string run = anatomy_data(dir, {kQuestion});
  auto r = wr_eval(run + ckpt, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "note: the tokenizer has " + std::to_string(wr::test::fixture_tokenizer().vocab_size()) +
                                  " pieces, the model's vocabulary " +
                                  std::to_string(std::max(512, wr::test::fixture_tokenizer().vocab_size()) + 8)))
      << r.err;
  const std::string other = wr::test::shared_path("models/stories260K/tok512.model");
  r = wr_eval(run + "--tokenizer " + other + " " + ckpt, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "note: --tokenizer " + other + " is not the tokenizer " + ckpt + " was trained with")) << r.err;
}

TEST(EvalCli, NotAModelOrADirectoryForAFileAreNamed) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval("--tasks arc_easy /dev/null", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "/dev/null: not a model (expected a .pt checkpoint")) << r.err;
  wr::write_file_atomic(dir + "/empty.safetensors", "");
  r = wr_eval("--tasks arc_easy " + dir + "/empty.safetensors", dir);
  EXPECT_TRUE(contains(r.err, dir + "/empty.safetensors: no config.json beside it")) << r.err;
  r = wr_eval("--tasks arc_easy --tokenizer " + dir + " " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  // A directory is a Hugging Face model folder to take the tokenizer from; this one has none.
  EXPECT_TRUE(contains(r.err, dir + ": a directory without tokenizer.json or tokenizer.model")) << r.err;
}

TEST(EvalCli, ThreadsBeyondTheCoresAreCapped) {
  const std::string dir = wr::test::temp_dir();
  auto r = wr_eval(anatomy_data(dir, {kQuestion}) + "--threads 4096 " + fixture_checkpoint(dir), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "wr: 4096 threads asked for, but this process may use")) << r.err;
}

// F6 end to end: two runs' checkpoints of one file name, scored without --run into one CSV, get different run
// names and both reach wr-eval compare's table; compare refuses options that are not its own, and enumerated
// options are checked by the option table before any work.
TEST(EvalCli, DefaultRunNamesDifferAndCompareShowsBoth) {
  const std::string dir = wr::test::temp_dir();
  const std::string data = anatomy_data(dir, {kQuestion});
  for (const char* run : {"a", "b"}) {
    std::filesystem::create_directories(dir + "/" + run);
    auto r = wr_eval(data + "--output " + dir + "/r.csv " + fixture_checkpoint(dir + "/" + run), dir);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const std::string csv = wr::read_file(dir + "/r.csv");
  EXPECT_TRUE(contains(csv, "\na/ckpt.pt," + dir + "/a/ckpt.pt,")) << csv;
  EXPECT_TRUE(contains(csv, "\nb/ckpt.pt," + dir + "/b/ckpt.pt,")) << csv;
  auto compare = [&](const std::string& args) {  // without wr_eval's --threads, which compare refuses
    const int status = std::system((std::string(WR_EVAL_BIN) + " compare " + args + " > " + dir + "/stdout.txt 2> " +
                                    dir + "/stderr.txt").c_str());
    return Outcome{WIFEXITED(status) ? WEXITSTATUS(status) : -1, wr::read_file(dir + "/stderr.txt")};
  };
  auto r = compare(dir + "/r.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string table = wr::read_file(dir + "/stdout.txt");
  EXPECT_TRUE(contains(table, "a/ckpt.pt")) << table;
  EXPECT_TRUE(contains(table, "b/ckpt.pt")) << table;
  EXPECT_TRUE(contains(table, "mmlu_anatomy")) << table;

  r = compare(dir + "/r.csv --tasks piqa");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wr-eval: error: compare takes --samples only; --tasks does not apply to it\n");
  EXPECT_EQ(wr::read_file(dir + "/stdout.txt"), "");
  r = wr_eval(data + "--dtype bf61 " + fixture_checkpoint(dir), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wr-eval: error: --dtype expects f32 or bf16, got 'bf61' (did you mean bf16?)\n");
}

}  // namespace
