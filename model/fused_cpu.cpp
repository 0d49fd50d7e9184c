#include "model/fused_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "model/simd.h"

namespace wr {
namespace {

// Rows per parallel task: enough values that a task outweighs its start (LibTorch's own grain is 32768).
int64_t grain_rows(int64_t row_size) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(row_size, 1)); }

WR_KERNEL_CLONES
void rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out) {
  float squares = 0;
  WR_SIMD_SUM(squares)
  for (int64_t i = 0; i < n; ++i) squares += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(squares / static_cast<float>(n) + eps);
  WR_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

WR_KERNEL_CLONES
void rope_row(const float* x, const float* cos, const float* sin, int64_t hd, float* out) {
  const int64_t half = hd / 2;
  WR_SIMD
  for (int64_t d = 0; d < half; ++d) out[d] = x[d] * cos[d] - x[d + half] * sin[d];
  WR_SIMD
  for (int64_t d = half; d < hd; ++d) out[d] = x[d] * cos[d] + x[d - half] * sin[d];
}

// silu(g) = g / (1 + e^-g). The exponent is held in [-87, 88]: beyond it e^-g is below float's normal range
// (where the vector expf takes a slow scalar path; 1 + it is 1 either way) or above its largest value. Three loops
// over a block in cache: GCC vectorises the expf call only in a loop of its own.
WR_KERNEL_CLONES
void silu_mul_span(const float* gate, const float* up, int64_t n, float* out) {
  constexpr int64_t kBlock = 256;
  float e[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = std::min(kBlock, n - i0);
    const float* g = gate + i0;
    WR_SIMD
    for (int64_t i = 0; i < m; ++i) e[i] = std::min(88.0f, std::max(-87.0f, -g[i]));
    WR_SIMD
    for (int64_t i = 0; i < m; ++i) e[i] = expf(e[i]);
    WR_SIMD
    for (int64_t i = 0; i < m; ++i) out[i0 + i] = g[i] / (1.0f + e[i]) * up[i0 + i];
  }
}

}  // namespace

bool fused_cpu_applies(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled();
}

torch::Tensor rms_norm_cpu(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const auto xc = x.contiguous();
  const auto wc = weight.contiguous();
  auto out = torch::empty_like(xc);
  const int64_t n = xc.size(-1), rows = xc.numel() / std::max<int64_t>(n, 1);
  const float *x_p = xc.data_ptr<float>(), *w_p = wc.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, rows, grain_rows(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) rms_norm_row(x_p + r * n, w_p, n, static_cast<float>(eps), out_p + r * n);
  });
  return out;
}

torch::Tensor rope_heads_cpu(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), hd = x.size(3);
  TORCH_CHECK((cos.size(0) == B || cos.size(0) == 1) && cos.sizes().slice(1) == torch::IntArrayRef({1, T, hd}) &&
                  sin.sizes() == cos.sizes() && hd % 2 == 0,
              "rope_heads_cpu: cos and sin must be [B,1,T,hd] or [1,1,T,hd] for x [B,T,H,hd] with hd even");
  const int64_t cos_rows = cos.size(0) == 1 ? 0 : T;  // one row of positions for every sequence: broadcast
  const auto xc = x.contiguous(), cc = cos.contiguous(), sc = sin.contiguous();
  auto out = torch::empty({B, H, T, hd}, xc.options());
  const float *x_p = xc.data_ptr<float>(), *c_p = cc.data_ptr<float>(), *s_p = sc.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, B * T, grain_rows(H * hd), [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const int64_t b = bt / T, t = bt % T;
      const int64_t at = (b * cos_rows + t) * hd;
      for (int64_t h = 0; h < H; ++h)
        rope_row(x_p + (bt * H + h) * hd, c_p + at, s_p + at, hd, out_p + ((b * H + h) * T + t) * hd);
    }
  });
  return out;
}

torch::Tensor silu_mul_cpu(const torch::Tensor& gate, const torch::Tensor& up) {
  TORCH_CHECK(gate.sizes() == up.sizes(), "silu_mul_cpu: gate and up must have one shape");
  const auto gc = gate.contiguous(), uc = up.contiguous();
  auto out = torch::empty_like(gc);
  const float *g_p = gc.data_ptr<float>(), *u_p = uc.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, gc.numel(), 32768, [&](int64_t begin, int64_t end) {
    silu_mul_span(g_p + begin, u_p + begin, end - begin, out_p + begin);
  });
  return out;
}

}  // namespace wr
