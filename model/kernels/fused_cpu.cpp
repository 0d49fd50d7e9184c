#include "model/kernels/fused_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "model/backend/torch_compat.h"
#include "model/kernels/simd.h"

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

// silu(g) * u = g * sigmoid(g) * u, the sigmoid from e = e^-|g| (at most 1: no overflow either side): 1 / (1 + e)
// for g >= 0, e / (1 + e) below. Past |g| = 86.6 e stops at 2^-125 (simd::exp2_nonpositive), where the result is
// below 1e-36 or the sigmoid 1 anyway. NaN stays NaN.
WR_VEC_INLINE simd::Floats silu_mul(simd::Floats g, simd::Floats u) {
  const simd::Floats magnitude = g < 0 ? -g : g;
  const simd::Floats e = simd::exp2_nonpositive(-magnitude * static_cast<float>(M_LOG2E));
  return g * ((g >= 0 ? simd::splat(1.0f) : e) / (1.0f + e)) * u;
}

WR_KERNEL_CLONES
void silu_mul_span(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + simd::kLanes <= n; i += simd::kLanes)
    simd::store(out + i, silu_mul(simd::load(gate + i), simd::load(up + i)));
  if (i == n) return;
  float o[simd::kLanes];
  simd::store(o, silu_mul(simd::load_tail(gate + i, n - i, 0.0f), simd::load_tail(up + i, n - i, 0.0f)));
  std::copy(o, o + (n - i), out + i);
}

// Of one row of logits: the largest (NaN passed over), its first index, and log(sum(e^(x - largest))) (NaN if a
// logit is NaN).
struct RowSoftmax {
  float top;
  int64_t argmax;
  double log_sum;
};

WR_KERNEL_CLONES
RowSoftmax row_softmax(const float* x, int64_t n) {
  const int64_t whole = n - n % simd::kLanes;
  const simd::Floats last = simd::load_tail(x + whole, n - whole, -std::numeric_limits<float>::infinity());
  auto chunk = [&](int64_t j) { return j < whole ? simd::load(x + j) : last; };

  simd::Floats top = simd::splat(-std::numeric_limits<float>::infinity());
  simd::Ints at = {}, index = simd::kLaneIndex;
  for (int64_t j = 0; j < n; j += simd::kLanes, index += simd::kLanes) {
    const simd::Floats v = chunk(j);
    const simd::Ints higher = v > top;  // strictly: a lane keeps its first index of the largest
    top = higher ? v : top;
    at = higher ? index : at;
  }
  RowSoftmax out{simd::hmax(top), n, 0.0f};
  for (int lane = 0; lane < simd::kLanes; ++lane)
    if (top[lane] == out.top && at[lane] < out.argmax) out.argmax = at[lane];
  // The sum in double: in float32 its 49152 terms (SmolLM2's vocabulary), most of them far below the running sum's
  // last bit, came out 1.6e-5 low (relative) on every row, a bias of 1.6e-5 in every token's log-probability and
  // the whole of wr's float32 error on SmolLM2 (tests/eval/smollm2_test.cpp, KernelPrecisionBreakdown).
  typedef double Doubles __attribute__((vector_size(4 * sizeof(double))));
  Doubles low = {}, high = {};
  const auto log2e = static_cast<float>(M_LOG2E);
  for (int64_t j = 0; j < n; j += simd::kLanes) {
    simd::Floats e = simd::exp2_nonpositive((chunk(j) - out.top) * log2e);
    e = simd::first_lanes(n - j) ? e : simd::Floats{};
    low += __builtin_convertvector(__builtin_shufflevector(e, e, 0, 1, 2, 3), Doubles);
    high += __builtin_convertvector(__builtin_shufflevector(e, e, 4, 5, 6, 7), Doubles);
  }
  low += high;
  out.log_sum = std::log((low[0] + low[2]) + (low[1] + low[3]));
  return out;
}

}  // namespace

bool fused_cpu_applies(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && !torch::GradMode::is_enabled() && !cpu_autocast_enabled();
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

std::pair<torch::Tensor, torch::Tensor> token_logprobs_cpu(const torch::Tensor& logits, const torch::Tensor& rows,
                                                           const torch::Tensor& tokens) {
  TORCH_CHECK(logits.dim() == 2 && rows.sizes() == tokens.sizes() && rows.dim() == 1,
              "token_logprobs_cpu: logits [n,V], rows and tokens [m]");
  const auto xc = logits.contiguous();
  const auto rc = rows.to(torch::kInt64).contiguous(), tc = tokens.to(torch::kInt64).contiguous();
  const int64_t n = xc.size(0), V = xc.size(1), m = rc.numel();
  const float* x = xc.data_ptr<float>();
  const int64_t *row = rc.data_ptr<int64_t>(), *token = tc.data_ptr<int64_t>();
  for (int64_t i = 0; i < m; ++i)
    TORCH_CHECK(row[i] >= 0 && row[i] < n && token[i] >= 0 && token[i] < V, "token_logprobs_cpu: pair ", i,
                " (row ", row[i], ", token ", token[i], ") outside logits of ", n, " x ", V);
  std::vector<RowSoftmax> softmax(n);
  at::parallel_for(0, n, grain_rows(V), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax[r] = row_softmax(x + r * V, V);
  });
  auto logprob = torch::empty({m}, torch::kFloat64);
  auto is_argmax = torch::empty({m}, torch::kBool);
  double* lp = logprob.data_ptr<double>();
  bool* top = is_argmax.data_ptr<bool>();
  for (int64_t i = 0; i < m; ++i) {
    const RowSoftmax& s = softmax[row[i]];
    lp[i] = x[row[i] * V + token[i]] - s.top - s.log_sum;
    top[i] = s.argmax == token[i];
  }
  return {logprob, is_argmax};
}

}  // namespace wr
