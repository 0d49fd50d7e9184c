#include "model/llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "model/generate.h"
#include "model/kernels/fused_cpu.h"

#include "tests/model/model_fixtures.h"

namespace {

using wr::test::random_tokens;
using wr::test::tiny_config;
using wr::test::tiny_model;

TEST(Llama, HuggingFaceNamesAndParameterCount) {
  for (bool tied : {false, true}) {
    auto c = tiny_config(2, tied);
    wr::Llama m(c);
    std::vector<std::string> names;
    int64_t count = 0;
    for (const auto& p : m->named_parameters()) {
      names.push_back(p.key());
      count += p.value().numel();
    }
    EXPECT_EQ(names.front(), "model.embed_tokens.weight");
    EXPECT_EQ(names[1], "model.layers.0.input_layernorm.weight");
    EXPECT_EQ(names[2], "model.layers.0.self_attn.q_proj.weight");
    EXPECT_EQ(std::count(names.begin(), names.end(), "model.layers.1.mlp.down_proj.weight"), 1);
    EXPECT_EQ(std::count(names.begin(), names.end(), "lm_head.weight"), tied ? 0 : 1);
    EXPECT_EQ(count, c.n_params());
  }
}

// A reader's model (WeightInit::none) is the random one's modules with nothing drawn: the same names, shapes and
// module options, and after copying the random model's values in, the same logits.
TEST(Llama, UninitializedModelMatchesRandomOneOnceCopied) {
  for (bool tied : {false, true}) {
    auto c = tiny_config(2, tied);
    auto random = tiny_model(c);
    wr::Llama bare(c, wr::WeightInit::none);
    const auto from = random->named_parameters();
    auto to = bare->named_parameters();
    ASSERT_EQ(to.size(), from.size());
    torch::NoGradGuard no_grad;
    for (auto& p : to) {
      ASSERT_EQ(p.value().sizes(), from[p.key()].sizes()) << p.key();
      p.value().copy_(from[p.key()]);
    }
    EXPECT_EQ(bare->layer(0).self_attn->k_proj->options.in_features(), c.dim);
    EXPECT_EQ(bare->layer(0).mlp->down_proj->options.in_features(), c.ffn_dim);
    EXPECT_EQ(bare->model->embed_tokens->options.num_embeddings(), c.vocab_size);
    const auto tokens = random_tokens(2, 9, c.vocab_size);
    EXPECT_TRUE(torch::equal(bare->forward(tokens), random->forward(tokens)));
  }
}

TEST(Llama, RmsNormKnownAnswer) {
  wr::RMSNorm norm(2, 0.0);
  auto y = norm(torch::tensor({{3.0f, 4.0f}}));
  const float r = std::sqrt((9.0f + 16.0f) / 2.0f);
  EXPECT_FLOAT_EQ(y[0][0].item<float>(), 3.0f / r);
  EXPECT_FLOAT_EQ(y[0][1].item<float>(), 4.0f / r);
}

// The whole decoder: inference (fused passes, span kernel not involved) against the training path's operations.
TEST(Llama, FusedInferenceMatchesTrainingPath) {
  for (int64_t kv_heads : {4, 2}) {
    auto m = tiny_model(tiny_config(kv_heads));
    auto tokens = random_tokens(2, 12, 97);
    auto training = m->forward(tokens).detach();
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::allclose(m->forward(tokens), training, 1e-5, 1e-5)) << "kv heads " << kv_heads;
  }
}

TEST(Llama, KvCacheMatchesFullForward) {
  auto m = tiny_model(tiny_config());
  torch::NoGradGuard ng;
  auto tokens = random_tokens(2, 12, 97);
  auto full = m->forward(tokens);
  wr::KVCache cache;
  wr::ForwardArgs args;
  args.cache = &cache;
  std::vector<torch::Tensor> parts = {m->forward(tokens.slice(1, 0, 5), args)};  // prefill 5, then 3 + 1 x 4
  parts.push_back(m->forward(tokens.slice(1, 5, 8), args));
  for (int64_t t = 8; t < 12; ++t) parts.push_back(m->forward(tokens.slice(1, t, t + 1), args));
  EXPECT_EQ(cache.length(), 12);
  EXPECT_TRUE(torch::allclose(torch::cat(parts, 1), full, 1e-5, 1e-5));
}

// A model whose vocabulary is padded past its tokenizer's pieces: greedy decoding picks the largest logit among
// the first `vocab` ids, even where a padded row's logit is the largest of all.
TEST(Generate, PaddedVocabularyPicksOnlyTheTokenizersIds) {
  auto m = tiny_model(tiny_config());
  torch::NoGradGuard ng;
  const int64_t pieces = 90;
  m->lm_head->weight.slice(0, pieces) *= 50;  // padded rows with large logits: unrestricted argmax picks them
  wr::GenerateOptions opt;
  opt.max_new_tokens = 12;
  opt.use_cache = false;
  const std::vector<int64_t> prompt = {3, 14, 15, 92};
  int64_t padded_picks = 0;
  for (int64_t id : wr::generate_greedy(m, prompt, opt)) padded_picks += id >= pieces;
  ASSERT_GT(padded_picks, 0) << "the padded rows do not win: the test would not see the limit";

  opt.vocab = pieces;
  const auto ids = wr::generate_greedy(m, prompt, opt);
  ASSERT_EQ(ids.size(), 12u);
  std::vector<int64_t> seq = prompt;
  for (int64_t id : ids) {  // each id is the argmax of the first `pieces` logits of the sequence so far
    const auto logits = m->forward(torch::tensor(seq).unsqueeze(0)).select(1, -1).squeeze(0);
    EXPECT_EQ(id, logits.slice(0, 0, pieces).argmax().item<int64_t>());
    seq.push_back(id);
  }
  opt.use_cache = true;
  EXPECT_EQ(wr::generate_greedy(m, prompt, opt), ids);
}

