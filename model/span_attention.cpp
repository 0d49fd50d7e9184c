#include "model/span_attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"

// glibc's vector expf (libmvec), declared SIMD so that GCC's vectorised softmax loop calls _ZGVeN16v_expf /
// _ZGVdN8v_expf (16 or 8 keys per call) instead of expf once per key; glibc's header declares it so only under
// -ffast-math. Clang (the fuzzing build) does not use the declaration: plain expf there.
#if defined(__GNUC__) && !defined(__clang__)
extern "C" {
#pragma omp declare simd notinbranch
float expf(float) noexcept;
}
#define WR_SIMD_EXP _Pragma("omp simd reduction(+ : sum)")
#else
#define WR_SIMD_EXP
#endif

// One copy of the kernel per vector width, chosen when the program loads: AVX-512, AVX2 + FMA, or baseline x86-64.
#if defined(__x86_64__)
#define WR_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WR_KERNEL_CLONES
#endif

namespace wr {
namespace {

// One head of one row. q, out: [T,hd]; kt, vt: [hd,T] (keys and values transposed, so that every loop below
// runs along keys, contiguous in memory); w: scratch for T weights. Query t's visible keys are laid out in w as
// [0, p) then [f, t].
WR_KERNEL_CLONES
void attend_head(const float* q, const float* kt, const float* vt, const int32_t* prefix, const int32_t* from,
                 int64_t T, int64_t hd, float scale, float* out, float* w) {
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = prefix[t], f = from[t], own = t - f + 1, n = p + own;
    const float* qt = q + t * hd;
    float* w_own = w + p;
    for (int64_t j = 0; j < n; ++j) w[j] = 0;
    for (int64_t d = 0; d < hd; ++d) {
      const float qd = qt[d] * scale;
      const float* kd = kt + d * T;
#pragma omp simd
      for (int64_t j = 0; j < p; ++j) w[j] += qd * kd[j];
#pragma omp simd
      for (int64_t j = 0; j < own; ++j) w_own[j] += qd * kd[f + j];
    }
    float top = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : top)
    for (int64_t j = 0; j < n; ++j) top = std::max(top, w[j]);
    float sum = 0;
    WR_SIMD_EXP
    for (int64_t j = 0; j < n; ++j) {
      w[j] = expf(w[j] - top);
      sum += w[j];
    }
    const float inv = 1.0f / sum;
    for (int64_t d = 0; d < hd; ++d) {
      const float* vd = vt + d * T;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < p; ++j) acc += w[j] * vd[j];
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < own; ++j) acc += w_own[j] * vd[f + j];
      out[t * hd + d] = acc * inv;
    }
  }
}

void check_spans(const KeySpans& spans, int64_t B, int64_t T) {
  if (!spans.from.defined() || spans.prefix.sizes() != torch::IntArrayRef{B, T} ||
      spans.from.sizes() != torch::IntArrayRef{B, T})
    fail("key spans: expected prefix and from of shape [", B, ",", T, "], got ", spans.prefix.sizes(), " and ",
         spans.from.sizes());
  auto pa = spans.prefix.accessor<int32_t, 2>();
  auto fa = spans.from.accessor<int32_t, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      if (pa[b][t] < 0 || pa[b][t] > fa[b][t] || fa[b][t] > t)
        fail("key spans: row ", b, " query ", t, " has prefix ", pa[b][t], " and from ", fa[b][t],
             " (expected 0 <= prefix <= from <= query)");
}

}  // namespace

torch::Tensor spans_mask(const KeySpans& spans) {
  const int64_t T = spans.prefix.size(1);
  auto key = torch::arange(T, spans.prefix.options().dtype(torch::kInt32)).view({1, 1, T});
  auto query = key.view({1, T, 1});
  return (key < spans.prefix.unsqueeze(2)) | ((key >= spans.from.unsqueeze(2)) & (key <= query));
}

torch::Tensor span_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const KeySpans& spans) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), hd = q.size(3), Hkv = k.size(1);
  TORCH_CHECK(q.is_cpu() && q.scalar_type() == torch::kFloat32, "span_attention: float32 CPU tensors only");
  TORCH_CHECK(k.size(2) == T && H % Hkv == 0, "span_attention: keys must match the queries (no cache)");
  const auto prefix = spans.prefix.to(torch::kCPU, torch::kInt32).contiguous();
  const auto from = spans.from.to(torch::kCPU, torch::kInt32).contiguous();
  check_spans({prefix, from}, B, T);
  const auto qc = q.contiguous();
  const auto kt = k.transpose(2, 3).contiguous(), vt = v.transpose(2, 3).contiguous();  // [B,Hkv,hd,T]
  auto out = torch::empty({B, H, T, hd}, q.options());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float *q_p = qc.data_ptr<float>(), *kt_p = kt.data_ptr<float>(), *vt_p = vt.data_ptr<float>();
  const int32_t *prefix_p = prefix.data_ptr<int32_t>(), *from_p = from.data_ptr<int32_t>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w(T);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, kv = b * Hkv + (bh % H) / (H / Hkv);
      attend_head(q_p + bh * T * hd, kt_p + kv * hd * T, vt_p + kv * hd * T, prefix_p + b * T, from_p + b * T, T,
                  hd, scale, out_p + bh * T * hd, w.data());
    }
  });
  return out;
}

}  // namespace wr
