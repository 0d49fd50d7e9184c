#include "model/span_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "model/simd.h"

namespace wr {
namespace {

// Queries per tile and keys per chunk: a tile's queries share their spans, so each key vector loaded serves all of
// them, and a chunk of one query's scores stays in a vector register across the head dimension (16 floats: one
// AVX-512 register, two AVX2 ones).
constexpr int64_t kTile = 4;
constexpr int64_t kChunk = 16;

// Scores of a tile's queries against keys [a, a + len) of one head, written to s[qi * ld + o + j]. q[qi]: the
// queries, scaled; kt: [hd, ldk] keys transposed, readable up to kChunk past every key (the padding).
WR_KERNEL_CLONES
void tile_scores(const float* const* q, int64_t nq, const float* kt, int64_t ldk, int64_t hd, int64_t a,
                 int64_t len, float* s, int64_t ld, int64_t o) {
  for (int64_t j0 = 0; j0 < len; j0 += kChunk) {
    float acc[kTile][kChunk] = {};
    for (int64_t d = 0; d < hd; ++d) {
      const float* k = kt + d * ldk + a + j0;
      for (int64_t qi = 0; qi < kTile; ++qi) {
        const float qd = qi < nq ? q[qi][d] : 0.0f;
        WR_SIMD
        for (int64_t jj = 0; jj < kChunk; ++jj) acc[qi][jj] += qd * k[jj];
      }
    }
    const int64_t m = std::min(kChunk, len - j0);
    for (int64_t qi = 0; qi < nq; ++qi)
      for (int64_t jj = 0; jj < m; ++jj) s[qi * ld + o + j0 + jj] = acc[qi][jj];
  }
}

// out[qi][d] += sum over keys [a, a + len) of w[qi * ld + o + j] * v[a + j][d], with v: [T, hd] values as they
// are, W dimensions at a time (W divides hd): each W-wide piece of a value row is loaded once for the tile and
// each query's sums stay in registers.
template <int64_t W>
WR_KERNEL_CLONES void tile_values(const float* w, int64_t ld, int64_t o, int64_t nq, const float* v, int64_t hd,
                                  int64_t a, int64_t len, float* out) {
  for (int64_t d0 = 0; d0 < hd; d0 += W) {
    float acc[kTile][W] = {};
    for (int64_t j = 0; j < len; ++j) {
      const float* vr = v + (a + j) * hd + d0;
      for (int64_t qi = 0; qi < kTile; ++qi) {
        const float wq = w[qi * ld + o + j];
        WR_SIMD
        for (int64_t dd = 0; dd < W; ++dd) acc[qi][dd] += wq * vr[dd];
      }
    }
    for (int64_t qi = 0; qi < nq; ++qi)
      for (int64_t dd = 0; dd < W; ++dd) out[qi * hd + d0 + dd] += acc[qi][dd];
  }
}

// tile_values with the widest W that divides the head size (LLaMA heads: 64 or 128; stories260K's: 8).
void tile_values_any(const float* w, int64_t ld, int64_t o, int64_t nq, const float* v, int64_t hd, int64_t a,
                     int64_t len, float* out) {
  if (hd % 16 == 0) return tile_values<16>(w, ld, o, nq, v, hd, a, len, out);
  if (hd % 8 == 0) return tile_values<8>(w, ld, o, nq, v, hd, a, len, out);
  if (hd % 4 == 0) return tile_values<4>(w, ld, o, nq, v, hd, a, len, out);
  tile_values<1>(w, ld, o, nq, v, hd, a, len, out);
}

// The largest and the sum of w[0, n), a chunk of lanes at a time (GCC keeps a plain max or sum loop scalar).
// The max skips NaN, which then reaches the sum through its exponential.
WR_KERNEL_CLONES
float row_max(const float* w, int64_t n) {
  float lanes[kChunk];
  std::fill(lanes, lanes + kChunk, -std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + kChunk <= n; j += kChunk)
    for (int64_t jj = 0; jj < kChunk; ++jj) lanes[jj] = w[j + jj] > lanes[jj] ? w[j + jj] : lanes[jj];
  for (; j < n; ++j) lanes[0] = w[j] > lanes[0] ? w[j] : lanes[0];
  return *std::max_element(lanes, lanes + kChunk);
}

WR_KERNEL_CLONES
float row_sum(const float* w, int64_t n) {
  float lanes[kChunk] = {};
  int64_t j = 0;
  for (; j + kChunk <= n; j += kChunk)
    for (int64_t jj = 0; jj < kChunk; ++jj) lanes[jj] += w[j + jj];
  for (; j < n; ++j) lanes[0] += w[j];
  float sum = 0;
  for (float x : lanes) sum += x;
  return sum;
}

// softmax in place over w[0, n), zeros from n to end. Returns 1 / the sum of the exponentials. Exponents below -87
// are raised to -87 (e^-87 = 1.6e-38): a weight that small is lost against the largest one's 1 anyway, and the
// vector expf takes a slow scalar path for results below float's normal range.
WR_KERNEL_CLONES
float softmax_row(float* w, int64_t n, int64_t end) {
  const float top = row_max(w, n);
  // (x < -87 ? -87 : x keeps a NaN; a loop of its own, as a select beside the call stops GCC vectorising)
  WR_SIMD
  for (int64_t j = 0; j < n; ++j) w[j] = w[j] - top < -87.0f ? -87.0f : w[j] - top;
  WR_SIMD
  for (int64_t j = 0; j < n; ++j) w[j] = expf(w[j]);
  std::fill(w + n, w + end, 0.0f);
  return 1.0f / row_sum(w, n);
}

// One head of one row. q, v, out: [T,hd]; kt: [hd,ldk] (keys transposed, so that the score loops run along keys,
// contiguous in memory, padded by kChunk); w: scratch for kTile rows of ld >= T weights. Queries go in tiles of up
// to kTile consecutive ones with the same spans; a tile's keys are [0, p) then [f, its last query], and each row
// of w holds one query's weights for them in that order, zero after the query's own last key.
void attend_head(const float* q, const float* kt, const float* v, const int32_t* prefix, const int32_t* from,
                 int64_t T, int64_t ldk, int64_t hd, float scale, float* out, float* w, int64_t ld) {
  std::vector<float> scaled(kTile * hd);
  for (int64_t t0 = 0; t0 < T;) {
    const int64_t p = prefix[t0], f = from[t0];
    int64_t nq = 1;
    while (nq < kTile && t0 + nq < T && prefix[t0 + nq] == p && from[t0 + nq] == f) ++nq;
    const int64_t own = t0 + nq - f;  // the tile's last query sees keys [f, f + own)
    const float* rows[kTile];
    for (int64_t qi = 0; qi < nq; ++qi) {
      for (int64_t d = 0; d < hd; ++d) scaled[qi * hd + d] = q[(t0 + qi) * hd + d] * scale;
      rows[qi] = scaled.data() + qi * hd;
    }
    tile_scores(rows, nq, kt, ldk, hd, 0, p, w, ld, 0);
    tile_scores(rows, nq, kt, ldk, hd, f, own, w, ld, p);
    float inv[kTile];
    for (int64_t qi = 0; qi < nq; ++qi)
      inv[qi] = softmax_row(w + qi * ld, p + own - (nq - 1 - qi), p + own);
    float* o = out + t0 * hd;
    std::fill(o, o + nq * hd, 0.0f);
    tile_values_any(w, ld, 0, nq, v, hd, 0, p, o);
    tile_values_any(w, ld, p, nq, v, hd, f, own, o);
    for (int64_t qi = 0; qi < nq; ++qi)
      for (int64_t d = 0; d < hd; ++d) o[qi * hd + d] *= inv[qi];
    t0 += nq;
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
  // keys transposed to [B,Hkv,hd,T], each row padded by kChunk zeros (the kernel reads whole chunks)
  const int64_t ldk = T + kChunk;
  auto kt = torch::zeros({B, Hkv, hd, ldk}, q.options());
  kt.narrow(3, 0, T).copy_(k.transpose(2, 3));
  const auto vc = v.contiguous();
  auto out = torch::empty({B, H, T, hd}, q.options());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float *q_p = qc.data_ptr<float>(), *kt_p = kt.data_ptr<float>(), *v_p = vc.data_ptr<float>();
  const int32_t *prefix_p = prefix.data_ptr<int32_t>(), *from_p = from.data_ptr<int32_t>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w(kTile * T);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, kv = b * Hkv + (bh % H) / (H / Hkv);
      attend_head(q_p + bh * T * hd, kt_p + kv * hd * ldk, v_p + kv * T * hd, prefix_p + b * T, from_p + b * T, T,
                  ldk, hd, scale, out_p + bh * T * hd, w.data(), T);
    }
  });
  return out;
}

}  // namespace wr
