#include "model/llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "common/error.h"
#include "model/fused_cpu.h"
#include "model/weight_layout.h"

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

TEST(Llama, RmsNormKnownAnswer) {
  wr::RMSNorm norm(2, 0.0);
  auto y = norm(torch::tensor({{3.0f, 4.0f}}));
  const float r = std::sqrt((9.0f + 16.0f) / 2.0f);
  EXPECT_FLOAT_EQ(y[0][0].item<float>(), 3.0f / r);
  EXPECT_FLOAT_EQ(y[0][1].item<float>(), 4.0f / r);
}

// The fused CPU passes (inference) against the LibTorch operations they replace (training, other devices).
TEST(FusedCpu, PassesMatchLibTorchOperations) {
  torch::manual_seed(7);
  torch::NoGradGuard ng;
  auto x = torch::randn({3, 5, 24}) * 3;
  auto w = torch::randn({24});
  const double eps = 1e-5;
  auto norm_ref = w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + eps));
  EXPECT_TRUE(torch::allclose(wr::rms_norm_cpu(x, w, eps), norm_ref, 1e-5, 1e-5));

  const int64_t B = 2, T = 7, H = 3, hd = 8;
  auto heads = torch::randn({B, T, H, hd});
  auto angles = torch::randn({B, 1, T, hd / 2}) * 10;
  auto cos = torch::cat({angles, angles}, -1).cos(), sin = torch::cat({angles, angles}, -1).sin();
  auto xt = heads.transpose(1, 2);
  auto rotated = torch::cat({-xt.slice(-1, hd / 2), xt.slice(-1, 0, hd / 2)}, -1);
  auto rope = wr::rope_heads_cpu(heads, cos, sin);
  EXPECT_TRUE(rope.is_contiguous());
  EXPECT_TRUE(torch::allclose(rope, xt * cos + rotated * sin, 1e-5, 1e-6));
  auto cos0 = cos.slice(0, 0, 1), sin0 = sin.slice(0, 0, 1);  // one row of positions for both sequences
  EXPECT_TRUE(torch::allclose(wr::rope_heads_cpu(heads, cos0, sin0), xt * cos0 + rotated * sin0, 1e-5, 1e-6));

  // SiLU where e^-g leaves float's normal range on either side, and a NaN that must come through.
  auto gate = torch::cat({torch::randn({600}) * 4, torch::tensor({-120.0f, -88.5f, -87.5f, 0.0f, 87.5f, 88.5f, 120.0f})});
  auto up = torch::randn({gate.numel()});
  EXPECT_TRUE(torch::allclose(wr::silu_mul_cpu(gate, up), torch::silu(gate) * up, 1e-5, 1e-6));
  gate[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(wr::silu_mul_cpu(gate, up)[3].item<float>()));
}

TEST(FusedCpu, TokenLogprobsMatchLogSoftmaxAndArgmax) {
  torch::manual_seed(9);
  for (int64_t V : {5, 8, 517}) {
    auto logits = torch::randn({6, V}) * 5;
    logits[1].fill_(0.5);                         // all tied: the first index is the argmax
    logits[2][V - 1] = 40;                        // the last, past the whole vectors
    logits[3][0] = -std::numeric_limits<float>::infinity();
    logits[4][V / 2] = logits[4][V - 1] = 50;     // two largest: the first wins
    const auto rows = torch::tensor(std::vector<int64_t>{0, 1, 1, 2, 3, 4, 4, 5, 0});
    const auto tokens = torch::tensor(std::vector<int64_t>{1, 0, 2, V - 1, 0, V / 2, V - 1, 3, 0});
    const auto [lp, top] = wr::token_logprobs_cpu(logits, rows, tokens);
    const auto want = torch::log_softmax(logits, -1).index({rows, tokens}).to(torch::kFloat64);
    EXPECT_TRUE(torch::allclose(lp, want, 1e-6, 1e-6)) << "V " << V;
    EXPECT_TRUE(torch::equal(top, logits.argmax(-1).index_select(0, rows) == tokens)) << "V " << V;
    logits[5][V / 3] = std::numeric_limits<float>::quiet_NaN();  // a NaN logit: its row's log-probabilities are NaN
    const auto with_nan = wr::token_logprobs_cpu(logits, rows, tokens).first;
    EXPECT_TRUE(std::isnan(with_nan[7].item<double>()));
    EXPECT_TRUE(torch::equal(with_nan.slice(0, 0, 7), lp.slice(0, 0, 7)));
  }
  EXPECT_THROW(wr::token_logprobs_cpu(torch::zeros({2, 4}), torch::tensor({int64_t{2}}), torch::tensor({int64_t{0}})),
               c10::Error);
}

