#include "model/quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/cli.h"
#include "common/error.h"

namespace wr {
namespace {

const std::vector<QuantScheme>& schemes() {
  static const std::vector<QuantScheme> all = {
      {"w8", WeightQuant::kInt8Rows, InputQuant::kNone},
      {"w4g128", WeightQuant::kInt4Groups, InputQuant::kNone},
      {"w8a8", WeightQuant::kInt8Rows, InputQuant::kInt8Tokens},
      {"a8t", WeightQuant::kInt8Rows, InputQuant::kInt8Static},
      {"fp8", WeightQuant::kFp8Rows, InputQuant::kFp8Tokens},
  };
  return all;
}

// Round half to even for |x| < 2^52 (every division here: int8's is clamped first, int4's |w| / s is at most
// 15 x 2^24 for float32 weights, e4m3's at most 2^4): adding and taking away 2^52 leaves the integer the default
// rounding mode gives, the same as std::rint, without its library call (the build targets baseline x86-64).
inline double rhe(double x) {
  constexpr double kTwo52 = 4503599627370496.0;
  return std::copysign((std::fabs(x) + kTwo52) - kTwo52, x);
}

// 2^k for the exponents here (normal doubles), from its bits.
inline double pow2(int k) {
  const uint64_t bits = static_cast<uint64_t>(1023 + k) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// The float32 CPU tensor x's vectors along its last dimension, each through f(in, out, n) into a new tensor.
template <typename F>
torch::Tensor map_rows(const torch::Tensor& x, const char* what, F f) {
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat32)
    fail(what, ": expects a float32 CPU tensor, got ", x.scalar_type(), " on ", x.device());
  const auto in = x.contiguous();
  auto out = torch::empty_like(in);
  if (in.numel() == 0) return out;
  const int64_t n = in.dim() == 0 ? 1 : in.size(-1);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t r = 0; r < in.numel() / n; ++r) f(src + r * n, dst + r * n, n);
  return out;
}

// max|v| over n values; NaN is passed over (it stays NaN where it is), Inf gives an infinite scale.
double max_abs(const float* v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(v[i])));
  return m;
}

// Symmetric int8 with scale s > 0: clamp(rhe(v / s), -127, 127) s.
void int8_with_scale(const float* in, float* out, int64_t n, double s) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(std::clamp(rhe(std::clamp(in[i] / s, -128.0, 128.0)), -127.0, 127.0) * s);
}

// Asymmetric int4 of one group; a constant group (max == min) is kept as it is.
void int4_group(const float* in, float* out, int64_t n) {
  double lo = in[0], hi = in[0];
  for (int64_t i = 1; i < n; ++i) lo = std::min<double>(lo, in[i]), hi = std::max<double>(hi, in[i]);
  if (!(hi > lo)) {
    std::copy(in, in + n, out);
    return;
  }
  const double s = (hi - lo) / 15, z = rhe(-lo / s);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>((std::clamp(rhe(in[i] / s) + z, 0.0, 15.0) - z) * s);
}

const char* input_name(LinearInput which) {
  switch (which) {
    case LinearInput::kQKV: return "q/k/v";
    case LinearInput::kO: return "o_proj";
    case LinearInput::kGateUp: return "gate/up";
    case LinearInput::kDown: return "down_proj";
    case LinearInput::kHead: return "lm_head";
  }
  return "?";
}

}  // namespace

const std::vector<std::string>& quant_scheme_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& s : schemes()) out.push_back(s.name);
    return out;
  }();
  return names;
}

std::vector<QuantScheme> parse_quant_list(const std::string& list) {
  std::vector<QuantScheme> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    start = end + 1;
    const auto it = std::find_if(schemes().begin(), schemes().end(), [&](const QuantScheme& s) { return s.name == name; });
    if (it == schemes().end()) {
      const std::string near = closest(name, quant_scheme_names());
      fail("--quant: unknown scheme '", name, "'", near.empty() ? "" : " (did you mean " + near + "?)", "; known: w8, "
           "w4g128, w8a8, a8t, fp8");
    }
    for (const auto& s : out)
      if (s.name == name) fail("--quant names ", name, " twice");
    out.push_back(*it);
  }
  return out;
}

