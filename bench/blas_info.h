// What BLAS the process actually loaded and how fast fp32 GEMM runs on it; every benchmark prints both
// so its numbers can be read against the machine's matmul rate.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>

namespace wr::bench {

// Shared objects in this process whose path names a BLAS (libblas, BLIS, OpenBLAS, MKL).
inline std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find("blas") != std::string::npos || path.find("blis") != std::string::npos ||
        path.find("mkl") != std::string::npos)
      libs.insert(path);
  }
  std::string out;
  for (const auto& l : libs) out += (out.empty() ? "" : ", ") + l;
  return out.empty() ? "none found in /proc/self/maps" : out;
}

// Best-of-reps fp32 GFLOP/s of an n x n x n matmul on the CPU.
inline double gemm_gflops(int64_t n, int reps = 5) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  torch::mm_out(c, a, b);  // warm-up
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / best / 1e9;
}

}  // namespace wr::bench