TEST(Llama, OnlyRelativePositionsMatter) {
  // RoPE has no absolute component: shifting every position by a constant leaves the logits unchanged.
  auto m = tiny_model(tiny_config());
  torch::NoGradGuard ng;
  auto tokens = random_tokens(1, 10, 97);
  wr::ForwardArgs shifted;
  shifted.positions = torch::arange(7, 17, torch::kInt64).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(m->forward(tokens, shifted), m->forward(tokens), 1e-4, 1e-4));
  // ... but the positions are used: a different spacing changes them.
  wr::ForwardArgs spread;
  spread.positions = torch::arange(0, 20, 2, torch::kInt64).unsqueeze(0);
  EXPECT_FALSE(torch::allclose(m->forward(tokens, spread), m->forward(tokens), 1e-3, 1e-3));
}

TEST(Llama, SharedPrefixPackingMatchesSeparateRuns) {
  // One row [context | cont1 | cont2]: each continuation sees the context and itself, positions restart after the
  // context. This is how evaluation runs a document's context once. float32 on the CPU runs span_attention();
  // bfloat16 the mask built from the same spans.
  auto m = tiny_model(tiny_config());
  torch::NoGradGuard ng;
  auto ctx = random_tokens(1, 6, 97, 3), c1 = random_tokens(1, 4, 97, 4), c2 = random_tokens(1, 3, 97, 5);
  const int64_t C = 6, A = 4, B = 3, T = C + A + B;
  auto packed = torch::cat({ctx, c1, c2}, 1);
  auto pos = torch::cat({torch::arange(0, C + A), torch::arange(C, C + B)}).to(torch::kInt64).unsqueeze(0);
  std::vector<int32_t> prefix(T, 0), from(T, 0);
  for (int64_t t = C; t < T; ++t) {
    prefix[t] = C;
    from[t] = t < C + A ? C : C + A;
  }
  wr::ForwardArgs args;
  args.positions = pos;
  args.visible = {torch::tensor(prefix).view({1, T}), torch::tensor(from).view({1, T})};
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    m->to(dtype);
    const double tol = dtype == torch::kFloat32 ? 1e-5 : 5e-2;
    auto out = m->forward(packed, args).to(torch::kFloat32);
    auto ref1 = m->forward(torch::cat({ctx, c1}, 1)).to(torch::kFloat32);
    auto ref2 = m->forward(torch::cat({ctx, c2}, 1)).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(out.slice(1, 0, C + A), ref1, tol, tol)) << dtype;
    EXPECT_TRUE(torch::allclose(out.slice(1, C + A, T), ref2.slice(1, C, C + B), tol, tol)) << dtype;
  }
}

TEST(Llama, GroupedQueryAttentionEqualsMhaWithRepeatedKv) {
  auto gqa = tiny_model(tiny_config(/*n_kv_heads=*/2));
  auto mha = tiny_model(tiny_config(/*n_kv_heads=*/4));
  torch::NoGradGuard ng;
  auto src = gqa->named_parameters();
  for (auto& p : mha->named_parameters()) {
    auto w = src[p.key()];
    if (p.key().find("k_proj") != std::string::npos || p.key().find("v_proj") != std::string::npos) {
      // kv head j serves query heads 2j and 2j+1: repeat each head's rows twice, head by head
      const int64_t hd = gqa->config.head_dim();
      w = w.view({2, 1, hd, -1}).expand({2, 2, hd, w.size(1)}).reshape({4 * hd, -1});
    }
    p.value().copy_(w);
  }
  auto tokens = random_tokens(2, 9, 97);
  EXPECT_TRUE(torch::allclose(gqa->forward(tokens), mha->forward(tokens), 1e-5, 1e-5));
}

TEST(Llama, LayerMatricesAreTheSevenPerLayerLinears) {
  auto c = tiny_config();
  wr::Llama m(c);
  auto mats = wr::layer_matrices(m);
  ASSERT_EQ(mats.size(), 14u);
  EXPECT_EQ(mats[0].layer, 1);
  EXPECT_EQ(mats[0].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(mats[13].layer, 2);
  EXPECT_EQ(mats[13].name, "model.layers.1.mlp.down_proj.weight");
  EXPECT_TRUE(mats[13].weight.is_same(m->layer(1).mlp->down_proj->weight));
}

}  // namespace