TEST(FusedCpu, AppliesToFloat32CpuInferenceOnly) {
  auto x = torch::ones({2, 4});
  EXPECT_FALSE(wr::fused_cpu_applies(x));  // grad mode on: training keeps LibTorch's operations (autograd)
  torch::NoGradGuard ng;
  EXPECT_TRUE(wr::fused_cpu_applies(x));
  EXPECT_FALSE(wr::fused_cpu_applies(x.to(torch::kBFloat16)));
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

// Scoring lays the projections out column-major for its length: the same values and outputs, and afterwards the
// same tensors (an optimiser holds them) contiguous again.
TEST(Llama, ColumnMajorProjectionsKeepValuesAndComeBack) {
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

// softmax(q k^T / sqrt(hd) + mask) v with LibTorch's own operations, kv heads repeated: the reference for the kernel.
torch::Tensor dense_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask) {
  const int64_t group = q.size(1) / k.size(1);
  auto kr = k.repeat_interleave(group, 1), vr = v.repeat_interleave(group, 1);
  auto scores = torch::matmul(q.to(torch::kFloat64), kr.to(torch::kFloat64).transpose(-2, -1)) / std::sqrt(q.size(-1));
  scores = scores.masked_fill(mask.logical_not().unsqueeze(1), -std::numeric_limits<double>::infinity());
  return torch::matmul(torch::softmax(scores, -1), vr.to(torch::kFloat64)).to(torch::kFloat32);
}

TEST(SpanAttention, MatchesMaskedSoftmaxOnRandomSpans) {
  // Rows of random segments (a context, then continuations of random lengths, then padding), head sizes from
  // stories260K's 8 to 128 and an odd one, with and without grouped kv heads, rows longer than a vector.
  torch::manual_seed(7);
  std::mt19937 rng(11);
  for (int64_t hd : {8, 12, 64, 128})
    for (int64_t kv_heads : {4, 2}) {
      const int64_t B = 3, H = 4, T = 150;
      std::vector<int32_t> prefix(B * T), from(B * T);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t C = 1 + rng() % 60, used = C + rng() % (T - C);
        int64_t start = C;
        for (int64_t t = 0; t < T; ++t) {
          if (t >= C && t < used && t >= start && rng() % 9 == 0) start = t;  // a new continuation begins at t
          prefix[b * T + t] = t < C ? 0 : t < used ? C : 0;
          from[b * T + t] = t < C ? 0 : t < used ? start : t;
        }
      }
      wr::KeySpans spans{torch::tensor(prefix).view({B, T}), torch::tensor(from).view({B, T})};
      auto q = torch::randn({B, H, T, hd}), k = torch::randn({B, kv_heads, T, hd}), v = torch::randn({B, kv_heads, T, hd});
      auto got = wr::span_attention(q, k, v, spans);
      auto want = dense_attention(q, k, v, wr::spans_mask(spans));
      EXPECT_LT((got - want).abs().max().item<float>(), 1e-5) << "head size " << hd << ", kv heads " << kv_heads;
    }
}

TEST(SpanAttention, CausalSpansEqualCausalAttention) {
  torch::manual_seed(3);
  const int64_t B = 2, H = 2, T = 40, hd = 16;
  auto q = torch::randn({B, H, T, hd}), k = torch::randn({B, H, T, hd}), v = torch::randn({B, H, T, hd});
  wr::KeySpans causal{torch::zeros({B, T}, torch::kInt32), torch::zeros({B, T}, torch::kInt32)};
  auto want = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)).div(4.0) +
                                               torch::full({T, T}, -INFINITY).triu(1), -1), v);
  EXPECT_LT((wr::span_attention(q, k, v, causal) - want).abs().max().item<float>(), 1e-5);
}

// Scores hundreds apart (most weights far below float's range, where the kernel's exponential stops at 2^-125) and
// a NaN key: the queries that see it give NaN, the others are untouched.
TEST(SpanAttention, ExtremeScoresAndNaN) {
  torch::manual_seed(5);
  const int64_t B = 1, H = 2, T = 40, hd = 8;
  auto q = torch::randn({B, H, T, hd}) * 30, k = torch::randn({B, H, T, hd}) * 30, v = torch::randn({B, H, T, hd});
  wr::KeySpans causal{torch::zeros({B, T}, torch::kInt32), torch::zeros({B, T}, torch::kInt32)};
  const auto want = dense_attention(q, k, v, wr::spans_mask(causal));
  const auto clean = wr::span_attention(q, k, v, causal);
  // (scores of about 1000 carry 1e-4 of float32 rounding, which the float64 reference has not)
  EXPECT_LT((clean - want).abs().max().item<float>(), 1e-4);
  k[0][1][20][3] = std::numeric_limits<float>::quiet_NaN();
  const auto got = wr::span_attention(q, k, v, causal);
  EXPECT_TRUE(torch::isnan(got[0][1].slice(0, 20)).all().item<bool>());
  EXPECT_TRUE(torch::equal(got[0][1].slice(0, 0, 20), clean[0][1].slice(0, 0, 20)));
  EXPECT_TRUE(torch::equal(got[0][0], clean[0][0]));
}

TEST(SpanAttention, SpansOutsideTheirQueryAreNamed) {
  auto x = torch::zeros({1, 1, 4, 8});
  auto spans = [](std::vector<int32_t> prefix, std::vector<int32_t> from) {
    return wr::KeySpans{torch::tensor(prefix).view({1, 4}), torch::tensor(from).view({1, 4})};
  };
  try {
    wr::span_attention(x, x, x, spans({0, 0, 0, 0}, {0, 0, 3, 0}));  // query 2 starts its span at key 3
    FAIL() << "no error";
  } catch (const wr::Error& e) {
    EXPECT_STREQ(e.what(), "key spans: row 0 query 2 has prefix 0 and from 3 (expected 0 <= prefix <= from <= query)");
  }
  EXPECT_THROW(wr::span_attention(x, x, x, spans({0, 2, 0, 0}, {0, 1, 0, 0})), wr::Error);  // prefix past from
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
