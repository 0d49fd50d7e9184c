#include "model/kernels/fused_cpu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {


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

}  // namespace
