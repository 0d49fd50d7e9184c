// bench-gemm: the BLAS this process loaded and its fp32 GEMM rate at a few sizes.
// Usage: bench-gemm [--threads N]
#include <cstdio>
#include <iostream>

#include "bench/blas_info.h"
#include "common/cli.h"
#include "model/flops.h"
#include "model/torch_compat.h"

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {{"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"}};
  try {
    auto args = wr::Args::parse(options, argc, argv);
    int threads = wr::set_threads(args.get_int("--threads"));
    std::printf("torch %s, %d threads\nBLAS: %s\n\n", wr::torch_version().c_str(), threads,
                wr::bench::loaded_blas().c_str());
    std::printf("%8s %12s\n", "n", "GFLOP/s");
    for (int64_t n : {256, 512, 1024, 2048}) std::printf("%8ld %12.1f\n", static_cast<long>(n), wr::matmul_tflops(torch::kCPU, torch::kFloat32, n) * 1e3);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-gemm: error: " << e.what() << "\n";
    return 1;
  }
}
