// wr's programs link LibTorch's CPU library only (CMakeLists.txt: wr_torch). A CUDA build's libtorch_cuda.so pulls in
// cuBLAS, cuDNN, NCCL and the rest at start-up: measured on the development machine (PyPI 2.11, no GPU), `wr-eval
// --help` took 449 MB of RSS and 1.4 s with it linked, 122 MB and 0.5 s without. Loading it registers its CUDA
// kernels and hooks with the dispatcher as linking would, so parse_device loads it when a run names cuda.
#include "model/backend/cuda_backend.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace wr {
namespace {

// The directory of the loaded libtorch_cpu.so (any version suffix), or "" if none is loaded.
std::string torch_cpu_directory() {
  std::string dir;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const char* path = info->dlpi_name;
        const char* slash = path ? std::strrchr(path, '/') : nullptr;
        if (!slash || std::strncmp(slash + 1, "libtorch_cpu.so", 15) != 0) return 0;
        static_cast<std::string*>(out)->assign(path, slash);
        return 1;
      },
      &dir);
  return dir;
}

}  // namespace

bool load_cuda_backend() {
  static const bool loaded = [] {
    const std::string dir = torch_cpu_directory();
    if (dir.empty()) return false;
    const std::string path = dir + "/libtorch_cuda.so";
    if (access(path.c_str(), F_OK) != 0) return false;
    // GLOBAL: c10_cuda and the kernels it registers are found by later lookups, as for a linked library.
    if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) fail("cannot load LibTorch's CUDA library ", path, ": ", dlerror());
    return true;
  }();
  return loaded;
}

}  // namespace wr
