// Model FLOPs and the machine's matmul rate, for tokens/s -> achieved FLOP/s -> MFU.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "model/config.h"

namespace wr {

// Training FLOPs per token: 6 per weight of every matmul (forward 2, backward 4; the embedding lookup is not
// a matmul) plus attention's 6 * 2 * n_layers * seq_len * dim for QK^T and AV (PaLM appendix B, causal
// masking not discounted, as everyone reports it).
inline double train_flops_per_token(const ModelConfig& c, int64_t seq_len) {
  const double matmul_weights = static_cast<double>(c.n_params() - c.vocab_size * c.dim * (c.tie_embeddings ? 0 : 1));
  return 6.0 * matmul_weights + 12.0 * static_cast<double>(c.n_layers * seq_len * c.dim);
}

// Best-of-reps TFLOP/s of an n x n x n matmul in dtype on device: the rate MFU is measured against on a CPU.
inline double matmul_tflops(const torch::Device& device, torch::ScalarType dtype = torch::kFloat32, int64_t n = 1024,
                            int reps = 5) {
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().device(device).dtype(dtype);
  auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts), c = torch::empty({n, n}, opts);
  auto sync = [&] {
    if (device.is_cuda()) c.cpu();  // waits for the queued kernels
  };
  torch::mm_out(c, a, b);  // warm-up
  sync();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    sync();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / best / 1e12;
}

}  // namespace wr
