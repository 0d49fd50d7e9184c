// What BLAS the process actually loaded; every benchmark prints it beside the measured matmul rate
// (model/flops.h) so its numbers can be read against the machine.
#pragma once
#include <ATen/Version.h>

#include <fstream>
#include <set>
#include <string>

namespace wr::bench {

// Shared objects in this process whose path names a CPU BLAS (libblas, BLIS, OpenBLAS, MKL); else the BLAS
// LibTorch was built with, from its build settings (PyPI's links MKL statically).
inline std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> libs;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find("cublas") != std::string::npos) continue;  // the GPU's
    if (path.find("blas") != std::string::npos || path.find("blis") != std::string::npos ||
        path.find("mkl") != std::string::npos)
      libs.insert(path);
  }
  std::string out;
  for (const auto& l : libs) out += (out.empty() ? "" : ", ") + l;
  if (!out.empty()) return out;
  const std::string config = at::show_config();
  const auto at = config.find("BLAS_INFO=");
  if (at == std::string::npos) return "none found in /proc/self/maps or LibTorch's build settings";
  return config.substr(at + 10, config.find_first_of(", \n", at + 10) - at - 10) + " (linked into LibTorch)";
}

}  // namespace wr::bench
