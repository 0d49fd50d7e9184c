#include "model/kernels/span_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "common/error.h"

namespace {

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

}  // namespace
