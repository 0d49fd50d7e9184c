// bench-gemm: the BLAS this process loaded, its fp32 GEMM rate at a few sizes, and a projection's rate (x W^T, as
// the model computes it) with W row-major (the checkpoint's layout) and column-major (W^T contiguous: Debian's BLIS
// ran the transposed operand of a short inner dimension 1.4-2x slower, which once made scoring lay the projections
// out so; OpenBLAS and MKL run both alike) for stories260K's and a 41.7M-parameter model's shapes, 2048 rows.
// Usage: bench-gemm [--threads N]   (scoring runs each batch on one thread: --threads 1 is its case)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/blas_info.h"
#include "common/allocator.h"
#include "common/cli.h"
#include "model/flops.h"
#include "model/backend/torch_compat.h"

namespace {

// Best-of-rounds GFLOP/s of linear(x, w), each round about 0.1 s.
double linear_gflops(const torch::Tensor& x, const torch::Tensor& w) {
  const double flops = 2.0 * x.size(0) * x.size(1) * w.size(0);
  const int reps = std::max(1, static_cast<int>(1e10 / 100 / flops));
  auto y = torch::nn::functional::linear(x, w);  // warm-up
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) y = torch::nn::functional::linear(x, w);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  return flops / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  wr::keep_freed_memory();  // as wr-eval: outputs reuse freed memory instead of fresh pages
  const std::vector<wr::Option> options = {{"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"}};
  try {
    auto args = wr::Args::parse(options, argc, argv);
    int threads = wr::set_threads(args.get_int("--threads"));
    std::printf("torch %s, %d threads\nBLAS: %s\n\n", wr::torch_version().c_str(), threads,
                wr::bench::loaded_blas().c_str());
    std::printf("%8s %12s\n", "n", "GFLOP/s");
    for (int64_t n : {256, 512, 1024, 2048}) std::printf("%8ld %12.1f\n", static_cast<long>(n), wr::matmul_tflops(torch::kCPU, torch::kFloat32, n) * 1e3);

    torch::NoGradGuard no_grad;
    std::printf("\nprojection x W^T, x [2048, in], W [out, in]: GFLOP/s\n%6s %6s %12s %14s\n", "in", "out", "row-major",
                "column-major");
    const int64_t shapes[][2] = {{64, 64}, {64, 172}, {172, 64}, {512, 512}, {512, 1376}, {1376, 512}};
    for (const auto& s : shapes) {
      const auto x = torch::randn({2048, s[0]}), w = torch::randn({s[1], s[0]});
      const auto column_major = w.t().contiguous().t();
      std::printf("%6ld %6ld %12.1f %14.1f\n", static_cast<long>(s[0]), static_cast<long>(s[1]), linear_gflops(x, w),
                  linear_gflops(x, column_major));
    }

    // lm_head over a Llama 3 vocabulary, a block of scored positions at a time (model/token_scorer.cpp): each
    // block's product reads the whole [vocab, dim] matrix, so the block's rows set how far that is amortized.
    std::printf("\nlm_head block x W^T, x [rows, dim], W [128256, dim]: GFLOP/s by rows\n%6s", "dim");
    const int64_t block_rows[] = {128, 256, 384, 512, 1024};
    for (int64_t rows : block_rows) std::printf(" %8ld", static_cast<long>(rows));
    std::printf("\n");
    for (int64_t dim : {576, 2048}) {
      const auto w = torch::randn({128256, dim});
      std::printf("%6ld", static_cast<long>(dim));
      for (int64_t rows : block_rows) std::printf(" %8.1f", linear_gflops(torch::randn({rows, dim}), w));
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-gemm: error: " << e.what() << "\n";
    return 1;
  }
}
