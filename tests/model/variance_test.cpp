#include "model/variance.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "tests/model/model_fixtures.h"

namespace {

TEST(Tvr, HandComputedMatrix) {
  auto m = wr::test::tiny_model(wr::test::tiny_config());
  torch::NoGradGuard ng;
  // o_proj of layer 1 set to a matrix whose statistics are easy by hand: the values 1,2,3,4 repeated.
  auto& o = m->layer(0).self_attn->o_proj->weight;
  o.copy_(torch::arange(o.numel()).remainder(4).add(1).to(torch::kFloat32).view(o.sizes()));
  const double n = static_cast<double>(o.numel());
  const double mu = 2.5;
  const double sigma = std::sqrt(n * 1.25 / (n - 1));  // mean squared deviation of 1..4 is 1.25; Bessel-corrected
  auto before = o.clone();
  auto embed_before = m->model->embed_tokens->weight.clone();
  wr::TvrConfig tvr{0.5, 1.0, false};
  auto stats = wr::apply_tvr(m, tvr);
  const auto& s = stats[3];  // layer 1: q, k, v, o
  ASSERT_EQ(s.name, "model.layers.0.self_attn.o_proj.weight");
  EXPECT_NEAR(s.mean, mu, 1e-12);
  EXPECT_NEAR(s.std, sigma, 1e-9);
  EXPECT_TRUE(s.rescaled);
  // element by element: w' = mu + (0.5 / sigma)(w - mu)
  auto want = (before.to(torch::kFloat64) - mu) * (0.5 / sigma) + mu;
  EXPECT_TRUE(torch::allclose(o.to(torch::kFloat64), want, 1e-6, 1e-6));
  EXPECT_NEAR(o.to(torch::kFloat64).std().item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(o.to(torch::kFloat64).mean().item<double>(), mu, 1e-6);
  EXPECT_TRUE(torch::equal(m->model->embed_tokens->weight, embed_before));  // never rescaled
}

TEST(Tvr, ThresholdAndDepthScaling) {
  auto m = wr::test::tiny_model(wr::test::tiny_config());  // init std 0.2
  torch::NoGradGuard ng;
  // target 0.15: ratio ~1.33; threshold 1.5 leaves everything alone, 1.2 rescales everything
  auto q = m->layer(1).self_attn->q_proj->weight.clone();
  for (const auto& s : wr::apply_tvr(m, {0.15, 1.5, false})) EXPECT_FALSE(s.rescaled) << s.name;
  EXPECT_TRUE(torch::equal(m->layer(1).self_attn->q_proj->weight, q));
  for (const auto& s : wr::apply_tvr(m, {0.15, 1.2, false})) EXPECT_EQ(s.rescaled, s.target > 0) << s.name;
  // depth-scaled targets: layer 2's matrices end at 0.15 / sqrt(2)
  wr::apply_tvr(m, {0.15, 1.0, true});
  auto std2 = m->layer(1).mlp->up_proj->weight.to(torch::kFloat64).std().item<double>();
  EXPECT_NEAR(std2, 0.15 / std::sqrt(2.0), 1e-6);
  EXPECT_THROW(wr::apply_tvr(m, {0.0, 1.0, false}), wr::Error);
}

}  // namespace
