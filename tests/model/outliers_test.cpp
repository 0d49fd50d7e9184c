// The outlier statistics of model/outliers.h against known answers and a float64 reference written here from the
// definitions: kurtosis of vectors whose value is known in closed form, massive activations planted at a known token
// and channel (in a tensor, and in a model's embeddings, from where the residual stream carries them through every
// layer), channel ratios and weight statistics of matrices filled by hand; the kurtosis against scipy.stats.kurtosis
// (tests/model/outliers_reference.py through .venv, skipped with a message where absent).
#include "model/outliers.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include "common/file.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_util.h"

namespace {

// Population excess kurtosis, written out in float64.
double kurtosis_reference(const std::vector<double>& x) {
  double mean = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double m2 = 0, m4 = 0;
  for (double v : x) {
    const double d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= static_cast<double>(x.size());
  m4 /= static_cast<double>(x.size());
  return m4 / (m2 * m2) - 3;
}

torch::Tensor tensor_of(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

TEST(Outliers, KurtosisOfVectorsWithKnownAnswers) {
  EXPECT_DOUBLE_EQ(wr::excess_kurtosis(tensor_of({-1, 1, -1, 1})), -2.0);   // two points: the least possible
  EXPECT_DOUBLE_EQ(wr::excess_kurtosis(tensor_of({1, 2, 3, 4, 5})), -1.3);  // m2 = 2, m4 = 6.8
  EXPECT_NEAR(wr::excess_kurtosis(tensor_of({0, 0, 0, 1})), -2.0 / 3, 1e-15);
  // one spike among n - 1 zeros: (n^2 - 3n + 3) / (n - 1) - 3, large for large n
  const int n = 1000;
  std::vector<double> spike(n, 0.0);
  spike[17] = 5;
  EXPECT_NEAR(wr::excess_kurtosis(tensor_of(spike)), (double(n) * n - 3.0 * n + 3) / (n - 1) - 3, 1e-9);
  EXPECT_TRUE(std::isnan(wr::excess_kurtosis(torch::full({3, 4}, 2.5))));  // constant: no spread to scale by
  // dtype and shape do not matter: a float32 [2, 2] and a bfloat16 copy of values bf16 holds exactly
  const auto t = torch::tensor({1.0f, 2.0f, 3.0f, 10.0f}).view({2, 2});
  EXPECT_NEAR(wr::excess_kurtosis(t), kurtosis_reference({1, 2, 3, 10}), 1e-14);
  EXPECT_NEAR(wr::excess_kurtosis(t.to(torch::kBFloat16)), kurtosis_reference({1, 2, 3, 10}), 1e-14);
  // large samples: a Gaussian's is 0, a Laplace's 3 (sampling stderr about sqrt(24 / n) = 0.008 and
  // sqrt(8! / 2^4 / n) = 0.08; the tolerances are 5 of them)
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  std::exponential_distribution<double> expo;
  std::vector<double> g, l;
  for (int i = 0; i < 400000; ++i) {
    g.push_back(normal(gen));
    l.push_back((gen() % 2 ? 1 : -1) * expo(gen));
  }
  EXPECT_NEAR(wr::excess_kurtosis(tensor_of(g)), 0.0, 0.04);
  EXPECT_NEAR(wr::excess_kurtosis(tensor_of(l)), 3.0, 0.4);
  EXPECT_NEAR(wr::excess_kurtosis(tensor_of(l)), kurtosis_reference(l), 1e-9);
}

TEST(Outliers, MedianIsTheLowerMiddleValue) {
  EXPECT_EQ(wr::lower_median(tensor_of({3, 1, 2})), 2.0);
  EXPECT_EQ(wr::lower_median(tensor_of({4, 1, 3, 2})), 2.0);  // torch.median's convention, not 2.5
  EXPECT_EQ(wr::lower_median(tensor_of({7})), 7.0);
}

TEST(Outliers, HiddenStatsFindPlantedMassiveActivations) {
  // 6 tokens x 64 channels of N(0, 1): median |h| about 0.67, so the bar is 1000 x that, about 670
  auto gen = at::detail::createCPUGenerator(11);
  auto h = at::randn({6, 64}, gen, torch::kFloat32);
  h[0][17] = 2000;   // massive
  h[3][5] = -1500;   // massive, negative
  h[4][9] = 600;     // > 100 but under 1000 x the median: not massive
  h[2][40] = 99;     // neither
  const auto s = wr::hidden_stats(h);
  std::vector<double> all(h.data_ptr<float>(), h.data_ptr<float>() + h.numel()), abs_sorted;
  for (double v : all) abs_sorted.push_back(std::fabs(v));
  std::sort(abs_sorted.begin(), abs_sorted.end());
  EXPECT_EQ(s.max_abs, 2000.0);
  EXPECT_EQ(s.median_abs, abs_sorted[(abs_sorted.size() - 1) / 2]);
  ASSERT_GT(1000 * s.median_abs, 600.0);  // the planted 600 is under the bar, as intended
  EXPECT_NEAR(s.kurtosis, kurtosis_reference(all), 1e-9 * std::fabs(kurtosis_reference(all)));
  ASSERT_EQ(s.massive_count, 2);
  ASSERT_EQ(s.massive.size(), 2u);
  EXPECT_EQ(s.massive[0].position, 0);  // largest |h| first
  EXPECT_EQ(s.massive[0].channel, 17);
  EXPECT_EQ(s.massive[0].value, 2000.0);
  EXPECT_EQ(s.massive[1].position, 3);
  EXPECT_EQ(s.massive[1].channel, 5);
  EXPECT_EQ(s.massive[1].value, -1500.0);

  // a quiet state (median 1e-3): 120 passes both bars, 99 fails the absolute one
  auto quiet = torch::full({4, 8}, 1e-3f);
  quiet[1][2] = 120;
  quiet[2][3] = 99;
  const auto q = wr::hidden_stats(quiet);
  ASSERT_EQ(q.massive_count, 1);
  EXPECT_EQ(q.massive[0].position, 1);
  EXPECT_EQ(q.massive[0].channel, 2);

  // the list keeps the largest kMaxListed; the count is all of them
  auto many = torch::zeros({300, 4});
  for (int t = 0; t < 300; ++t) many[t][1] = 200 + t;
  const auto m = wr::hidden_stats(many);
  EXPECT_EQ(m.massive_count, 300);
  ASSERT_EQ(m.massive.size(), wr::kMaxListed);
  EXPECT_EQ(m.massive[0].position, 299);
  EXPECT_EQ(m.massive.back().position, 300 - static_cast<int64_t>(wr::kMaxListed));
}

TEST(Outliers, ChannelRatioIsTheLargestChannelMaxOverTheMedianChannelMax) {
  const auto s = wr::channel_ratio(tensor_of({1, 2, 3, 50, 4}), 3, wr::LinearInput::kDown);
  EXPECT_EQ(s.layer, 3);
  EXPECT_EQ(s.top_channel, 3);
  EXPECT_EQ(s.top_max, 50.0);
  EXPECT_EQ(s.median_max, 3.0);
  EXPECT_DOUBLE_EQ(s.ratio, 50.0 / 3);
  EXPECT_TRUE(std::isinf(wr::channel_ratio(tensor_of({0, 0, 5}), 1, wr::LinearInput::kO).ratio));
}

// A huge value in one channel of one token's embedding rides the residual stream through every layer (the blocks
// add little to it), at that token's positions only: the statistics must find it there in every layer, and the
// first layer's q/k/v input (that embedding, normed) must have its largest channel there.
TEST(Outliers, ActivationOutliersFindAMassiveEmbeddingAtItsPositionsAndChannel) {
  auto c = wr::test::tiny_config();
  auto model = wr::test::tiny_model(c);
  constexpr int64_t kToken = 5, kChannel = 13;
  {
    torch::NoGradGuard no_grad;
    model->model->embed_tokens->weight[kToken][kChannel] = 5000;
  }
  const std::vector<torch::Tensor> windows = {torch::tensor({1, 2, 3, 4}, torch::kInt64),
                                              torch::tensor({9, 8, 7, int(kToken), 6, int(kToken)}, torch::kInt64)};
  const auto s = wr::activation_outliers(model, windows);
  EXPECT_EQ(s.tokens, 10);
  ASSERT_EQ(s.layers.size(), 2u);
  for (const auto& layer : s.layers) {
    ASSERT_EQ(layer.massive_count, 2);
    std::vector<std::pair<int64_t, int64_t>> where;
    for (const auto& m : layer.massive) {
      EXPECT_EQ(m.channel, kChannel);
      EXPECT_NEAR(m.value, 5000, 500);
      where.emplace_back(m.window, m.position);
    }
    std::sort(where.begin(), where.end());
    EXPECT_EQ(where, (std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {1, 5}}));
    EXPECT_GE(layer.max_abs, 4500);
  }
  // 4 inputs per layer and lm_head's
  ASSERT_EQ(s.inputs.size(), 2u * 4 + 1);
  EXPECT_EQ(s.inputs[0].layer, 1);
  EXPECT_EQ(s.inputs[0].which, wr::LinearInput::kQKV);
  EXPECT_EQ(s.inputs[0].top_channel, kChannel);
  EXPECT_GT(s.inputs[0].ratio, 2.0);
  EXPECT_EQ(s.inputs.back().layer, 0);
  EXPECT_EQ(s.inputs.back().which, wr::LinearInput::kHead);

  // each layer's statistics are hidden_stats of its outputs over both windows, stacked
  std::vector<std::vector<torch::Tensor>> outputs(2);
  for (const auto& w : windows) {
    std::vector<torch::Tensor> out;
    wr::ForwardArgs args;
    args.layer_outputs = &out;
    torch::NoGradGuard no_grad;
    model->hidden(w.unsqueeze(0), args);
    for (size_t l = 0; l < 2; ++l) outputs[l].push_back(out[l][0]);
  }
  for (size_t l = 0; l < 2; ++l) {
    const auto direct = wr::hidden_stats(torch::cat(outputs[l]));
    EXPECT_EQ(s.layers[l].max_abs, direct.max_abs);
    EXPECT_EQ(s.layers[l].median_abs, direct.median_abs);
    EXPECT_EQ(s.layers[l].kurtosis, direct.kurtosis);
  }
  EXPECT_TRUE(wr::test::error_of([&] { wr::activation_outliers(model, {}); }).find("no windows") != std::string::npos);
}

TEST(Outliers, WeightStatsOfMatricesFilledByHand) {
  auto c = wr::test::tiny_config();
  auto model = wr::test::tiny_model(c);
  {
    torch::NoGradGuard no_grad;
    auto& attn = *model->layer(0).self_attn;
    // +-1 alternating: kurtosis -2, max|w| / std 1
    attn.q_proj->weight.copy_(torch::tensor({-1.0f, 1.0f}).repeat(attn.q_proj->weight.numel() / 2).view_as(attn.q_proj->weight));
    // three zeros and a 1, repeated: kurtosis -2/3, max|w| / std = 1 / sqrt(3/16)
    attn.k_proj->weight.copy_(torch::tensor({0.0f, 0.0f, 0.0f, 1.0f}).repeat(attn.k_proj->weight.numel() / 4).view_as(attn.k_proj->weight));
  }
  const auto w = wr::weight_outliers(model);
  ASSERT_EQ(w.size(), 2u * wr::kMatricesPerLayer + 2);  // the 7 per layer, embeddings, lm_head
  EXPECT_EQ(w[0].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(w[0].layer, 1);
  EXPECT_NEAR(w[0].kurtosis, -2.0, 1e-12);
  EXPECT_NEAR(w[0].max_over_std, 1.0, 1e-12);
  EXPECT_NEAR(w[1].kurtosis, -2.0 / 3, 1e-12);
  EXPECT_NEAR(w[1].max_over_std, 1 / std::sqrt(3.0 / 16), 1e-12);
  EXPECT_EQ(w[w.size() - 2].name, "model.embed_tokens.weight");
  EXPECT_EQ(w.back().name, "lm_head.weight");
  EXPECT_EQ(w.back().layer, 0);
  // a random normal init: kurtosis near 0, max|w| / std a few
  const auto& down = w[wr::kMatricesPerLayer + 6];
  EXPECT_EQ(down.name, "model.layers.1.mlp.down_proj.weight");
  EXPECT_NEAR(down.kurtosis, 0.0, 0.5);
  EXPECT_GT(down.max_over_std, 2.0);
  EXPECT_LT(down.max_over_std, 6.0);
  // tied: no lm_head of its own
  auto tied = wr::test::tiny_model(wr::test::tiny_config(2, true));
  EXPECT_EQ(wr::weight_outliers(tied).size(), 2u * wr::kMatricesPerLayer + 1);
}

// scipy.stats.kurtosis (fisher=True, bias=True: population excess kurtosis) on heavy-tailed samples; "" and the
// values, or why to skip.
std::string scipy_kurtosis(const std::vector<std::vector<float>>& samples, std::vector<double>& out) {
  const std::string dir = wr::test::temp_dir();
  std::string args;
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string path = dir + "/s" + std::to_string(i) + ".f32";
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(samples[i].data()), static_cast<std::streamsize>(samples[i].size() * sizeof(float)));
    args += " " + path;
  }
  const auto r = wr::test::run_venv_python("tests/model/outliers_reference.py", args);
  if (!r.skip.empty()) return r.skip;
  if (r.code != 0) {
    ADD_FAILURE() << "outliers_reference.py failed:\n" << r.err;
    return "";
  }
  std::istringstream in(r.out);
  for (double v; in >> v;) out.push_back(v);
  return "";
}

TEST(Outliers, KurtosisMatchesScipy) {
  std::mt19937_64 gen(9);
  std::student_t_distribution<float> t3(3.0f);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> samples(3);
  for (int i = 0; i < 100000; ++i) samples[0].push_back(t3(gen));
  for (int i = 0; i < 1000; ++i) samples[1].push_back(normal(gen) + (i == 500 ? 80.0f : 0.0f));  // one outlier
  for (int i = 0; i < 7; ++i) samples[2].push_back(float(i * i));
  std::vector<double> ref;
  const std::string skip = scipy_kurtosis(samples, ref);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  ASSERT_EQ(ref.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto x = torch::from_blob(samples[i].data(), {static_cast<int64_t>(samples[i].size())}, torch::kFloat32);
    EXPECT_NEAR(wr::excess_kurtosis(x), ref[i], 1e-9 * std::max(1.0, std::fabs(ref[i]))) << "sample " << i;
  }
}

}  // namespace
