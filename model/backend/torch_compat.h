// The one place where LibTorch versions differ (Debian's 1.13 CPU build vs 2.x with CUDA).
// Everything else in wr calls these functions instead of testing TORCH_VERSION_* itself.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "model/backend/cuda_backend.h"

#define WR_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace wr {

// The additive form of a bool attention mask [B,T,S] (true where query t may see key s): [B,1,T,S] of 0 and -inf
// in dtype. Built once per forward pass and added to every layer's scores.
inline torch::Tensor attention_bias(const torch::Tensor& mask, torch::ScalarType dtype) {
  return torch::zeros(mask.sizes(), mask.options().dtype(dtype))
      .masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity())
      .unsqueeze(1);
}

// Softmax attention over q [B,H,T,hd], k and v [B,H,S,hd] (same head count). bias: attention_bias(), or undefined.
// causal applies only without a bias and means key j <= query i (T == S).
inline torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& bias, bool causal) {
#if WR_TORCH_AT_LEAST(2, 0)
  if (bias.defined()) return at::scaled_dot_product_attention(q, k, v, bias.to(q.scalar_type()));
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
#else
  // A few rows at a time, so that each [rows,H,T,S] block of scores stays in cache: the mask and softmax passes
  // over one block for the whole batch cost as much as the two matmuls. Measured with BLIS on the 2-core
  // development machine, 8 heads of 64: 1.8x faster attention at T=256..512, the same at T=128.
  const int64_t row_bytes = q.size(1) * q.size(2) * k.size(2) * static_cast<int64_t>(sizeof(float));
  const int64_t rows = std::max<int64_t>(1, (int64_t{4} << 20) / row_bytes);
  if (q.size(0) > rows) {
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < q.size(0); b += rows) {
      auto part = [&](const torch::Tensor& t) { return t.size(0) == 1 ? t : t.slice(0, b, b + rows); };
      parts.push_back(attention(part(q), part(k), part(v), bias.defined() ? part(bias) : bias, causal));
    }
    return torch::cat(parts, 0);
  }
  // In place where possible: every pass over the scores is memory-bound.
  auto scores = torch::matmul(q, k.transpose(-2, -1)).mul_(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  if (bias.defined()) {
    scores.add_(bias.to(scores.scalar_type()));
  } else if (causal) {
    auto hide = torch::ones({q.size(-2), k.size(-2)}, q.options().dtype(torch::kBool)).triu(1);
    scores.masked_fill_(hide, -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

inline std::string torch_version() { return TORCH_VERSION; }

// What this process's LibTorch brings for CUDA, for messages: "CUDA runtime 13.0", or "built without CUDA" (also
// where its CUDA library is present but was not loaded: load_cuda_backend first).
inline std::string cuda_runtime() {
  const auto& hooks = at::detail::getCUDAHooks();
  if (!hooks.hasCUDART()) return "built without CUDA";
  const long version = hooks.versionCUDART();  // 1000 * major + 10 * minor
  return "CUDA runtime " + std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// "cpu", "cuda" or "cuda:N", checked: anything else, or CUDA where this LibTorch sees no GPU, fails naming
// `what` (the option or config key the name came from). Naming cuda loads LibTorch's CUDA library.
inline torch::Device parse_device(const std::string& name, const std::string& what) {
  std::optional<torch::Device> device;
  try {
    device.emplace(name);
  } catch (const c10::Error&) {
  }
  if (!device || (!device->is_cpu() && !device->is_cuda())) fail(what, " expects cpu, cuda or cuda:N, got '", name, "'");
  if (device->is_cuda()) {
    load_cuda_backend();
    if (!torch::cuda::is_available())
      fail(what, " ", name, ": no CUDA device is visible to this LibTorch (", torch_version(), ", ", cuda_runtime(), ")");
  }
  return *device;
}

// LibTorch starts with one intra-op thread on some machines; wr uses all cores unless told otherwise, and never
// more than the cores this process may run on: OpenMP's, the BLAS's and LibTorch's spinning workers on oversubscribed
// cores slowed 5 documents from under 1 s to 33 s, so a larger request is capped with a warning.
// OpenBLAS's OpenMP build (the BLAS scripts/setup installs) and MKL (PyPI's) follow the OpenMP thread count that
// torch::set_num_threads sets, and run one thread each inside scoring's parallel batches.
inline int set_threads(long n) {
  cpu_set_t allowed;
  const long cores = sched_getaffinity(0, sizeof(allowed), &allowed) == 0
                         ? CPU_COUNT(&allowed)
                         : std::max(1L, static_cast<long>(std::thread::hardware_concurrency()));
  if (n <= 0) n = cores;
  if (n > cores) {
    std::fprintf(stderr, "wr: %ld threads asked for, but this process may use %ld cores: using %ld\n", n, cores, cores);
    n = cores;
  }
  torch::set_num_threads(static_cast<int>(n));
  return torch::get_num_threads();
}

// bf16 autocast on `device` (CPU or CUDA) for the guard's lifetime: matmuls and attention run in bf16 while the
// parameters (the optimizer's master copy) stay f32. Leaving clears autocast's cache of cast weights, which would
// be stale after a step. LibTorch 2.4 names the device in one call; 1.13 has a function pair per device.
class Bf16Autocast {
 public:
  Bf16Autocast(torch::DeviceType device, bool enabled) : device_(device), enabled_(enabled) {
    if (!enabled_) return;
    TORCH_CHECK(device_ == torch::kCPU || device_ == torch::kCUDA, "bf16 autocast is for the CPU or CUDA");
    set(true);
  }
  ~Bf16Autocast() {
    if (!enabled_) return;
    set(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  void set(bool on) const {
#if WR_TORCH_AT_LEAST(2, 4)
    if (on) at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::set_autocast_enabled(device_, on);
#else
    if (device_ == torch::kCPU) {
      if (on) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(on);
    } else {
      if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(on);
    }
#endif
  }

  torch::DeviceType device_;
  bool enabled_;
};

// Whether autocast is on for the CPU in this thread (a Bf16Autocast guard): wr's fused f32 kernels step aside
// then, as autocast's matmuls hand the step after them bf16.
inline bool cpu_autocast_enabled() {
#if WR_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

}  // namespace wr
