#include "model/kernels/weight_layout.h"

#include <gtest/gtest.h>

#include "model/llama.h"
#include "tests/model/model_fixtures.h"

namespace {

using wr::test::random_tokens;
using wr::test::tiny_config;
using wr::test::tiny_model;

// Scoring lays the projections out column-major for its length: the same values and outputs, and afterwards the
// same tensors (an optimiser holds them) contiguous again.
TEST(WeightLayout, ColumnMajorProjectionsKeepValuesAndComeBack) {
  auto m = tiny_model(tiny_config(2));
  auto tokens = random_tokens(2, 12, 97);
  torch::NoGradGuard ng;
  const auto before = m->forward(tokens);
  std::vector<torch::Tensor> weights, values;
  std::vector<void*> storage;
  for (const auto& w : wr::layer_matrices(m)) {
    weights.push_back(w.weight);
    values.push_back(w.weight.clone());
    storage.push_back(w.weight.data_ptr());
  }
  {
    const wr::ColumnMajorProjections layout(m);
    for (size_t i = 0; i < weights.size(); ++i) {
      EXPECT_TRUE(weights[i].t().is_contiguous()) << i;
      EXPECT_TRUE(torch::equal(weights[i], values[i])) << i;
      EXPECT_EQ(weights[i].data_ptr(), storage[i]) << i;  // rewritten in place: no new allocation per weight
    }
    EXPECT_TRUE(torch::allclose(m->forward(tokens), before, 1e-5, 1e-5));
  }
  {  // an inner dimension of 256 or more is left row-major (the BLAS is as fast either way there)
    auto c = tiny_config(2);
    c.dim = 256;
    auto wide = tiny_model(c);
    const wr::ColumnMajorProjections layout(wide);
    for (const auto& w : wr::layer_matrices(wide))
      EXPECT_EQ(w.weight.is_contiguous(), w.kind != "down_proj") << w.name;  // down_proj's inner: ffn_dim 48
  }
  const auto after = wr::layer_matrices(m);
  for (size_t i = 0; i < weights.size(); ++i) {
    EXPECT_TRUE(after[i].weight.is_same(weights[i])) << i;
    EXPECT_TRUE(weights[i].is_contiguous()) << i;
    EXPECT_EQ(weights[i].data_ptr(), storage[i]) << i;
    EXPECT_TRUE(torch::equal(weights[i], values[i])) << i;
  }
}

}  // namespace
