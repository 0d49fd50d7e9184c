// wr-train's data.sources (trainer/mixture.h): the sources drawn in proportion to their weights, deterministically
// from (seed, micro-batch index); one source draws the windows one folder always drew; the sources must share a
// tokenizer; and a two-source run logs the tokens each gave and resumes bit for bit.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file.h"
#include "model/io/native.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/batch.h"
#include "trainer/mixture.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/train.h"

namespace {

using wr::test::contains;
using wr::test::error_of;
using wr::test::fixture_shards;
using wr::test::quiet_options;
using wr::test::tiny_config;

// A second source: other documents, the fixture tokenizer; made once per test process.
const std::string& second_shards() {
  static const std::string dir = [] {
    const std::string root = std::string(WR_TEST_TMP) + "/mixture-shards-" + std::to_string(::getpid());
    static const wr::test::RemovedAtExit cleanup{root};
    std::filesystem::create_directories(root);
    wr::write_file_atomic(root + "/tok.model", wr::test::fixture_tokenizer().model_bytes());
    wr::write_file_atomic(root + "/corpus.jsonl", wr::test::word_corpus_jsonl(300, 7));
    wr::TokenizeOptions opt;
    opt.inputs = {root + "/corpus.jsonl"};
    opt.tokenizer = root + "/tok.model";
    opt.out_dir = root + "/shards";
    opt.val_fraction = 0.1;
    wr::tokenize_corpus(opt);
    return opt.out_dir;
  }();
  return dir;
}

TEST(Mixture, DrawsInProportionDeterministically) {
  const wr::Mixture m({{fixture_shards(), 3}, {second_shards(), 1}}, "train");
  EXPECT_DOUBLE_EQ(m.share(0), 0.75);
  const auto rows = m.rows_drawn(1, 0, 25000, 4);  // 100000 rows
  EXPECT_NEAR(rows[0] / 100000.0, 0.75, 0.005);
  EXPECT_EQ(rows[0] + rows[1], 100000);
  EXPECT_EQ(m.rows_drawn(1, 0, 25000, 4), rows);  // a function of (seed, index) alone
  EXPECT_NE(m.rows_drawn(2, 0, 25000, 4), rows);
  const auto parts = m.rows_drawn(1, 0, 10000, 4), rest = m.rows_drawn(1, 10000, 25000, 4);
  EXPECT_EQ(parts[0] + rest[0], rows[0]);
  // One source: every row from it, the windows one folder always drew.
  const wr::Mixture one({{fixture_shards(), 1}}, "train");
  const wr::TokenStream stream(fixture_shards(), "train");
  for (int64_t index : {0, 7, 123}) {
    EXPECT_EQ(one.source_of(1, index, 3), 0u);
    const auto a = wr::make_batch(one, wr::DataMode::random, 1, index, 4, 16, torch::kCPU);
    const auto b = wr::make_batch(stream, wr::DataMode::random, 1, index, 4, 16, torch::kCPU);
    EXPECT_TRUE(torch::equal(a.inputs, b.inputs));
  }
}

TEST(Mixture, SourcesMustShareATokenizerAndHavePositiveWeights) {
  const std::string dir = wr::test::temp_dir();
  std::filesystem::copy(second_shards(), dir + "/other");
  auto manifest = nlohmann::json::parse(wr::read_file(dir + "/other/manifest.json"));
  manifest["vocab_size"] = manifest["vocab_size"].get<int64_t>() + 1;
  wr::write_file_atomic(dir + "/other/manifest.json", manifest.dump());
  std::string e = error_of([&] { wr::Mixture m({{fixture_shards(), 1}, {dir + "/other", 1}}, "train"); });
  EXPECT_TRUE(contains(e, "data.sources[1] (" + dir + "/other/manifest.json): vocab_size") &&
              contains(e, "one tokenizer"))
      << e;
  e = error_of([&] { wr::Mixture m({{fixture_shards(), 1}, {second_shards(), 0}}, "train"); });
  EXPECT_TRUE(contains(e, "data.sources[1] (" + second_shards() + "): weight 0, expected a positive number")) << e;
  const std::string sources = "data.sources=[{\"dir\": \"" + second_shards() + "\", \"weight\": 1}]";
  e = error_of([&] { tiny_config(dir + "/both", {sources}); });
  EXPECT_TRUE(contains(e, "data.dir and data.sources are both set")) << e;
  e = error_of([&] { tiny_config(dir + "/key", {"data.dir=\"\"", "data.sources=[{\"dir\": \"x\", \"weigth\": 1}]"}); });
  EXPECT_TRUE(contains(e, "'data.sources[0]' is {")) << e;
  e = error_of([&] { tiny_config(dir + "/seq", {"data.dir=\"\"", sources, "data.mode=sequential"}); });
  EXPECT_TRUE(e.empty()) << e;  // one source may be read in order
}

// Two sources 3:1: the tokens each gave are logged, near the stated shares, and a run stopped after step 5 and
// resumed ends with the same losses, source counts and weights as an uninterrupted one.
TEST(Mixture, TrainsInProportionAndResumesBitForBit) {
  const std::string dir = wr::test::temp_dir();
  const std::vector<std::string> mixture = {"data.dir=\"\"", "data.sources=[{\"dir\": \"" + fixture_shards() +
                                                                 "\", \"weight\": 3}, {\"dir\": \"" + second_shards() +
                                                                 "\", \"weight\": 1}]"};
  auto straight = wr::train(tiny_config(dir + "/straight", mixture), quiet_options());
  wr::TrainOptions stop_at_5 = quiet_options();
  stop_at_5.log = [](const std::string& line) {
    if (line.rfind("step      5/", 0) == 0) wr::request_stop();
  };
  EXPECT_TRUE(wr::train(tiny_config(dir + "/resumed", mixture), stop_at_5).interrupted);
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  auto second = wr::train(tiny_config(dir + "/resumed", mixture), resume);
  ASSERT_EQ(second.step, 12);
  for (const char* name : {"source0", "source1"})
    EXPECT_EQ(wr::test::telemetry_series(dir + "/straight", name, "tokens"),
              wr::test::telemetry_series(dir + "/resumed", name, "tokens"))
        << name;
  const auto a = wr::test::telemetry_series(dir + "/straight", "train", "loss"),
             b = wr::test::telemetry_series(dir + "/resumed", "train", "loss");
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  const double t0 = wr::test::telemetry_series(dir + "/straight", "source0", "tokens").at(12),
               t1 = wr::test::telemetry_series(dir + "/straight", "source1", "tokens").at(12);
  EXPECT_EQ(t0 + t1, 12 * 2 * 4 * 32);      // steps x micro-batches x rows x tokens
  EXPECT_NEAR(t0 / (t0 + t1), 0.75, 0.15);  // 96 rows: the binomial's standard deviation is 0.044
  auto wa = wr::load_native(straight.checkpoint), wb = wr::load_native(second.checkpoint);
  auto sa = wr::state_dict(wa.model), sb = wr::state_dict(wb.model);
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  // A one-folder run logs no source rows and draws what it always drew.
  auto one = wr::train(tiny_config(dir + "/one"), quiet_options());
  EXPECT_TRUE(wr::test::telemetry_series(dir + "/one", "source0", "tokens").empty());
  EXPECT_NE(wr::test::telemetry_series(dir + "/one", "train", "loss"), a);
  (void)one;
}

}  // namespace
