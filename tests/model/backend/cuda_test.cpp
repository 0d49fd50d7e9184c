// CUDA forward/backward against the CPU, where LibTorch has CUDA and a GPU is present (skipped otherwise).
#include <gtest/gtest.h>

#include "tests/model/model_fixtures.h"

namespace {

TEST(Cuda, ForwardAndBackwardMatchCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (this LibTorch or machine has none)";
  auto cfg = wr::test::tiny_config();
  auto cpu = wr::test::tiny_model(cfg);
  auto gpu = wr::test::tiny_model(cfg);
  gpu->to(torch::kCUDA);
  auto tokens = wr::test::random_tokens(2, 16, cfg.vocab_size);
  auto loss_cpu = cpu->forward(tokens).logsumexp(-1).mean();
  auto loss_gpu = gpu->forward(tokens.to(torch::kCUDA)).logsumexp(-1).mean();
  loss_cpu.backward();
  loss_gpu.backward();
  EXPECT_NEAR(loss_gpu.item<double>(), loss_cpu.item<double>(), 1e-4);
  auto g_cpu = cpu->layer(0).self_attn->q_proj->weight.grad();
  auto g_gpu = gpu->layer(0).self_attn->q_proj->weight.grad().cpu();
  EXPECT_TRUE(torch::allclose(g_gpu, g_cpu, 1e-3, 1e-4));
}

TEST(Cuda, Bfloat16LogitsCloseToF32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (this LibTorch or machine has none)";
  auto cfg = wr::test::tiny_config();
  auto cpu = wr::test::tiny_model(cfg);
  auto gpu = wr::test::tiny_model(cfg);
  gpu->to(torch::kCUDA, torch::kBFloat16);
  torch::NoGradGuard ng;
  auto tokens = wr::test::random_tokens(2, 16, cfg.vocab_size);
  auto ref = torch::log_softmax(cpu->forward(tokens), -1);
  auto got = torch::log_softmax(gpu->forward(tokens.to(torch::kCUDA)).to(torch::kFloat32), -1).cpu();
  EXPECT_LT((got - ref).abs().max().item<double>(), 0.25);
}

}  // namespace
