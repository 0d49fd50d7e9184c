#include "model/kernels/span_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "model/kernels/simd.h"

namespace wr {
namespace {

using simd::Floats;

// Queries per tile and keys per chunk: a tile's queries share their spans, so each chunk of keys loaded serves all
// of them, and a chunk of one query's scores is one vector (simd::Floats) across the head dimension.
constexpr int64_t kTile = 4;
constexpr int64_t kChunk = simd::kLanes;

// Scores of the tile's queries against keys [a, a + len) of one head, stored to w[qi * ld + o + j] a whole chunk
// at a time (up to kChunk - 1 floats past the span: the rows are padded, and the next span overwrites them); top[qi]
// is raised to the largest score of query qi's first seen[qi] keys (NaN scores are passed over).
// q: kTile scaled queries of hd (zeros past the tile's own); kt: [hd, ldk] keys transposed, readable up to kChunk
// past every key. HD: the head size as a constant for the common ones (0: hd).
template <int64_t HD>
WR_KERNEL_CLONES void tile_scores(const float* q, int64_t hd, const float* kt, int64_t ldk, int64_t a, int64_t len,
                                  const int64_t* seen, float* w, int64_t ld, int64_t o, float* top) {
  if (HD) hd = HD;
  Floats lanes_top[kTile];
  for (int64_t qi = 0; qi < kTile; ++qi) lanes_top[qi] = simd::splat(top[qi]);
  for (int64_t j0 = 0; j0 < len; j0 += kChunk) {
    Floats acc[kTile] = {};
    for (int64_t d = 0; d < hd; ++d) {
      const Floats k = simd::load(kt + d * ldk + a + j0);
      for (int64_t qi = 0; qi < kTile; ++qi) acc[qi] += q[qi * hd + d] * k;
    }
    for (int64_t qi = 0; qi < kTile; ++qi) {
      simd::store(w + qi * ld + o + j0, acc[qi]);
      lanes_top[qi] = (simd::first_lanes(seen[qi] - j0) & (acc[qi] > lanes_top[qi])) ? acc[qi] : lanes_top[qi];
    }
  }
  for (int64_t qi = 0; qi < kTile; ++qi) top[qi] = simd::hmax(lanes_top[qi]);
}

void tile_scores_any(const float* q, int64_t hd, const float* kt, int64_t ldk, int64_t a, int64_t len,
                     const int64_t* seen, float* w, int64_t ld, int64_t o, float* top) {
  if (hd == 8) return tile_scores<8>(q, hd, kt, ldk, a, len, seen, w, ld, o, top);
  if (hd == 64) return tile_scores<64>(q, hd, kt, ldk, a, len, seen, w, ld, o, top);
  if (hd == 128) return tile_scores<128>(q, hd, kt, ldk, a, len, seen, w, ld, o, top);
  tile_scores<0>(q, hd, kt, ldk, a, len, seen, w, ld, o, top);
}

// One query's weights in place: w[j] = 2^(w[j] - top) for j < n (scores in base-2 units), 0 from n to end (end - n
// < kTile; w readable to end + kChunk). Returns 1 / their sum.
WR_KERNEL_CLONES
float softmax_row(float* w, int64_t n, int64_t end, float top) {
  Floats sum = {};
  int64_t j = 0;
  for (; j + kChunk <= n; j += kChunk) {
    const Floats e = simd::exp2_nonpositive(simd::load(w + j) - top);
    simd::store(w + j, e);
    sum += e;
  }
  for (; j < end; j += kChunk) {  // the last keys and the zeros after them
    const Floats e = simd::first_lanes(n - j) ? simd::exp2_nonpositive(simd::load(w + j) - top) : Floats{};
    simd::store(w + j, e);
    sum += e;
  }
  return 1.0f / simd::hsum(sum);
}

// out[qi][d] += sum over keys [a, a + len) of w[qi * ld + o + j] * v[a + j][d], with v: [T, hd] values as they
// are, W dimensions at a time (W divides hd): each W-wide piece of a value row is loaded once for the tile and
// each query's sums stay in registers, two sets of them taking alternate keys (one set would make every step wait
// for the previous multiply-add into the same register: 4 cycles on Zen 4, where two can start each cycle).
template <int64_t W>
WR_KERNEL_CLONES void tile_values(const float* w, int64_t ld, int64_t o, int64_t nq, const float* v, int64_t hd,
                                  int64_t a, int64_t len, float* out) {
  for (int64_t d0 = 0; d0 < hd; d0 += W) {
    float even[kTile][W] = {}, odd[kTile][W] = {};
    int64_t j = 0;
    for (; j + 2 <= len; j += 2) {
      const float* vr = v + (a + j) * hd + d0;
      for (int64_t qi = 0; qi < kTile; ++qi) {
        const float w0 = w[qi * ld + o + j], w1 = w[qi * ld + o + j + 1];
        WR_SIMD
        for (int64_t dd = 0; dd < W; ++dd) even[qi][dd] += w0 * vr[dd];
        WR_SIMD
        for (int64_t dd = 0; dd < W; ++dd) odd[qi][dd] += w1 * vr[hd + dd];
      }
    }
    if (j < len) {
      const float* vr = v + (a + j) * hd + d0;
      for (int64_t qi = 0; qi < kTile; ++qi) {
        const float w0 = w[qi * ld + o + j];
        WR_SIMD
        for (int64_t dd = 0; dd < W; ++dd) even[qi][dd] += w0 * vr[dd];
      }
    }
    for (int64_t qi = 0; qi < nq; ++qi) {
      WR_SIMD
      for (int64_t dd = 0; dd < W; ++dd) out[qi * hd + d0 + dd] += even[qi][dd] + odd[qi][dd];
    }
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

// One head of one row. q, v, out: [T,hd]; kt: [hd,ldk] (keys transposed, so that the score loops run along keys,
// contiguous in memory, padded by kChunk); w: scratch for kTile rows of ld >= T + kChunk weights. Queries go in
// tiles of up to kTile consecutive ones with the same spans; a tile's keys are [0, p) then [f, its last query],
// and each row of w holds one query's weights for them in that order, zero after the query's own last key.
// Scores are in base-2 units (the queries carry log2(e)), so that the softmax's exponential is a power of two.
void attend_head(const float* q, const float* kt, const float* v, const int32_t* prefix, const int32_t* from,
                 int64_t T, int64_t ldk, int64_t hd, float scale, float* out, float* w, int64_t ld) {
  std::vector<float> scaled(kTile * hd, 0.0f);
  for (int64_t t0 = 0; t0 < T;) {
    const int64_t p = prefix[t0], f = from[t0];
    int64_t nq = 1;
    while (nq < kTile && t0 + nq < T && prefix[t0 + nq] == p && from[t0 + nq] == f) ++nq;
    const int64_t own = t0 + nq - f;  // the tile's last query sees keys [f, f + own)
    std::fill(scaled.begin() + nq * hd, scaled.end(), 0.0f);
    for (int64_t i = 0; i < nq * hd; ++i) scaled[i] = q[t0 * hd + i] * scale;
    float top[kTile];
    int64_t seen[kTile];
    for (int64_t qi = 0; qi < kTile; ++qi) {
      top[qi] = -std::numeric_limits<float>::infinity();
      seen[qi] = p;
    }
    tile_scores_any(scaled.data(), hd, kt, ldk, 0, p, seen, w, ld, 0, top);
    for (int64_t qi = 0; qi < kTile; ++qi) seen[qi] = qi < nq ? own - (nq - 1 - qi) : 0;
    tile_scores_any(scaled.data(), hd, kt, ldk, f, own, seen, w, ld, p, top);
    float inv[kTile];
    for (int64_t qi = 0; qi < nq; ++qi)
      inv[qi] = softmax_row(w + qi * ld, p + seen[qi], p + own, top[qi]);
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
  const float scale = static_cast<float>(M_LOG2E / std::sqrt(static_cast<double>(hd)));
  const float *q_p = qc.data_ptr<float>(), *kt_p = kt.data_ptr<float>(), *v_p = vc.data_ptr<float>();
  const int32_t *prefix_p = prefix.data_ptr<int32_t>(), *from_p = from.data_ptr<int32_t>();
  float* out_p = out.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> w(kTile * (T + kChunk));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, kv = b * Hkv + (bh % H) / (H / Hkv);
      attend_head(q_p + bh * T * hd, kt_p + kv * hd * ldk, v_p + kv * T * hd, prefix_p + b * T, from_p + b * T, T,
                  ldk, hd, scale, out_p + bh * T * hd, w.data(), T + kChunk);
    }
  });
  return out;
}

}  // namespace wr
