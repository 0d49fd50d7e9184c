// run.dtype bf16 on the CPU: LibTorch's CPU autocast over f32 master weights, the path GPU runs take. The guard's
// matmuls are bf16 (bitwise what bf16 inputs give), training the tiny model stays close to f32 yet measurably
// apart from it, and a stopped and resumed bf16 run is bitwise the uninterrupted one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "model/backend/torch_compat.h"
#include "model/io/native.h"
#include "model/io/state_dict.h"
#include "model/llama.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/train.h"
#include "trainer/train_config.h"

namespace {

using wr::test::quiet_options;
using wr::test::tiny_config;
constexpr auto series = wr::test::telemetry_series;

// The tiny model's config, its run directory unused.
wr::ModelConfig tiny_model() {
  return wr::train_config_from_json(tiny_config(wr::test::temp_dir() + "/model"), "tiny_config").model;
}

TEST(Bf16Cpu, AutocastMatmulsAreBf16OverF32Weights) {
  torch::manual_seed(0);
  const auto x = torch::randn({8, 64}), w = torch::randn({48, 64});
  const auto f32 = torch::nn::functional::linear(x, w);
  torch::Tensor mixed;
  {
    wr::Bf16Autocast autocast(torch::kCPU, true);
    mixed = torch::nn::functional::linear(x, w);
  }
  // Exactly a bf16 matmul of the rounded inputs, and not the f32 one.
  ASSERT_EQ(mixed.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(mixed, torch::nn::functional::linear(x.to(torch::kBFloat16), w.to(torch::kBFloat16))));
  EXPECT_GT((mixed.to(torch::kFloat32) - f32).abs().max().item<double>(), 1e-3);
  // Leaving the guard restores f32, and a disabled guard changes nothing.
  EXPECT_EQ(torch::nn::functional::linear(x, w).scalar_type(), torch::kFloat32);
  {
    wr::Bf16Autocast off(torch::kCPU, false);
    EXPECT_EQ(torch::nn::functional::linear(x, w).scalar_type(), torch::kFloat32);
  }

  // The model under the guard: bf16 logits from f32 parameters, which autocast leaves f32; also without autograd
  // (validation loss, activation telemetry), where the fused f32 kernels must not take autocast's bf16.
  wr::Llama model(tiny_model());
  const auto tokens = torch::randint(0, model->config.vocab_size, {2, 16}, torch::kInt64);
  {
    wr::Bf16Autocast autocast(torch::kCPU, true);
    EXPECT_EQ(model->forward(tokens).scalar_type(), torch::kBFloat16);
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->forward(tokens).scalar_type(), torch::kBFloat16);
  }
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

// The tiny model (2 layers, dim 32) for 12 steps at lr 1e-2 in f32 and in bf16, from the same initial weights on
// the same batches. Tolerance: bf16 keeps 8 significant bits, so every matmul input is rounded by up to 2^-9
// (0.2%) relative; the first loss hardly moves (the initial logits are near 0: 1e-6 relative), and twelve steps of
// AdamW at lr 1e-2 let the runs drift to a largest gap of 3.5e-4 relative (1.13; 4.5e-4 with 2.11). 3e-3 bounds
// that with room, and is far below the 46% the loss falls over these steps (5.77 to 3.12), so a bf16 run that
// trained wrongly fails.
// That bf16 really ran: an f32 run is bitwise reproducible (the resume tests rely on it), so every step's loss
// differing from f32's is the dtype's doing, and a largest gap above 1e-4 (1700 f32 unit roundoffs of 6e-8) is
// bf16's size, not f32's.
TEST(Bf16Cpu, TrainsCloseToF32AndMeasurablyApart) {
  const std::string dir = wr::test::temp_dir();
  wr::train(tiny_config(dir + "/f32"), quiet_options());
  auto bf16 = wr::train(tiny_config(dir + "/bf16", {"run.dtype=bf16"}), quiet_options());
  const auto a = series(dir + "/f32", "train", "loss"), b = series(dir + "/bf16", "train", "loss");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);
  double largest = 0;
  for (const auto& [step, loss] : a) {
    const double gap = std::abs(b.at(step) - loss) / loss;
    largest = std::max(largest, gap);
    EXPECT_LT(gap, 3e-3) << "step " << step << ": f32 " << loss << ", bf16 " << b.at(step);
    EXPECT_NE(b.at(step), loss) << "step " << step << ": bf16's loss is f32's";
  }
  EXPECT_GT(largest, 1e-4);
  EXPECT_LT(b.at(12), b.at(1) - 1) << "bf16 did not train";
  std::printf("bf16 vs f32 loss: largest relative gap %.2e; step 12 %.6f vs %.6f\n", largest, b.at(12), a.at(12));
  // The master weights stay f32 in the checkpoint.
  auto saved = wr::load_native(bf16.checkpoint);
  for (const auto& [name, t] : wr::state_dict(saved.model)) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
}

// As Train.ResumedRunIsBitwiseTheSame, in bf16: stop after step 5, resume to 12; the losses, the activation
// telemetry (run under autocast) and the validation losses (also) equal the uninterrupted run's bit for bit.
TEST(Bf16Cpu, ResumedRunIsBitwiseTheSame) {
  const std::string dir = wr::test::temp_dir();
  const std::vector<std::string> bf16 = {"run.dtype=bf16", "eval.interval=4", "eval.val_batches=2"};
  auto straight = wr::train(tiny_config(dir + "/straight", bf16), quiet_options());
  wr::TrainOptions stop_at_5 = quiet_options();
  stop_at_5.log = [](const std::string& line) {
    if (line.rfind("step      5/", 0) == 0) wr::request_stop();
  };
  auto first = wr::train(tiny_config(dir + "/resumed", bf16), stop_at_5);
  ASSERT_TRUE(first.interrupted);
  ASSERT_EQ(first.step, 5);
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  auto second = wr::train(tiny_config(dir + "/resumed", bf16), resume);
  EXPECT_EQ(second.step, 12);

  for (const auto& [name, stat, count] : {std::tuple<std::string, std::string, size_t>{"train", "loss", 12},
                                          {"layer.1", "act_max", 6},
                                          {"layer.2", "act_median", 6},
                                          {"val", "loss", 3}}) {
    const auto a = series(dir + "/straight", name, stat), b = series(dir + "/resumed", name, stat);
    ASSERT_EQ(a.size(), count) << name << "," << stat;
    ASSERT_EQ(b.size(), count) << name << "," << stat;
    for (const auto& [step, value] : a) EXPECT_EQ(value, b.at(step)) << name << "," << stat << " step " << step;
  }
  auto wa = wr::load_native(straight.checkpoint), wb = wr::load_native(second.checkpoint);
  const auto sa = wr::state_dict(wa.model), sb = wr::state_dict(wb.model);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
}

}  // namespace
