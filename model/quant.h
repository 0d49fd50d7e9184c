// Simulated quantization: weights and linear layers' inputs rounded to a low-precision grid and back to float32
// (quantize-dequantize), so that scoring measures what a quantized deployment loses in accuracy. It does not
// measure speed: every product still runs in float32. Weights are rounded once, into a copy of the model; inputs
// are rounded in the forward pass (ForwardArgs::linear_input). The schemes, exactly (rhe: round half to even):
//   w8      weights int8, one scale per output row: s = max|w_row| / 127, q = rhe(w / s) in [-127, 127], w' = q s
//   w4g128  weights int4 in groups of 128 consecutive input columns (the last group of a row holds the
//           remainder), asymmetric as GPTQ/AWQ store them: s = (max - min) / 15, z = rhe(-min / s),
//           q = clamp(rhe(w / s) + z, 0, 15), w' = (q - z) s; a constant group is kept exactly (z is not clamped:
//           a group of one sign gets a z outside 0..15 and still spans its min and max)
//   w8a8    w8, and every quantized linear layer's input per token: s = max|x_token| / 127, x' = rhe(x / s) s
//   a8t     w8, and inputs with one static scale per linear layer: s = max|x| / 127 over a calibration set,
//           x' = clamp(rhe(x / s), -127, 127) s
//   fp8     weights per output row and inputs per token: s = amax / 448, x' = e4m3(x / s) s, where e4m3 is the
//           nearest float8 e4m3fn value (ties to the even mantissa), saturating at +-448
// A row, group or token of zeros stays zeros (s = 0). Each value's arithmetic (scale, division, rounding,
// product) is float64, then rounded once to float32. NaN or Inf in a weight is an error naming the weight;
// in an input it propagates (the scorer then reports non-finite log-likelihoods).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"
#include "model/tokenizer/tokenizer.h"

namespace wr {

enum class WeightQuant { kNone, kInt8Rows, kInt4Groups, kFp8Rows };
enum class InputQuant { kNone, kInt8Tokens, kInt8Static, kFp8Tokens };

struct QuantScheme {
  std::string name;  // "w8", "w4g128", "w8a8", "a8t", "fp8"
  WeightQuant weights = WeightQuant::kNone;
  InputQuant inputs = InputQuant::kNone;
};

// The schemes' names, in the order above.
const std::vector<std::string>& quant_scheme_names();
// "w8,fp8" -> the schemes; an unknown name (with the closest known one) or a name given twice is an error.
std::vector<QuantScheme> parse_quant_list(const std::string& list);

// The quantizers, pure functions of float32 tensors (any shape; "rows" and "tokens" are vectors along the last
// dimension), returning float32 of the same shape.
torch::Tensor quantize_int8_rows(const torch::Tensor& x);
torch::Tensor quantize_int4_groups(const torch::Tensor& w, int64_t group = 128);
torch::Tensor quantize_fp8_rows(const torch::Tensor& x);
torch::Tensor quantize_int8_static(const torch::Tensor& x, double scale);  // scale = max|x| / 127 of calibration
// The float8 e4m3fn value nearest v (ties to the even mantissa), saturated to [-448, 448]; NaN stays NaN.
double round_e4m3(double v);
// A weight matrix [out, in] rounded by q; fails naming `name` and the first NaN or Inf element.
torch::Tensor quantize_weight(const torch::Tensor& w, WeightQuant q, const std::string& name);

// The linear layers a scheme rounds: the seven of every decoder layer, and lm_head with `head` (--quant-scope
// all; where the model ties lm_head to the embeddings, the one matrix serves both and is rounded for both).
// A copy of the model whose rounded layers hold quantize_weight()'s values; every other tensor is shared.
Llama quantized_copy(Llama& model, WeightQuant q, bool head);

// Static input ranges for a8t: max|x| of each linear layer's input over the calibration windows, keyed by
// (layer, input); lm_head's at layer -1.
using InputRanges = std::map<std::pair<int64_t, LinearInput>, double>;
InputRanges calibrate_input_ranges(Llama& model, const std::vector<std::vector<int64_t>>& windows);
// The calibration set: the first `count` windows of up to `length` tokens (max_seq_len at most) of `text`,
// consecutive pieces of its tokens, each with BOS first when `bos` (as scoring's contexts start).
std::vector<std::vector<int64_t>> calibration_windows(const Tokenizer& tok, const std::string& text, bool bos,
                                                      int64_t max_seq_len, int64_t count = 64, int64_t length = 512);

// What a scheme does to the linear layers' inputs, as a ForwardArgs::linear_input; empty for a weight-only
// scheme. ranges: calibrate_input_ranges' (a8t only; a layer without one is an error).
LinearInputFn input_quantizer(const QuantScheme& scheme, bool head, const InputRanges* ranges = nullptr);

}  // namespace wr
