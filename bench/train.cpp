// bench-train: one training step (forward, loss, backward, clipping, AdamW) of a ~25M-parameter LLaMA on this
// machine, timed in C++ (wr's model and optimizer, in f32 and in bf16 autocast over f32 weights as run.dtype bf16
// trains) and in Python PyTorch (bench/train_step.py: the same model, shapes, threads and optimizer, f32) in one
// run. Prints tokens/s, achieved GFLOP/s as a fraction of a measured matmul of the step's dtype, and the C++/Python
// ratio.
// Usage: bench-train [--steps N] [--threads N] [--model configs/model/X.json] [--seq-len T] [--batch B]
#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/blas_info.h"
#include "common/allocator.h"
#include "common/cli.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/backend/torch_compat.h"
#include "trainer/optimizer.h"

namespace {

double cpp_tokens_per_s(const wr::ModelConfig& mc, int64_t seq, int64_t batch, int steps, bool bf16) {
  wr::Llama model(mc);
  wr::init_weights(model, {wr::InitScheme::lir, 0.02}, 1);
  const wr::TrainConfig tc = wr::default_train_config(mc);  // wr-train's AdamW settings
  auto opt = wr::make_optimizer(model, tc);
  auto data = torch::randint(0, mc.vocab_size, {batch, seq + 1}, torch::kInt64);
  auto inputs = data.slice(1, 0, seq), targets = data.slice(1, 1, seq + 1);
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss;
    {
      wr::Bf16Autocast autocast(torch::kCPU, bf16);  // as wr-train's step
      loss = wr::lm_loss(model, inputs, targets);
    }
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    opt.step();
  };
  step();  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return batch * seq * steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs bench/train_step.py; returns its tokens/s (0 when Python PyTorch is missing) and its version line.
double python_tokens_per_s(const std::string& python, const wr::ModelConfig& c, int64_t seq, int64_t batch, int threads,
                           int steps, std::string* version) {
  char cmd[1024];
  std::snprintf(cmd, sizeof(cmd), "%s %s/bench/train_step.py %ld %ld %ld %ld %ld %ld %ld %ld %d %d 2>&1", python.c_str(),
                WR_SOURCE_DIR, long(c.dim), long(c.n_layers), long(c.n_heads), long(c.n_kv_heads), long(c.ffn_dim),
                long(c.vocab_size), long(seq), long(batch), threads, steps);
  FILE* p = popen(cmd, "r");
  if (!p) return 0;
  char line[512];
  double tps = 0;
  while (std::fgets(line, sizeof(line), p)) {
    char ver[64];
    if (std::sscanf(line, "torch %63s tokens_per_s %lf", ver, &tps) == 2) *version = ver;
    else *version = line;
  }
  pclose(p);
  return tps;
}

}  // namespace

int main(int argc, char** argv) {
  wr::keep_freed_memory();
  const std::vector<wr::Option> options = {
      {"--steps", "N", "timed steps", "10", ""},
      {"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"},
      {"--model", "FILE", "model config", std::string(WR_SOURCE_DIR) + "/configs/model/cpu-25m.json", ""},
      {"--seq-len", "T", "tokens per sequence", "256", ""},
      {"--batch", "B", "sequences per step", "8", ""},
      {"--python", "EXE", "Python with torch (Debian's python3-torch)", "/usr/bin/python3", ""},
  };
  try {
    auto args = wr::Args::parse(options, argc, argv);
    const int threads = wr::set_threads(args.get_int("--threads"));
    const auto mc = wr::load_config_file(args.get("--model"));
    const int64_t seq = args.get_int("--seq-len"), batch = args.get_int("--batch");
    const int steps = static_cast<int>(args.get_int("--steps"));
    const double matmul = wr::matmul_tflops(torch::kCPU, torch::kFloat32, 2048) * 1e3;
    const double matmul_bf16 = wr::matmul_tflops(torch::kCPU, torch::kBFloat16, 2048) * 1e3;
    const double flops_per_token = wr::train_flops_per_token(mc, seq);
    std::printf("bench-train: LibTorch %s, %d threads, BLAS %s\n", wr::torch_version().c_str(), threads,
                wr::bench::loaded_blas().c_str());
    std::printf("matmul 2048^3: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s; model %.1fM parameters, %ld x %ld tokens a step, "
                "%.1f MFLOP/token\n\n", matmul, matmul_bf16, mc.n_params() / 1e6, long(batch), long(seq), flops_per_token / 1e6);
    const double cpp = cpp_tokens_per_s(mc, seq, batch, steps, false);
    const double cpp_bf16 = cpp_tokens_per_s(mc, seq, batch, steps, true);
    std::string py_version;
    const double py = python_tokens_per_s(args.get("--python"), mc, seq, batch, threads, steps, &py_version);
    std::printf("%-28s %12s %10s %12s\n", "implementation", "tokens/s", "GFLOP/s", "of matmul");
    std::printf("%-28s %12.0f %10.1f %11.0f%%\n", "wr (C++, LibTorch) f32", cpp, cpp * flops_per_token / 1e9,
                100 * cpp * flops_per_token / 1e9 / matmul);
    std::printf("%-28s %12.0f %10.1f %11.0f%%\n", "wr (C++, LibTorch) bf16", cpp_bf16, cpp_bf16 * flops_per_token / 1e9,
                100 * cpp_bf16 * flops_per_token / 1e9 / matmul_bf16);
    if (py > 0) {
      std::printf("%-28s %12.0f %10.1f %11.0f%%\n", ("PyTorch " + py_version + " (Python)").c_str(), py,
                  py * flops_per_token / 1e9, 100 * py * flops_per_token / 1e9 / matmul);
      std::printf("\nC++ / Python (f32): %.2fx\n", cpp / py);
    } else {
      std::printf("Python PyTorch step failed or missing (%s): no ratio\n", py_version.c_str());
    }
    std::printf("bf16 / f32 (C++): %.2fx\n", cpp_bf16 / cpp);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-train: error: %s\n", e.what());
    return 1;
  }
}