double round_e4m3(double v) {
  if (std::isnan(v)) return v;
  const double a = std::fabs(v);
  double r = 448;  // the largest finite e4m3fn value; beyond it, saturate
  if (a < 448) {
    // The binade [2^e, 2^(e+1)) holds 8 values 2^(e-3) apart; below 2^-6 (the smallest normal) the subnormals
    // are multiples of 2^-9, the step of e = -6. e from the double's exponent bits (a zero's or a subnormal's: -6).
    uint64_t bits;
    std::memcpy(&bits, &a, sizeof bits);
    const int e = std::max(static_cast<int>(bits >> 52) - 1023, -6);
    // a 2^(3-e) is exact (a power of two); rhe: ties to the even multiple, the even mantissa
    r = std::min(448.0, rhe(a * pow2(3 - e)) * pow2(e - 3));
  }
  return std::copysign(r, v);
}

torch::Tensor quantize_int8_rows(const torch::Tensor& x) {
  return map_rows(x, "quantize_int8_rows", [](const float* in, float* out, int64_t n) {
    const double amax = max_abs(in, n);
    if (amax == 0) return void(std::copy(in, in + n, out));
    int8_with_scale(in, out, n, amax / 127);
  });
}

torch::Tensor quantize_int4_groups(const torch::Tensor& w, int64_t group) {
  if (group < 1) fail("quantize_int4_groups: group size ", group, " is not positive");
  return map_rows(w, "quantize_int4_groups", [group](const float* in, float* out, int64_t n) {
    for (int64_t g = 0; g < n; g += group) int4_group(in + g, out + g, std::min(group, n - g));
  });
}

torch::Tensor quantize_fp8_rows(const torch::Tensor& x) {
  return map_rows(x, "quantize_fp8_rows", [](const float* in, float* out, int64_t n) {
    const double amax = max_abs(in, n);
    if (amax == 0) return void(std::copy(in, in + n, out));
    const double s = amax / 448;
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(round_e4m3(in[i] / s) * s);
  });
}

torch::Tensor quantize_int8_static(const torch::Tensor& x, double scale) {
  if (!(scale >= 0) || std::isinf(scale)) fail("quantize_int8_static: scale ", scale, " is not a finite number >= 0");
  return map_rows(x, "quantize_int8_static", [scale](const float* in, float* out, int64_t n) {
    if (scale == 0) return void(std::fill(out, out + n, 0.0f));  // calibration saw only zeros
    int8_with_scale(in, out, n, scale);
  });
}

torch::Tensor quantize_weight(const torch::Tensor& w, WeightQuant q, const std::string& name) {
  if (w.dim() != 2) fail(name, ": expected a matrix [out, in] to quantize, got ", w.dim(), " dimensions");
  const auto wf = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto finite = torch::isfinite(wf);
  if (!finite.all().item<bool>()) {
    const int64_t at = torch::logical_not(finite).flatten().nonzero()[0].item<int64_t>();
    const float v = wf.flatten()[at].item<float>();
    fail(name, ": element [", at / wf.size(1), ", ", at % wf.size(1), "] is ", v, "; a NaN or Inf weight cannot be "
         "quantized (is the checkpoint damaged?)");
  }
  switch (q) {
    case WeightQuant::kNone: return wf.clone();
    case WeightQuant::kInt8Rows: return quantize_int8_rows(wf);
    case WeightQuant::kInt4Groups: return quantize_int4_groups(wf, 128);
    case WeightQuant::kFp8Rows: return quantize_fp8_rows(wf);
  }
  fail(name, ": unknown weight quantization");
}

Llama quantized_copy(Llama& model, WeightQuant q, bool head) {
  torch::NoGradGuard no_grad;
  Llama copy(model->config, WeightInit::none);
  copy->eval();
  // Every tensor shared with the model, then the rounded ones replaced by their own.
  const auto source = model->named_parameters();
  for (auto& p : copy->named_parameters()) p.value().set_data(source[p.key()]);
  for (auto& buffer : copy->named_buffers()) buffer.value().set_data(model->named_buffers()[buffer.key()]);
  std::vector<std::pair<std::string, torch::Tensor>> rounded;
  for (const auto& m : layer_matrices(copy)) rounded.emplace_back(m.name, m.weight);
  if (head) rounded.emplace_back(model->config.tie_embeddings ? "model.embed_tokens.weight" : "lm_head.weight",
                                 copy->output_weight());
  for (auto& [name, weight] : rounded) {
    const auto values = quantize_weight(weight, q, name).to(weight.device(), weight.scalar_type());
    weight.set_data(values);
  }
  return copy;
}

