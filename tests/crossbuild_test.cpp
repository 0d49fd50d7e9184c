// The two LibTorch builds compute the same things: this build's binaries (LibTorch 2.x, build-torch2/) against
// those of WR_CROSS_BUILD_DIR (Debian's LibTorch 1.13, build/), on the real stories260K model over four real
// tasks, and over a few steps of training. Skipped unless scripts/setup built both (--torch both, as the test
// command does).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "tests/test_util.h"

namespace {

using wr::test::shared_path;

struct Build {
  std::string name, dir;
  std::string bin(const std::string& tool) const {
    return dir + (tool == "wr-eval" ? "/eval/" : "/trainer/") + tool;
  }
};

// The other build, or nothing when this one was configured alone.
const Build* peer() {
  static const Build b{"peer", WR_CROSS_BUILD_DIR};
  if (b.dir.empty()) return nullptr;
  return std::filesystem::exists(b.bin("wr-eval")) ? &b : nullptr;
}
const Build self{"self", WR_BUILD_DIR};

#define WR_REQUIRE_PEER()                                                                                   \
  do {                                                                                                      \
    if (!peer())                                                                                            \
      GTEST_SKIP() << "no second LibTorch build to compare with (WR_CROSS_BUILD_DIR='" WR_CROSS_BUILD_DIR \
                      "'; scripts/setup --torch both sets it)";                                             \
  } while (0)

// Runs cmd with its output in log; on failure, says so with both.
::testing::AssertionResult run(const std::string& cmd, const std::string& log) {
  if (std::system((cmd + " > " + log + " 2>&1").c_str()) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << cmd << "\n" << wr::read_file(log);
}

struct Sample {
  double ll;
  int pred, pred_norm;
};
using SampleKey = std::tuple<std::string, int64_t, int64_t>;  // task, doc_id, request

std::map<SampleKey, Sample> read_samples(const std::string& path) {
  std::map<SampleKey, Sample> out;
  std::istringstream in(wr::read_file(path));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    out[{j.at("task").get<std::string>(), j.at("doc_id").get<int64_t>(), j.at("request").get<int64_t>()}] = {
        j.at("ll").get<double>(), j.at("pred").get<int>(), j.at("pred_norm").get<int>()};
  }
  return out;
}

TEST(CrossBuild, Stories260KScoresAgreePerRequest) {
  WR_REQUIRE_PEER();
  WR_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  WR_REQUIRE_SHARED("datasets/arc/ARC-Easy-Test.jsonl");
  const std::string dir = wr::test::temp_dir();
  std::map<std::string, std::map<SampleKey, Sample>> samples;
  for (const Build* b : {&self, peer()}) {
    const std::string out = dir + "/" + b->name;
    ASSERT_TRUE(run(b->bin("wr-eval") + " --tasks arc_easy,hellaswag_llamacpp,piqa,winogrande --limit 100 --threads 1 --offline" +
            " --data-dir " + shared_path("datasets") + " --tokenizer " + shared_path("models/stories260K/tok512.model") +
            " --log-samples " + out + ".jsonl " + shared_path("models/stories260K/stories260K.bin"),
        out + ".log"));
    samples[b->name] = read_samples(out + ".jsonl");
  }
  const auto &a = samples["self"], &b = samples["peer"];
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GT(a.size(), 1000u);  // 100 documents of 4 tasks, 2 to 4 requests each
  // Within 1e-4, and within 1e-6 relative where |ll| passes 100: a PIQA solution of 350 tokens scores about
  // -1200, where one float32 step is already 1.2e-4.
  double max_diff = 0, max_excess = 0;
  int pred_diffs = 0;
  for (const auto& [key, s] : a) {
    ASSERT_TRUE(b.count(key)) << std::get<0>(key) << " doc " << std::get<1>(key);
    const Sample& t = b.at(key);
    const double diff = std::abs(s.ll - t.ll), tolerance = 1e-4 * std::max(1.0, std::abs(s.ll) / 100);
    max_diff = std::max(max_diff, diff);
    max_excess = std::max(max_excess, diff / tolerance);
    EXPECT_LE(diff, tolerance) << std::get<0>(key) << " doc " << std::get<1>(key) << " request " << std::get<2>(key)
                               << ": " << s.ll << " vs " << t.ll;
    pred_diffs += (s.pred != t.pred) + (s.pred_norm != t.pred_norm);
  }
  EXPECT_EQ(pred_diffs, 0);
  std::printf("%zu requests: max |ll difference| %.3g (%.0f%% of its tolerance at most), %d prediction differences\n",
              a.size(), max_diff, 100 * max_excess, pred_diffs);
}

TEST(CrossBuild, TrainingLossesAgree) {
  WR_REQUIRE_PEER();
  const std::string dir = wr::test::temp_dir();
  // Data made once, by this build's wr-data (no LibTorch in it): the quickstart's invented world, 2000 documents.
  ASSERT_TRUE(run(self.bin("wr-data") + " synth --documents 2000 --out " + dir + "/data", dir + "/synth.log"));
  ASSERT_TRUE(run(self.bin("wr-data") + " train-tokenizer --vocab-size 512 --out " + dir + "/tok.model " + dir +
                      "/data/corpus.jsonl",
                  dir + "/tok.log"));
  ASSERT_TRUE(run(self.bin("wr-data") + " tokenize --tokenizer " + dir + "/tok.model --out " + dir + "/shards " + dir +
                      "/data/corpus.jsonl",
                  dir + "/shards.log"));
  std::map<std::string, std::map<int64_t, double>> loss;
  for (const Build* b : {&self, peer()}) {
    const std::string run_dir = dir + "/run-" + b->name;
    ASSERT_TRUE(run(b->bin("wr-train") + " " + WR_SOURCE_DIR + "/configs/train/quickstart.json run.dir=" + run_dir +
            " data.dir=" + dir + "/shards run.threads=1 batch.micro_batch=8 schedule.steps=8 schedule.warmup_steps=2" +
            " tvr.interval=4 log.interval=1 log.telemetry_interval=4 eval.interval=0 checkpoint.interval=0",
        run_dir + ".log"));
    loss[b->name] = wr::test::telemetry_series(run_dir, "train", "loss");
  }
  ASSERT_EQ(loss["self"].size(), 8u);
  ASSERT_EQ(loss["peer"].size(), 8u);
  for (const auto& [step, l] : loss["self"]) EXPECT_NEAR(l, loss["peer"].at(step), 1e-4) << "step " << step;
}

}  // namespace
