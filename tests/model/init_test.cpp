#include "model/init.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace {

// Big enough that a sample std is within ~1% of the true one (n >= 65536 elements per matrix).
wr::ModelConfig init_config() {
  wr::ModelConfig c;
  c.dim = 256;
  c.n_layers = 4;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.ffn_dim = 512;
  c.vocab_size = 1024;
  return c;
}

double sample_std(const torch::Tensor& w) { return w.to(torch::kFloat64).std().item<double>(); }

// The formulas, written out here independently of init.cpp.
double expected_std(const std::string& scheme, const std::string& name, double sigma, int64_t n_layers) {
  if (name.find("embed_tokens") != std::string::npos || name.find("lm_head") != std::string::npos) return sigma;
  auto pos = name.find("layers.");
  int64_t l = std::stoll(name.substr(pos + 7)) + 1;  // 1-based
  bool residual_out = name.find("o_proj") != std::string::npos || name.find("down_proj") != std::string::npos;
  if (scheme == "lir") return sigma / std::sqrt(double(l));
  if (scheme == "gpt2" && residual_out) return sigma / std::sqrt(2.0 * n_layers);
  return sigma;
}

class InitSchemes : public ::testing::TestWithParam<std::pair<std::string, double>> {};

TEST_P(InitSchemes, EveryMatrixHasItsFormulaStd) {
  auto [scheme, sigma] = GetParam();
  auto c = init_config();
  wr::Llama m(c);
  wr::init_weights(m, {wr::init_scheme_from_name(scheme, "init.scheme"), sigma}, 1234);
  int checked = 0;
  for (const auto& p : m->named_parameters()) {
    const auto& name = p.key();
    if (name.find("norm") != std::string::npos) {
      EXPECT_TRUE(torch::all(p.value() == 1).item<bool>()) << name;
      continue;
    }
    double want = expected_std(scheme, name, sigma, c.n_layers);
    // 4.5 standard errors of the sample std (sigma/sqrt(2n)) and of the sample mean (sigma/sqrt(n))
    const double n = static_cast<double>(p.value().numel());
    EXPECT_NEAR(sample_std(p.value()) / want, 1.0, 4.5 / std::sqrt(2 * n)) << name;
    EXPECT_NEAR(p.value().to(torch::kFloat64).mean().item<double>() / want, 0.0, 4.5 / std::sqrt(n)) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 2 + wr::kMatricesPerLayer * c.n_layers);
}

INSTANTIATE_TEST_SUITE_P(Schemes, InitSchemes,
                         ::testing::Values(std::make_pair("normal", 0.02), std::make_pair("gpt2", 0.02),
                                           std::make_pair("lir", 0.006), std::make_pair("lir", 0.02)));

TEST(Init, LirLayerFourIsHalfOfLayerOne) {
  auto c = init_config();
  wr::Llama m(c);
  wr::init_weights(m, {wr::InitScheme::lir, 0.006}, 5);
  auto q1 = sample_std(m->layer(0).self_attn->q_proj->weight);
  auto q4 = sample_std(m->layer(3).self_attn->q_proj->weight);
  EXPECT_NEAR(q4 / q1, 0.5, 0.01);
}

TEST(Init, DeterministicBySeed) {
  auto c = init_config();
  wr::Llama a(c), b(c), d(c);
  wr::init_weights(a, {wr::InitScheme::lir, 0.006}, 42);
  wr::init_weights(b, {wr::InitScheme::lir, 0.006}, 42);
  wr::init_weights(d, {wr::InitScheme::lir, 0.006}, 43);
  EXPECT_TRUE(torch::equal(a->layer(2).mlp->up_proj->weight, b->layer(2).mlp->up_proj->weight));
  EXPECT_FALSE(torch::equal(a->layer(2).mlp->up_proj->weight, d->layer(2).mlp->up_proj->weight));
}

TEST(Init, UnknownSchemeIsAnError) {
  wr::Llama m(init_config());
  EXPECT_THROW(wr::init_scheme_from_name("xavier", "init.scheme"), wr::Error);
  EXPECT_THROW(wr::init_weights(m, {wr::InitScheme::lir, -1.0}, 1), wr::Error);
  EXPECT_THROW(wr::init_weights(m, wr::InitConfig{}, 1), wr::Error);  // no defaults: a std of 0 is refused
}

}  // namespace