InputRanges calibrate_input_ranges(Llama& model, const std::vector<std::vector<int64_t>>& windows) {
  torch::NoGradGuard no_grad;
  if (windows.empty()) fail("calibration: no windows of tokens");
  for (const auto& w : windows)
    if (w.empty()) fail("calibration: an empty window of tokens");
  InputRanges ranges;
  const LinearInputFn record = [&ranges](const torch::Tensor& x, int64_t layer, LinearInput which) {
    double& m = ranges[{layer, which}];
    m = std::max(m, x.abs().max().item<double>());
    return x;
  };
  const auto device = model->output_weight().device();
  ForwardArgs args;
  args.linear_input = &record;
  // Windows of one length run together, a few per forward pass (a larger product for the BLAS).
  constexpr size_t kPerPass = 8;
  for (size_t i = 0; i < windows.size();) {
    std::vector<torch::Tensor> batch;
    for (; i < windows.size() && batch.size() < kPerPass && windows[i].size() == windows[i - batch.size()].size(); ++i)
      batch.push_back(torch::tensor(windows[i], torch::kInt64));
    record(model->hidden(torch::stack(batch).to(device), args), -1, LinearInput::kHead);
  }
  for (const auto& [key, m] : ranges)
    if (!std::isfinite(m))
      fail("calibration: layer ", key.first, "'s ", input_name(key.second), " input reached ", m,
           " (NaN or Inf activations)");
  return ranges;
}

std::vector<std::vector<int64_t>> calibration_windows(const Tokenizer& tok, const std::string& text, bool bos,
                                                      int64_t max_seq_len, int64_t count, int64_t length) {
  length = std::min(length, max_seq_len);
  const int64_t body = length - (bos ? 1 : 0);  // text tokens per window
  if (body < 1) fail("calibration: windows of ", length, " tokens leave no room for text");
  // Encodes a prefix of the text that holds enough tokens (at least 8 bytes per wanted token, cut after a line
  // end), doubling it while it falls short, rather than all of a large file.
  const size_t wanted = static_cast<size_t>(count * body);
  std::vector<int> ids;
  for (size_t bytes = wanted * 8;; bytes *= 2) {
    size_t cut = text.size();
    if (bytes < text.size()) {
      const size_t nl = text.rfind('\n', bytes);
      cut = nl == std::string::npos || nl == 0 ? bytes : nl + 1;
    }
    ids = tok.encode(text.substr(0, cut));
    if (ids.size() >= wanted || cut == text.size()) break;
  }
  if (ids.empty()) fail("calibration: the text has no tokens");
  std::vector<std::vector<int64_t>> windows;
  for (size_t start = 0; start < ids.size() && static_cast<int64_t>(windows.size()) < count; start += body) {
    std::vector<int64_t> w;
    if (bos) w.push_back(tok.bos_id());
    w.insert(w.end(), ids.begin() + start, ids.begin() + std::min(ids.size(), start + body));
    windows.push_back(std::move(w));
  }
  return windows;
}

LinearInputFn input_quantizer(const QuantScheme& scheme, bool head, const InputRanges* ranges) {
  if (scheme.inputs == InputQuant::kNone) return {};
  std::map<std::pair<int64_t, LinearInput>, double> scales;
  if (scheme.inputs == InputQuant::kInt8Static) {
    if (!ranges) fail(scheme.name, ": static input scales need a calibration set (--quant-calibration FILE)");
    for (const auto& [key, m] : *ranges) scales[key] = m / 127;
  }
  return [kind = scheme.inputs, name = scheme.name, head, scales](const torch::Tensor& x, int64_t layer,
                                                                  LinearInput which) -> torch::Tensor {
    if (which == LinearInput::kHead && !head) return x;
    const auto xf = x.is_cpu() && x.scalar_type() == torch::kFloat32 ? x : x.to(torch::kCPU, torch::kFloat32);
    torch::Tensor y;
    if (kind == InputQuant::kInt8Tokens) {
      y = quantize_int8_rows(xf);
    } else if (kind == InputQuant::kFp8Tokens) {
      y = quantize_fp8_rows(xf);
    } else {
      const auto it = scales.find({layer, which});
      if (it == scales.end())
        fail(name, ": no calibrated scale for layer ", layer, "'s ", input_name(which), " input");
      y = quantize_int8_static(xf, it->second);
    }
    return y.to(x.device(), x.scalar_type());
  };
}

}  // namespace wr
