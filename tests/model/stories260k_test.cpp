// The check against an implementation nobody here wrote: llama2.c's own greedy output for stories260K.
#include <gtest/gtest.h>

#include <fstream>

#include "model/io/model_file.h"
#include "model/generate.h"
#include "model/io/safetensors.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace {

const char* kModel = "models/stories260K/stories260K.bin";
const char* kIds = "models/stories260K/stories260K_greedy_ids.txt";

std::vector<int64_t> expected_ids() {
  std::ifstream in(wr::test::shared_path(kIds));
  std::vector<int64_t> ids;
  for (int64_t id; in >> id;) ids.push_back(id);
  return ids;
}

class Stories260K : public ::testing::TestWithParam<bool> {};

TEST_P(Stories260K, GreedyDecodingReproducesLlama2c) {
  WR_REQUIRE_SHARED(kModel);
  auto want = expected_ids();
  ASSERT_EQ(want.size(), 200u);
  auto m = wr::load_model(wr::test::shared_path(kModel));
  m.model->eval();
  wr::GenerateOptions opt;
  opt.max_new_tokens = 200;
  opt.use_cache = GetParam();
  EXPECT_EQ(wr::generate_greedy(m.model, {1}, opt), want);
}

INSTANTIATE_TEST_SUITE_P(KvCache, Stories260K, ::testing::Values(true, false),
                         [](const auto& param_info) { return param_info.param ? "WithCache" : "WithoutCache"; });

TEST(Stories260KText, DecodedTextMatchesLlama2cOutput) {
  WR_REQUIRE_SHARED(kModel);
  auto tok = wr::Tokenizer::from_file(wr::test::shared_path("models/stories260K/tok512.model"));
  auto ids = expected_ids();
  std::string text = tok.decode(std::vector<int>(ids.begin(), ids.end()));
  std::ifstream in(wr::test::shared_path("models/stories260K/stories260K_greedy_expected.txt"));
  std::string first_line;
  std::getline(in, first_line);
  EXPECT_EQ(text.substr(0, first_line.size()), first_line);
}

TEST(Stories260KFormats, SameLogitsAfterNativeAndSafetensorsRoundTrips) {
  WR_REQUIRE_SHARED(kModel);
  auto dir = wr::test::temp_dir();
  auto m = wr::load_model(wr::test::shared_path(kModel));
  wr::save_model(m.model, dir + "/ckpt.pt", wr::ModelFormat::native);
  auto native = wr::load_model(dir + "/ckpt.pt");
  wr::save_model(native.model, dir + "/hf", wr::ModelFormat::hf);
  auto hf = wr::load_model(dir + "/hf");
  wr::save_model(hf.model, dir + "/back.bin", wr::ModelFormat::llama2c);
  auto back = wr::load_model(dir + "/back.bin");
  torch::NoGradGuard ng;
  auto tokens = torch::tensor({{1, 403, 407, 261, 378, 432, 383, 286, 261}}, torch::kInt64);
  auto ref = m.model->forward(tokens);
  EXPECT_TRUE(torch::equal(native.model->forward(tokens), ref));
  EXPECT_TRUE(torch::equal(hf.model->forward(tokens), ref));
  EXPECT_TRUE(torch::equal(back.model->forward(tokens), ref));
}

}  // namespace
