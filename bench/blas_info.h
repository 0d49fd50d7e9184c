// What BLAS the process actually loaded; every benchmark prints it beside the measured matmul rate
// (trainer/flops.h) so its numbers can be read against the machine.
#pragma once
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

}  // namespace wr::bench
